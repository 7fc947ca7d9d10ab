/*
 * The check that gates publication: every public model compared with its audit, an independent
 * query over the domain tables that the dbt project declares beside the model, row by row and
 * column by column, both ways. It is one statement, so that the check the deploying process runs
 * and the one a cluster runs as a Job with the Trino CLI are the same text and cannot drift apart.
 *
 * The statement returns lines of text. Exactly one line starting with "OK: " means the insights are
 * right, and that line is the readable summary; otherwise there is one line per model that differs.
 */

import { trinoLiteral } from "./trinoQuery";

/** A public model and the audit it must equal; read from the dbt project by lib/audits.ts. */
export interface ModelAudit {
    /** The model's name, which is also its table's name in a run and in the published schema. */
    model: string;
    /** The audit: a Trino query that reads domain tables only and returns the model's columns. */
    query: string;
    /** The columns that identify a row. */
    key: string[];
    /** The model's contract columns, in contract order. */
    columns: string[];
    /** Columns shown quoted in a failure, so that '' and NULL differ. */
    textColumns: string[];
    /** Money columns: the summary shows each one's total on both sides. */
    money: string[];
    /**
     * The keys whose audit rows a change to the sources may alter: a Trino query returning the key
     * columns, over the domain tables and each source's changed rows, written
     * `{{ changes('catalog.schema.table') }}`. Without it, every run of the model is checked in full.
     */
    affected?: string;
}

/** An incremental run, started from the published run: only the keys it may have changed are compared with their audits. */
export interface IncrementalScope {
    /** The schema analysts read, whose views point at the published run. */
    publishedSchema: string;
    /** The published run the new one started from. */
    baseRun: string;
    /** What the published insights held when their check last passed (insightsDigestStatement over the published schema). */
    recordedDigest: string;
}

/** The models to check, in which catalog and schema, against which audits. */
export interface CheckTargets {
    catalog: string;
    /** A run's schema, or the published schema whose views analysts read. */
    schema: string;
    audits: ModelAudit[];
    /** Set for an incremental run: the changes tables are in the run's schema beside its models. */
    incremental?: IncrementalScope;
}

/** The table, in a run's schema, that holds a source table's changed rows: its columns and `change_side` ('old' or 'new'). */
export function changesTableName(catalog: string, table: string): string {
    return `changes__${catalog}__${table}`;
}

const CHANGES_REFERENCE = /\{\{\s*changes\(\s*'(\w+)\.(\w+)\.(\w+)'\s*\)\s*\}\}/g;

/** The domain tables whose changes a query reads, as catalog.schema.table. */
export function changesReferences(sql: string): string[] {
    return [...sql.matchAll(CHANGES_REFERENCE)].map(m => `${m[1]}.${m[2]}.${m[3]}`);
}

/** The query with each `{{ changes('catalog.schema.table') }}` replaced by its changes table in the run's schema, or by the domain table itself (what the parser reads). */
export function resolveChanges(sql: string, run?: { catalog: string; schema: string }): string {
    return sql.replace(CHANGES_REFERENCE, (_, catalog: string, schema: string, table: string) =>
        run ? `${run.catalog}.${run.schema}.${changesTableName(catalog, table)}` : `${catalog}.${schema}.${table}`,
    );
}

/** How many differing keys a failure names per model. */
export const KEYS_SHOWN = 5;

/** A value for a message: NULL spelled out, text quoted so that '' and NULL differ. */
function shown(side: string, column: string, audit: ModelAudit): string {
    const text = `CAST(${side}.${column} AS varchar)`;
    return `coalesce(${audit.textColumns.includes(column) ? `'''' || ${text} || ''''` : text}, 'NULL')`;
}

function tableOf(t: CheckTargets, audit: ModelAudit): string {
    return `${t.catalog}.${t.schema}.${audit.model}`;
}

/** `k1=v1, k2=v2` for the message, NULL spelled out. */
function keyText(audit: ModelAudit, value: (column: string) => string): string {
    const parts = audit.key.map(column => `${trinoLiteral(`${column}=`)} || coalesce(CAST(${value(column)} AS varchar), 'NULL')`);
    return parts.join(` || ', ' || `);
}

/**
 * One pass over the built table joined with its audit on the key, both ways, reduced to one row:
 * the row counts and money totals of both sides for the summary, and the rows that differ: missing
 * (audited, not built), extra (built, not audited), keys built more than once, rows whose columns
 * differ, with what differs, and keys the audit itself repeats. IS DISTINCT FROM makes NULL equal
 * only to NULL; decimals compare by exact value.
 */
