/*
 * The statements of an incremental refresh: what each source table's rows changed since the
 * published run read them, and the ledger that remembers what that was.
 *
 * The ledger is a schema beside the runs (`<schema>__ledger`) that holds, for each source table,
 * its rows as the published run read them, over the columns dbt may read. An incremental run's
 * ledger takes the changes its plan found; a full run's is copied from the sources once the run is
 * published, and trusted only if it reads the same count and checksum as the fingerprint the run
 * was planned with. A run's plan compares each source with its ledger table on the primary key and
 * writes the changed rows into the run's schema (`changes__<catalog>__<table>`: the columns and
 * `change_side`, 'old' for the ledger's row and 'new' for the source's); the dbt project and the
 * gate read them from there. Only once the run is published does the ledger take the changes,
 * so a run that fails leaves it describing the published run. A state table in the ledger names
 * the run, the sources' fingerprint and what the published insights held when checked; a ledger
 * without it is not trusted, and the next run is a full one.
 */

import { changesTableName } from "./reconcile";
import { trinoLiteral } from "./trinoQuery";

/** A source table as the plan reads it: its Trino name, its primary key, and the columns dbt may read. */
export interface PlannedSource {
    catalog: string;
    schema: string;
    table: string;
    primaryKey: string;
    columns: string[];
    /** Its rows' count and checksum over those columns as the fingerprint read them (`<rows>:<checksum>`), or "" when not read. */
    contents?: string;
    /** The same, per range of its primary key, when the key is a whole number that is never negative. */
    keyRanges?: KeyRanges;
}

/**
 * A table's rows in ranges of its primary key, all of one width: range i holds the keys from
 * i × width to (i + 1) × width − 1. Each range's `<rows>:<checksum>` is read as a table's contents
 * are, so a range whose reading is the ledger's holds the ledger's rows, and the plan reads only
 * the ranges that differ.
 */
export interface KeyRanges {
    width: number;
    /** Each range's `<rows>:<checksum>`, by its index. */
    ranges: Record<string, string>;
}

/** The key types whose values the ranges divide. */
export const RANGED_KEY_TYPES = ["tinyint", "smallint", "integer", "bigint"];

/** About how many ranges a table's keys are divided into: few enough to keep in the stack's state, enough that one change reads a small share of the rows. */
export const KEY_RANGES = 512;

/** More differing ranges than this, and the plan reads the whole table, as one statement of ranges would be long and read most rows anyway. */
export const MAX_RANGES_READ = 64;

/** The index of a key's range, with every negative key in range -1, which the plan reads as "the whole table". */
export function keyRangeExpression(key: string, width: string): string {
    return `IF(${key} < 0, -1, ${key} / ${width})`;
}

/** A condition on the key that holds exactly for the keys of the given ranges, consecutive ranges merged into one BETWEEN. */
export function keyRangesPredicate(key: string, width: number, indices: string[]): string {
    const sorted = [...new Set(indices.map(i => BigInt(i)))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const spans: [bigint, bigint][] = [];
    for (const index of sorted) {
        const last = spans[spans.length - 1];
        if (last && last[1] + 1n === index) {
            last[1] = index;
        } else {
            spans.push([index, index]);
        }
    }
    const w = BigInt(width);
    return spans.map(([first, last]) => `${quoted(key)} BETWEEN ${first * w} AND ${(last + 1n) * w - 1n}`).join(" OR ");
}

/** The ledger table's rows per key range of the given width, read as the fingerprint reads a source's: `key_range, contents`. */
export function ledgerRangesStatement(catalog: string, schema: string, source: PlannedSource, width: number): string {
    const range = keyRangeExpression(quoted(source.primaryKey), String(width));
    return `SELECT CAST(${range} AS varchar) AS key_range, ${contentsExpression(source)} FROM ${ledgerTable(catalog, schema, source)} GROUP BY ${range}`;
}

/** What the publication does with the ledger once the run is published. */
export type LedgerAction = "merge" | "replace" | "keep";

/** The sources' keys and columns as the ledger records them. */
export function sourcesShape(sources: PlannedSource[]): string {
    return JSON.stringify(sources.map(s => [sourceName(s), s.primaryKey, s.columns]));
}

/** The ledger schema of a published schema. */
export function ledgerSchema(schema: string): string {
    return `${schema}__ledger`;
}

/** Whether a schema beside the published one is a run (`<schema>__<hex>`), not the ledger. */
export function isRunSchema(schema: string, candidate: string): boolean {
    return candidate.startsWith(`${schema}__`) && /^[0-9a-f]+$/.test(candidate.slice(schema.length + 2));
}

export const STATE_TABLE = "datamesh_state";
export const PLAN_TABLE = "datamesh_run_plan";

function quoted(name: string): string {
    return `"${name.replace(/"/g, '""')}"`;
}

export function sourceName(source: PlannedSource): string {
    return `${source.catalog}.${source.schema}.${source.table}`;
}

function liveTable(source: PlannedSource): string {
    return `${quoted(source.catalog)}.${quoted(source.schema)}.${quoted(source.table)}`;
}

export function ledgerTable(catalog: string, schema: string, source: PlannedSource): string {
    return `${catalog}.${ledgerSchema(schema)}.${source.catalog}__${source.table}`;
}

export function changesTable(catalog: string, runSchema: string, source: PlannedSource): string {
    return `${catalog}.${runSchema}.${changesTableName(source.catalog, source.table)}`;
}

/** Rows' `<rows>:<checksum>` over the source's columns, as the fingerprint reads a source's. */
function contentsExpression(source: PlannedSource): string {
    return `CAST(count(*) AS varchar) || ':' || coalesce(to_hex(checksum(ROW(${source.columns.map(quoted).join(", ")}))), '')`;
}

/** A ledger table's contents, read as the fingerprint reads a source: `<rows>:<checksum>` over the same columns, in one row. */
export function ledgerContentsStatement(catalog: string, schema: string, source: PlannedSource): string {
    return `SELECT ${contentsExpression(source)} FROM ${ledgerTable(catalog, schema, source)}`;
}

/** No row, in the changes table's shape: the changes of a source whose rows are the ledger's. */
export function noChangesStatement(catalog: string, runSchema: string, source: PlannedSource): string {
    const columns = source.columns.map(quoted).join(", ");
    return `CREATE OR REPLACE TABLE ${changesTable(catalog, runSchema, source)} AS SELECT ${columns}, CAST('new' AS varchar) AS change_side FROM ${liveTable(source)} WHERE false`;
}

/**
 * The source's rows that differ from the ledger's, joined on the primary key: one pass over each
 * (or over the rows `within` a condition on the key, which Trino hands to the domain's database),
 * each changed key once or twice (its old and its new row).
 */
export function diffStatement(catalog: string, schema: string, runSchema: string, source: PlannedSource, within?: string): string {
    const key = quoted(source.primaryKey);
    const where = within ? ` WHERE ${within}` : "";
    const columns = source.columns.map(quoted).join(", ");
    const differs = [`n.${key} IS NULL`, `o.${key} IS NULL`, ...source.columns.filter(c => c !== source.primaryKey).map(c => `n.${quoted(c)} IS DISTINCT FROM o.${quoted(c)}`)].join(" OR ");
    const bothSides = source.columns.flatMap((c, i) => [`n.${quoted(c)} AS new_${i}`, `o.${quoted(c)} AS old_${i}`]).join(", ");
    const picked = source.columns.map((c, i) => `IF(side = 'new', new_${i}, old_${i}) AS ${quoted(c)}`).join(", ");
    return [
        `CREATE OR REPLACE TABLE ${changesTable(catalog, runSchema, source)} AS`,
        `SELECT ${picked}, CAST(side AS varchar) AS change_side FROM (`,
        `  SELECT ${bothSides}, n.${key} IS NOT NULL AS in_source, o.${key} IS NOT NULL AS in_ledger`,
        `  FROM (SELECT ${columns} FROM ${liveTable(source)}${where}) n FULL OUTER JOIN (SELECT ${columns} FROM ${ledgerTable(catalog, schema, source)}${where}) o ON n.${key} = o.${key}`,
        `  WHERE ${differs}`,
        `) changed CROSS JOIN UNNEST(ARRAY['old', 'new']) AS sides (side)`,
        `WHERE (side = 'new' AND in_source) OR (side = 'old' AND in_ledger)`,
    ].join("\n");
}

/** The changes' counts, and whether they account for the source's row count (within the ranges read): a source that gained a row the diff cannot see (a duplicated key) or changed while read does not. */
export function changeCountsStatement(catalog: string, schema: string, runSchema: string, source: PlannedSource, within?: string): string {
    const changes = changesTable(catalog, runSchema, source);
    const key = quoted(source.primaryKey);
    const where = within ? ` WHERE ${within}` : "";
    const ledgerRows = `(SELECT count(*) FROM ${ledgerTable(catalog, schema, source)}${where})`;
    return (
        `SELECT count_if(change_side = 'old') AS old_rows, count_if(change_side = 'new') AS new_rows, count(DISTINCT ${key}) AS keys, ` +
        `(SELECT count(*) FROM ${liveTable(source)}${where}) - ${ledgerRows} - (count_if(change_side = 'new') - count_if(change_side = 'old')) AS unexplained, ` +
        `(SELECT CAST(${key} AS varchar) FROM ${changes} GROUP BY ${key}, change_side HAVING count(*) > 1 ORDER BY ${key} LIMIT 1) AS repeated_key ` +
        `FROM ${changes}`
    );
}

/** The first key the source holds more than once, if any. */
export function duplicateKeyStatement(source: PlannedSource): string {
    const key = quoted(source.primaryKey);
    return `SELECT CAST(${key} AS varchar) FROM ${liveTable(source)} GROUP BY ${key} HAVING count(*) > 1 ORDER BY ${key} LIMIT 1`;
}

/** The plan as a table in the run's schema, which the dbt project reads (dbt/README.md, Incremental runs). */
export function planStatement(catalog: string, runSchema: string, baseRun: string, reason: string): string {
    return `CREATE OR REPLACE TABLE ${catalog}.${runSchema}.${PLAN_TABLE} AS SELECT CAST(${trinoLiteral(baseRun)} AS varchar) AS base_run, CAST(${trinoLiteral(reason)} AS varchar) AS reason`;
}

/** What the ledger describes, recorded once it holds the published run's sources. */
export interface LedgerState {
    run: string;
    digest: string;
    fingerprint: string;
    /** The stack's own loads' fingerprint: a reload replaces every row, so the next run is a full one. */
    loaded: string;
    projectDigest: string;
    buildConfig: string;
    /** The sources' columns and keys, as JSON: another set means the next run is a full one. */
    sources: string;
    /**
     * Each ledger table's contents as read from the ledger itself (`<rows>:<checksum>`, as the
     * fingerprint reads a source), by source, as JSON; a table it does not name is read when needed.
     * A source whose fingerprint reads the same needs no diff: its rows are the ledger's.
     */
    contents: string;
}

const STATE_COLUMNS: (keyof LedgerState)[] = ["run", "digest", "fingerprint", "loaded", "projectDigest", "buildConfig", "sources", "contents"];

function snake(name: string): string {
    return name.replace(/[A-Z]/g, c => `_${c.toLowerCase()}`);
}

export function writeStateStatement(catalog: string, schema: string, state: LedgerState): string {
    return `CREATE OR REPLACE TABLE ${catalog}.${ledgerSchema(schema)}.${STATE_TABLE} AS SELECT ${STATE_COLUMNS.map(c => `CAST(${trinoLiteral(state[c])} AS varchar) AS ${snake(c)}`).join(", ")}`;
}

export function readStateStatement(catalog: string, schema: string): string {
    return `SELECT ${STATE_COLUMNS.map(snake).join(", ")} FROM ${catalog}.${ledgerSchema(schema)}.${STATE_TABLE}`;
}

export function stateOf(row: unknown[]): LedgerState {
    return Object.fromEntries(STATE_COLUMNS.map((c, i) => [c, String(row[i] ?? "")])) as unknown as LedgerState;
}

/** The ledger table made anew from the source itself, after a full run: what it holds is then checked against the run's fingerprint. */
export function replaceLedgerStatement(catalog: string, schema: string, source: PlannedSource): string {
    return `CREATE OR REPLACE TABLE ${ledgerTable(catalog, schema, source)} AS SELECT ${source.columns.map(quoted).join(", ")} FROM ${liveTable(source)}`;
}

/** The ledger table takes an incremental run's changes in one commit: a key with only an old row goes, the rest take their new row. */
export function mergeLedgerStatement(catalog: string, schema: string, runSchema: string, source: PlannedSource): string {
    const key = quoted(source.primaryKey);
    const others = source.columns.filter(c => c !== source.primaryKey);
    const changes = changesTable(catalog, runSchema, source);
    return [
        `MERGE INTO ${ledgerTable(catalog, schema, source)} l`,
        `USING (SELECT k.changed_key, ${source.columns.map(c => `n.${quoted(c)}`).join(", ")} FROM (SELECT DISTINCT ${key} AS changed_key FROM ${changes}) k`,
        `  LEFT JOIN (SELECT * FROM ${changes} WHERE change_side = 'new') n ON n.${key} = k.changed_key) c`,
        `ON l.${key} = c.changed_key`,
        `WHEN MATCHED AND c.${key} IS NULL THEN DELETE`,
        ...(others.length > 0 ? [`WHEN MATCHED THEN UPDATE SET ${others.map(col => `${quoted(col)} = c.${quoted(col)}`).join(", ")}`] : []),
        `WHEN NOT MATCHED AND c.${key} IS NOT NULL THEN INSERT (${source.columns.map(quoted).join(", ")}) VALUES (${source.columns.map(c => `c.${quoted(c)}`).join(", ")})`,
    ].join("\n");
}