function comparison(audit: ModelAudit, actual: string, expected = `(\n${audit.query}\n) audit`): string {
    const nonKey = audit.columns.filter(column => !audit.key.includes(column));
    const columnDiffs = nonKey.map(
        column => `IF(a.${column} IS DISTINCT FROM e.${column}, format('%s %s, expected %s', ${trinoLiteral(column)}, ${shown("a", column, audit)}, ${shown("e", column, audit)}))`,
    );
    const list = audit.columns.join(", ");
    const partition = audit.key.join(", ");
    const keyOrder = audit.key.map((_, i) => `key_${i} NULLS FIRST`).join(", ");
    const different = audit.columns.map(column => `a.${column} IS DISTINCT FROM e.${column}`).join(" OR ");
    const joined = [
        `SELECT a.present AS built, e.present AS expected, a.key_rank AS built_rank, e.key_rank AS expected_rank,`,
        `  ${audit.key.map((column, i) => `coalesce(a.${column}, e.${column}) AS key_${i}`).join(", ")},`,
        `  ${keyText(audit, column => `coalesce(a.${column}, e.${column})`)} AS key_text,`,
        ...audit.money.map(column => `  a.${column} AS built_${column}, e.${column} AS expected_${column},`),
        `  CASE WHEN a.present IS NULL THEN 'missing' WHEN e.present IS NULL THEN 'extra' WHEN a.key_rank > 1 THEN 'duplicated' WHEN ${different} THEN 'different' END AS kind,`,
        `  CASE WHEN a.present IS NULL THEN 'not built' WHEN e.present IS NULL THEN 'not expected' WHEN a.key_rank > 1 THEN 'built more than once' ELSE ${
            columnDiffs.length > 0 ? `array_join(filter(ARRAY[${columnDiffs.join(", ")}], d -> d IS NOT NULL), ', ')` : "''"
        } END AS detail`,
        `FROM (SELECT true AS present, row_number() OVER (PARTITION BY ${partition}) AS key_rank, ${list} FROM ${actual}) a`,
        `FULL OUTER JOIN (SELECT true AS present, row_number() OVER (PARTITION BY ${partition}) AS key_rank, ${list} FROM ${expected}) e`,
        `  ON ${audit.key.map(column => `a.${column} = e.${column}`).join(" AND ")}`,
    ].join("\n  ");
    return [
        `SELECT count_if(built AND (expected_rank IS NULL OR expected_rank = 1)) AS built_rows, count_if(expected AND (built_rank IS NULL OR built_rank = 1)) AS expected_rows,`,
        ...audit.money.map(
            column =>
                `  coalesce(sum(built_${column}) FILTER (WHERE expected_rank IS NULL OR expected_rank = 1), 0) AS built_${column}, ` +
                `coalesce(sum(expected_${column}) FILTER (WHERE built_rank IS NULL OR built_rank = 1), 0) AS expected_${column},`,
        ),
        `  count_if(kind = 'missing' AND (expected_rank = 1)) AS missing, count_if(kind = 'extra') AS extra, count_if(kind = 'different' AND (expected_rank = 1)) AS different,`,
        // Each row past the first of a key, on the built side: what exceeds one row per key.
        `  count_if(kind = 'duplicated' AND expected_rank = 1) AS duplicated,`,
        `  slice(array_agg(format('%s %s: %s', key_text, kind, detail) ORDER BY ${keyOrder}) FILTER (WHERE kind IS NOT NULL AND (expected_rank IS NULL OR expected_rank = 1)), 1, ${KEYS_SHOWN}) AS first_keys,`,
        `  slice(array_agg(key_text ORDER BY ${keyOrder}) FILTER (WHERE expected_rank = 2 AND (built_rank IS NULL OR built_rank = 1)), 1, ${KEYS_SHOWN}) AS audit_repeats`,
        `FROM (`,
        `  ${joined}`,
        `) AS compared`,
    ].join("\n");
}

/** The lines naming what differs for one model, each NULL when it does not. */
function problemLines(table: string, audit: ModelAudit, side: string): string[] {
    const differing = `${side}.missing + ${side}.extra + ${side}.duplicated + ${side}.different`;
    return [
        `IF(${differing} > 0, format('%s: %s rows differ (%s missing, %s extra, %s duplicated, %s different); first keys: %s', ${trinoLiteral(table)}, ${differing}, ` +
            `${side}.missing, ${side}.extra, ${side}.duplicated, ${side}.different, coalesce(array_join(${side}.first_keys, '; '), '')))`,
        `IF(cardinality(${side}.audit_repeats) > 0, format('%s: its audit repeats a key (%s), so it proves nothing for that key; fix the audit: %s', ${trinoLiteral(table)}, ` +
            `${trinoLiteral(audit.key.join(", "))}, array_join(${side}.audit_repeats, '; ')))`,
    ];
}

/** One model's part of the summary: rows on both sides, and each money column's totals. */
function summaryPart(audit: ModelAudit, side: string): string {
    const pieces = [`${trinoLiteral(`${audit.model} `)} || CAST(${side}.built_rows AS varchar) || ' rows = audit ' || CAST(${side}.expected_rows AS varchar)`];
    for (const column of audit.money) {
        pieces.push(`${trinoLiteral(`, ${column} `)} || CAST(${side}.built_${column} AS varchar) || ' = audit ' || CAST(${side}.expected_${column} AS varchar)`);
    }
    return pieces.join(" || ");
}

/** The check as one statement over the given models; see the header for what it returns. */
export function checkStatement(t: CheckTargets): string {
    if (t.audits.length === 0) {
        throw new Error("the check has no model to compare: no public model has an audit");
    }
    return t.incremental ? incrementalCheckStatement(t, t.incremental) : fullCheckStatement(t);
}

function fullCheckStatement(t: CheckTargets): string {
    const sides = t.audits.map((_, i) => `m${i}`);
    const compared = t.audits.flatMap((audit, i) => [`${sides[i]}_compared AS (`, comparison(audit, tableOf(t, audit)), `),`]);
    const problems = t.audits.flatMap((audit, i) => problemLines(tableOf(t, audit), audit, sides[i]));
    return verdictStatement(compared, problems, `'OK: ' || ${t.audits.map((audit, i) => summaryPart(audit, sides[i])).join(" || '; ' || ")}`, sides.map(side => `${side}_compared ${side}`));
}

function verdictStatement(ctes: string[], problems: string[], summary: string, from: string[]): string {
    return [
        "WITH",
        ...ctes,
        // Each comparison is read once, in one row, so each model and its audit are scanned once.
        `verdict AS (`,
        `  SELECT filter(ARRAY[${problems.join(", ")}], line -> line IS NOT NULL) AS problems,`,
        `    ${summary} AS summary`,
        `  FROM ${from.join(" CROSS JOIN ")})`,
        `SELECT line FROM verdict CROSS JOIN UNNEST(IF(cardinality(problems) = 0, ARRAY[summary], problems)) WITH ORDINALITY AS lines (line, position)`,
        `ORDER BY position`,
        "",
    ].join("\n");
}

function keysJoin(audit: ModelAudit, left: string, right: string): string {
    return audit.key.map(column => `${left}.${column} = ${right}.${column}`).join(" AND ");
}

/**
 * The check of an incremental run. Its proof, per public model: the rows of every key the
 * sources' changes may alter (the audit's `affected` query) are compared with the audit in full;
 * every other row must be the published run's, which passed the check, and whose audit rows those
 * changes cannot alter. That the published insights are still what their last passing check saw
 * is proven by their digest, compared with the one it recorded.
 *
 * The rows outside the affected keys are compared as a whole, by count and checksum, in the same
 * scan of each side that reads the published digest; the audit is joined with the affected keys
 * alone, a set small enough for Trino to push into the domains' scans. A row outside them that
 * is not the published run's fails the run: either the run changed a row it should have kept, or
 * the affected query misses a key the changes alter.
 */
function incrementalCheckStatement(t: CheckTargets, scope: IncrementalScope): string {
    const unscoped = t.audits.filter(audit => !audit.affected).map(audit => audit.model);
    if (unscoped.length > 0) {
        throw new Error(`an incremental run needs every public model's audit to declare its affected keys; none is declared for ${unscoped.join(", ")}`);
    }
    const sides = t.audits.map((_, i) => `m${i}`);
    const published = (audit: ModelAudit) => `${t.catalog}.${scope.publishedSchema}.${audit.model}`;
    /** One scan of a side: its rows, the checksum of all of them, and the count and checksum of those outside the affected keys. */
    const outside = (audit: ModelAudit, side: string, table: string) => {
        const row = `ROW(${audit.columns.map(column => `r.${column}`).join(", ")})`;
        return [
            `  SELECT count(*) AS total, checksum(${row}) AS all_rows,`,
            `    count(*) FILTER (WHERE s.${audit.key[0]} IS NULL) AS kept_rows, checksum(${row}) FILTER (WHERE s.${audit.key[0]} IS NULL) AS kept`,
            `  FROM ${table} r LEFT JOIN ${side}_scope s ON ${keysJoin(audit, "r", "s")}),`,
        ];
    };
    const ctes = t.audits.flatMap((audit, i) => {
        const side = sides[i];
        const keys = audit.key.join(", ");
        return [
            `${side}_scope AS (`,
            `  SELECT DISTINCT ${keys} FROM (
${resolveChanges(audit.affected!, { catalog: t.catalog, schema: t.schema })}
) affected),`,
            `${side}_compared AS (`,
            comparison(
                audit,
                `(SELECT built.* FROM ${tableOf(t, audit)} built JOIN ${side}_scope s ON ${keysJoin(audit, "built", "s")})`,
                `(SELECT audit.* FROM (
${audit.query}
) audit JOIN ${side}_scope s ON ${keysJoin(audit, "audit", "s")})`,
            ),
            `),`,
            `${side}_built AS (`,
            ...outside(audit, side, tableOf(t, audit)),
            `${side}_published AS (`,
            ...outside(audit, side, published(audit)),
        ];
    });
    // The published digest, as insightsDigestStatement writes it, from the scans above.
    const digestNow = t.audits
        .map((audit, i) => digestPart(published(audit), `${sides[i]}_published.total`, `${sides[i]}_published.all_rows`))
        .join(" || '; ' || ");
    const problems = [
        `IF(${digestNow} <> ${trinoLiteral(scope.recordedDigest)}, format('the published insights (%s) are no longer what their last passing check saw, so the rows this run kept from them are not proven; run again with datamesh:rebuild=full', ${trinoLiteral(scope.baseRun)}))`,
        ...t.audits.flatMap((audit, i) => [
            `IF(${sides[i]}_built.kept_rows <> ${sides[i]}_published.kept_rows OR ${sides[i]}_built.kept IS DISTINCT FROM ${sides[i]}_published.kept, ` +
                `format('%s: the rows outside the keys its audit names as affected are not those of the published run %s (%s rows here, %s there): the run changed rows it should have kept, or the audit''s affected query misses keys the changes alter; run again with datamesh:rebuild=full to check every row', ` +
                `${trinoLiteral(tableOf(t, audit))}, ${trinoLiteral(scope.baseRun)}, ${sides[i]}_built.kept_rows, ${sides[i]}_published.kept_rows))`,
            ...problemLines(tableOf(t, audit), audit, sides[i]),
        ]),
    ];
    const part = (audit: ModelAudit, i: number) => {
        const side = sides[i];
        const pieces = [
            `${trinoLiteral(`${audit.model} `)} || CAST(${side}_built.total AS varchar) || ' rows: ' || CAST(${side}.built_rows AS varchar) || ' re-checked = audit ' || CAST(${side}.expected_rows AS varchar)`,
            ...audit.money.map(column => `${trinoLiteral(`, ${column} `)} || CAST(${side}.built_${column} AS varchar) || ' = audit ' || CAST(${side}.expected_${column} AS varchar)`),
            `', ' || CAST(${side}_built.kept_rows AS varchar) || ${trinoLiteral(` as in ${scope.baseRun}`)}`,
        ];
        return pieces.join(" || ");
    };
    const summary = `${trinoLiteral(`OK: incremental from ${scope.baseRun}: `)} || ${t.audits.map(part).join(" || '; ' || ")}`;
    return verdictStatement(ctes, problems, summary, [...sides.map(side => `${side}_compared ${side}`), ...sides.flatMap(side => [`${side}_built`, `${side}_published`])]);
}

/** One table's part of the insights' digest, from its row count and checksum: one format, whichever statement reads them. */
function digestPart(table: string, rows: string, checksum: string): string {
    return `format('%s %s rows %s', ${trinoLiteral(table)}, ${rows}, coalesce(to_hex(${checksum}), 'empty'))`;
}

/**
 * What the insights hold, as one line: each model's row count and an order-insensitive checksum
 * over every contract column. Equal lines mean equal contents: a deployment that finds both the
 * domains and the published insights as they were when the check last passed knows the check would
 * pass again, and runs the whole check only when either differs.
 */
export function insightsDigestStatement(t: CheckTargets): string {
    const part = (audit: ModelAudit) => {
        const table = tableOf(t, audit);
        return `(SELECT ${digestPart(table, "count(*)", `checksum(ROW(${audit.columns.join(", ")}))`)} FROM ${table})`;
    };
    return `SELECT ${t.audits.map(part).join(" || '; ' || ")}`;
}

export interface CheckVerdict {
    ok: boolean;
    /** The "OK: ..." line when the insights are right. */
    summary?: string;
    /** One line per model that differs, or what was wrong with the answer. */
    problems: string[];
}

/** Reads the statement's lines; the check Job's script applies the same rule in shell. */
export function checkVerdict(lines: string[]): CheckVerdict {
    if (lines.length === 1 && lines[0].startsWith("OK: ")) {
        return { ok: true, summary: lines[0], problems: [] };
    }
    return { ok: false, problems: lines.length > 0 ? lines : ["the check statement returned no line"] };
}
