import * as pulumi from "@pulumi/pulumi";
import * as crypto from "crypto";
import { CheckTargets, insightsDigestStatement, ModelAudit } from "../lib/reconcile";
import { isTrinoRefusal, queryTrino, TrinoAccess, TrinoConnection, trinoLiteral, withTrino } from "../lib/trinoQuery";
import {
    changesTable,
    isRunSchema,
    LedgerAction,
    ledgerContentsStatement,
    ledgerSchema,
    mergeLedgerStatement,
    PLAN_TABLE,
    PlannedSource,
    readStateStatement,
    replaceLedgerStatement,
    sourceName,
    sourcesShape,
    stateOf,
    STATE_TABLE,
    writeStateStatement,
} from "../lib/incremental";
import { runCheckStatement } from "./insightsCheck";

/*
 * The publish step of write-audit-publish. dbt builds each run into a schema of its own, which
 * analysts cannot read; once dbt's tests and the check have passed there, the published schema's
 * views are switched to the run's tables. Until then, and whenever anything fails, the views keep
 * pointing at the last good run, whose tables nothing touches.
 *
 * The published views are checked again on every deployment, a no-op included. A no-op finds the
 * domains as they were (their fingerprint is part of the run's name) and the published insights as
 * they were when the check passed: the same view definitions, each reading a table whose current
 * Iceberg snapshot is the one recorded then. Every write to an Iceberg table, through any engine,
 * commits a new snapshot, so this proves the insights unchanged without reading a row of them. Only
 * when they differ does the whole check run again, to pass or to name what is wrong.
 */

/** Why the insights were last rebuilt. */
export type RebuildReason = "first deploy" | "model change" | "domain data change" | "config change";

/** What a rebuild follows: the dbt project, the sources' content, and the rest of its configuration. */
export interface RebuildCause {
    projectDigest: string;
    sourceFingerprint: string;
    config: string;
}

interface PublicationInputs {
    component: string;
    /** The publisher: the user that owns the run schemas and creates the views (secret). */
    publisher: TrinoAccess;
    /** The read-only user that checks the published views on every deployment (secret). */
    checker: TrinoAccess;
    catalog: string;
    /** The schema analysts read. */
    schema: string;
    /** The run to publish, a schema named `<schema>__<run>`. */
    runSchema: string;
    /** The public models, each published as a view of the same name and checked against its audit. */
    audits: ModelAudit[];
    /** The check's summary of the run, from the check that gated it. */
    audit: string;
    cause: RebuildCause;
    /** What the ledger takes once the run is published: the run plan's changes, and what it describes then. */
    ledger: LedgerUpdate;
}

/** The run plan's ledger update (lib/incremental.ts); what else the ledger's state records is the run's cause. */
export interface LedgerUpdate {
    action: LedgerAction;
    sources: PlannedSource[];
    loaded: string;
    /** The sources the plan found equal to the ledger, with their contents: nothing to merge. */
    unchanged: Record<string, string>;
}

interface PublicationOutputs extends PublicationInputs {
    /** The run the views point at, read back from their definitions after the switch. */
    publishedRun: string;
    /** The run kept for rollback, if any. */
    previousRun: string;
    /** The runs dropped by this publish. */
    dropped: string[];
    /** What the ledger took, or why it could not (then the next run is a full one). */
    ledgerOutcome: string;
    /** What the published insights held when the check last passed: row counts and checksums. */
    publishedDigest: string;
    /** The published views' definitions and their tables' snapshots, read just before that check (publishedMarkerStatement). */
    publishedMarker: string;
    rebuiltAt: string;
    reason: RebuildReason;
    summary: string;
}

function qualified(catalog: string, schema: string, table: string): string {
    return `${catalog}.${schema}.${table}`;
}


async function lines(connection: TrinoConnection, sql: string): Promise<string[]> {
    return (await queryTrino(connection, sql)).rows.map(row => String(row[0]));
}

/** Which schema each published view reads from, by table; a table that is not a view maps to "". */
export async function publishedSources(connection: TrinoConnection, inputs: Pick<PublicationInputs, "catalog" | "schema">): Promise<Map<string, string>> {
    const { rows } = await queryTrino(
        connection,
        `SELECT t.table_name, t.table_type, v.view_definition FROM ${inputs.catalog}.information_schema.tables t ` +
            `LEFT JOIN ${inputs.catalog}.information_schema.views v ON v.table_schema = t.table_schema AND v.table_name = t.table_name ` +
            `WHERE t.table_schema = ${trinoLiteral(inputs.schema)}`,
    );
    const sources = new Map<string, string>();
    for (const [table, type, definition] of rows) {
        const match = /\bFROM\s+"?(\w+)"?\."?(\w+)"?\."?(\w+)"?/i.exec(String(definition ?? ""));
        sources.set(String(table), type === "VIEW" && match ? match[2] : "");
    }
    return sources;
}

async function switchView(connection: TrinoConnection, inputs: PublicationInputs, table: string, runSchema: string, existing: string | undefined): Promise<void> {
    if (existing === "") {
        // A table of that name, from a deployment older than write-audit-publish: it gives way to the view.
        await queryTrino(connection, `DROP TABLE ${qualified(inputs.catalog, inputs.schema, table)}`);
    }
    await queryTrino(
        connection,
        `CREATE OR REPLACE VIEW ${qualified(inputs.catalog, inputs.schema, table)} SECURITY DEFINER AS SELECT * FROM ${qualified(inputs.catalog, runSchema, table)}`,
    );
}

async function dropRun(connection: TrinoConnection, catalog: string, schema: string): Promise<void> {
    const objects = await queryTrino(connection, `SELECT table_name, table_type FROM ${catalog}.information_schema.tables WHERE table_schema = ${trinoLiteral(schema)}`);
    const drop = (type: "VIEW" | "TABLE") =>
        Promise.all(objects.rows.filter(([, tableType]) => (tableType === "VIEW") === (type === "VIEW")).map(([table]) => queryTrino(connection, `DROP ${type} IF EXISTS ${qualified(catalog, schema, String(table))}`)));
    // Views first: they may read the run's tables.
    await drop("VIEW");
    await drop("TABLE");
    await queryTrino(connection, `DROP SCHEMA IF EXISTS ${catalog}.${schema}`);
}

function reasonFor(olds: PublicationInputs | undefined, news: PublicationInputs): RebuildReason {
    if (!olds) {
        return "first deploy";
    }
    if (olds.cause.projectDigest !== news.cause.projectDigest) {
        return "model change";
    }
    if (olds.cause.sourceFingerprint !== news.cause.sourceFingerprint) {
        return "domain data change";
    }
    return "config change";
}

/** The statement that reads the published insights' row counts and checksums, through the views as analysts read them. */
export function publishedDigestStatement(inputs: Pick<PublicationInputs, "catalog" | "schema" | "audits">): string {
    return insightsDigestStatement(publishedTargets(inputs));
}

async function publishedDigest(connection: TrinoConnection, inputs: PublicationInputs): Promise<string> {
    return String((await queryTrino(connection, publishedDigestStatement(inputs))).rows[0]?.[0]);
}

/**
 * The statement that reads what analysts' views are now, without reading a row: each view's
 * definition, and the current snapshot of each table of `run` (the run the views were published
 * on). A view switched elsewhere, a table of the run replaced or written to, each changes it; a
 * table dropped fails it.
 */
export function publishedMarkerStatement(inputs: Pick<PublicationInputs, "catalog" | "schema" | "audits">, run: string): string {
    const tables = publicTables(inputs);
    const parts = [
        `SELECT 'view ' || table_name || ': ' || view_definition AS part FROM ${inputs.catalog}.information_schema.views ` +
            `WHERE table_schema = ${trinoLiteral(inputs.schema)} AND table_name IN (${tables.map(trinoLiteral).join(", ")})`,
        ...tables.map(
            table => `SELECT ${trinoLiteral(`table ${run}.${table}: snapshot `)} || CAST(snapshot_id AS varchar) FROM ${inputs.catalog}.${run}."${table}$refs" WHERE name = 'main'`,
        ),
    ];
    return `SELECT array_join(array_sort(array_agg(part)), chr(10)) FROM (${parts.join(" UNION ALL ")})`;
}

/** The marker of what analysts read now, as a digest: it is compared, never shown. */
async function publishedMarker(connection: TrinoConnection, inputs: PublicationInputs, run: string): Promise<string> {
    const marker = String((await queryTrino(connection, publishedMarkerStatement(inputs, run))).rows[0]?.[0]);
    return crypto.createHash("sha256").update(marker).digest("hex");
}

function describe(outputs: Pick<PublicationOutputs, "audit" | "publishedRun" | "rebuiltAt" | "reason">): string {
    return `${outputs.audit}; published ${outputs.publishedRun}, rebuilt ${outputs.rebuiltAt} (${outputs.reason})`;
}

async function publish(inputs: PublicationInputs, olds?: PublicationOutputs): Promise<PublicationOutputs> {
    return withTrino(inputs.publisher, async connection => {
        await queryTrino(connection, `CREATE SCHEMA IF NOT EXISTS ${inputs.catalog}.${inputs.schema}`);
        const before = await publishedSources(connection, inputs);
        const switched: string[] = [];
        try {
            for (const table of publicTables(inputs)) {
                await switchView(connection, inputs, table, inputs.runSchema, before.get(table));
                switched.push(table);
            }
        } catch (error) {
            // Readers must not be left with some views on the new run and some on the old one.
            const unrestored: string[] = [];
            for (const table of switched) {
                const previous = before.get(table);
                if (previous) {
                    await switchView(connection, inputs, table, previous, previous).catch(failure => unrestored.push(`${table}: ${(failure as Error).message}`));
                }
            }
            const cause = (error as Error).message;
            if (unrestored.length === 0) {
                throw new Error(`${inputs.component}: could not publish ${inputs.runSchema}; the published insights are as they were: ${cause}`);
            }
            // Say what analysts read now, as Trino answers it, not what the rollback meant them to read.
            const now = await publishedSources(connection, inputs).then(
                sources => publicTables(inputs).map(table => `${table} reads ${sources.get(table) || "no run"}`).join(", "),
                failure => `unknown (${(failure as Error).message})`,
            );
            throw new Error(
                `${inputs.component}: could not publish ${inputs.runSchema} (${cause}), and could not switch back ${unrestored.join("; ")}; analysts now read: ${now}. ` +
                    "Run pulumi up again, or point the views back by hand (docs/design.md, Rollback)",
            );
        }
        const after = await publishedSources(connection, inputs);
        const runs = new Set(publicTables(inputs).map(table => after.get(table)));
        if (runs.size !== 1 || !runs.has(inputs.runSchema)) {
            throw new Error(`${inputs.component}: after publishing ${inputs.runSchema}, the views read ${[...runs].join(", ")}`);
        }
        const replaced = publicTables(inputs).map(table => before.get(table)).find(run => run && run !== inputs.runSchema);
        const previousRun = replaced ?? (olds?.previousRun !== inputs.runSchema ? olds?.previousRun : undefined) ?? "";
        const prefix = `${inputs.schema}__`;
        const stale = (await lines(connection, `SELECT schema_name FROM ${inputs.catalog}.information_schema.schemata WHERE starts_with(schema_name, ${trinoLiteral(prefix)})`)).filter(
            run => isRunSchema(inputs.schema, run) && run !== inputs.runSchema && run !== previousRun,
        );
        // Read before the digest: a write between the two then shows as a changed marker on the next `up`.
        const marker = await publishedMarker(connection, inputs, inputs.runSchema);
        // The views no longer read any stale run, so the stale runs go while the digest is read.
        const [digest] = await Promise.all([publishedDigest(connection, inputs), Promise.all(stale.sort().map(run => dropRun(connection, inputs.catalog, run)))]);
        const ledgerOutcome = await updateLedger(connection, inputs, digest);
        const rebuiltAt = new Date().toISOString().replace(/\.\d+Z$/, "Z");
        const reason = reasonFor(olds, inputs);
        const publishedRun = inputs.runSchema;
        return {
            ...inputs,
            publishedRun,
            previousRun,
            dropped: stale,
            ledgerOutcome,
            publishedDigest: digest,
            publishedMarker: marker,
            rebuiltAt,
            reason,
            summary: describe({ audit: inputs.audit, publishedRun, rebuiltAt, reason }),
        };
    });
}

/**
 * The ledger takes the published run's changes, or after a full run is copied from the sources,
 * its state dropped first so that a ledger caught half-way is never trusted; the next run is then a
 * full one, which makes it anew. A copy is trusted only if it reads what the run's fingerprint read
 * of each source: a row written since that reading may be in the copy and not in the run, and the
 * next plan would never see it change. A failure here does not undo the publication: the insights
 * are checked and published, and the outcome says so.
 */
async function updateLedger(connection: TrinoConnection, inputs: PublicationInputs, digest: string): Promise<string> {
    const { ledger } = inputs;
    const stateTable = `${inputs.catalog}.${ledgerSchema(inputs.schema)}.${STATE_TABLE}`;
    try {
        await queryTrino(connection, `DROP TABLE IF EXISTS ${stateTable}`);
        const taking = ledger.action === "keep" ? [] : ledger.sources.filter(source => !(sourceName(source) in ledger.unchanged));
        await Promise.all(
            taking.map(source =>
                queryTrino(
                    connection,
                    ledger.action === "merge" ? mergeLedgerStatement(inputs.catalog, inputs.schema, inputs.runSchema, source) : replaceLedgerStatement(inputs.catalog, inputs.schema, source),
                ),
            ),
        );
        // What each table holds now, read from it, so that the next plan need not diff a source whose rows are these.
        const taken = await Promise.all(taking.map(async source => [sourceName(source), String((await queryTrino(connection, ledgerContentsStatement(inputs.catalog, inputs.schema, source))).rows[0][0])]));
        const moved = ledger.action !== "replace" ? [] : taking.flatMap((source, i) => (source.contents === taken[i][1] ? [] : [`${sourceName(source)} changed while the run was built (the run's fingerprint read ${source.contents || "nothing"}, the sources now hold ${taken[i][1]})`]));
        if (moved.length > 0) {
            throw new Error(moved.join("; "));
        }
        await queryTrino(
            connection,
            writeStateStatement(inputs.catalog, inputs.schema, {
                run: inputs.runSchema,
                digest,
                fingerprint: inputs.cause.sourceFingerprint,
                loaded: ledger.loaded,
                projectDigest: inputs.cause.projectDigest,
                buildConfig: inputs.cause.config,
                sources: sourcesShape(ledger.sources),
                contents: JSON.stringify({ ...ledger.unchanged, ...Object.fromEntries(taken) }),
            }),
        );
        // The run keeps its models only.
        await Promise.all(
            [...ledger.sources.map(source => changesTable(inputs.catalog, inputs.runSchema, source)), `${inputs.catalog}.${inputs.runSchema}.${PLAN_TABLE}`].map(table =>
                queryTrino(connection, `DROP TABLE IF EXISTS ${table}`),
            ),
        );
        return `ledger ${ledger.action === "keep" ? "kept" : ledger.action === "merge" ? "merged the changes" : "made anew"} for ${inputs.runSchema}`;
    } catch (error) {
        return `ledger not updated (${(error as Error).message}); the next run is a full one`;
    }
}

/** After the published insights passed the whole check again, the ledger records their new digest, if it describes them. */
async function recordDigest(connection: TrinoConnection, inputs: PublicationInputs, run: string, digest: string): Promise<void> {
    try {
        const { rows } = await queryTrino(connection, readStateStatement(inputs.catalog, inputs.schema));
        const state = rows.length === 1 ? stateOf(rows[0]) : undefined;
        if (state && state.run === run && state.digest !== digest) {
            await queryTrino(connection, writeStateStatement(inputs.catalog, inputs.schema, { ...state, digest }));
        }
    } catch (error) {
        if (!isTrinoRefusal(error)) {
            throw error;
        }
    }
}

/** The check statement against the published views. */
export function publishedTargets(inputs: Pick<PublicationInputs, "catalog" | "schema" | "audits">): CheckTargets {
    return { catalog: inputs.catalog, schema: inputs.schema, audits: inputs.audits };
}

function publicTables(inputs: Pick<PublicationInputs, "audits">): string[] {
    return inputs.audits.map(audit => audit.model);
}

/** The check statement against what analysts read now: its summary and the insights' digest, or an error naming every table that differs. */
async function checkPublished(inputs: PublicationInputs, publishedRun: string): Promise<{ summary: string; digest: string; marker: string }> {
    return withTrino(inputs.checker, async connection => {
        // Read before the check, as at a publish. Unreadable (a table of the run gone), the check names
        // what is wrong; an empty marker makes the next `up` check in full again.
        const marker = await publishedMarker(connection, inputs, publishedRun).catch(() => "");
        const verdict = await runCheckStatement(connection, publishedTargets(inputs));
        if (!verdict.ok) {
            throw new Error(`${inputs.component}: the published insights (${publishedRun}) do not reconcile with the domains:\n${verdict.problems.join("\n")}`);
        }
        return { summary: verdict.summary!, digest: await publishedDigest(connection, inputs), marker };
    });
}

const PUBLISH_KEYS: (keyof PublicationInputs)[] = ["catalog", "schema", "runSchema", "audits", "audit"];

export const publicationProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: PublicationInputs) {
        return { id: `${inputs.catalog}.${inputs.schema}`, outs: await publish(inputs) };
    },
    async diff(_id: string, olds: PublicationOutputs, news: PublicationInputs) {
        if (PUBLISH_KEYS.some(key => JSON.stringify(olds[key]) !== JSON.stringify(news[key]))) {
            return { changes: true };
        }
        // Nothing to publish, and the domains are as they were. What analysts read now is what the check
        // last passed, or the update runs the whole check, which passes or names what is wrong. A state
        // from before the marker has none: the whole check runs once and records it.
        if (!olds.publishedMarker) {
            return { changes: true };
        }
        try {
            const marker = await withTrino(news.checker, connection => publishedMarker(connection, news, olds.publishedRun));
            return { changes: marker !== olds.publishedMarker };
        } catch (error) {
            if (isTrinoRefusal(error) && !/does not exist/.test((error as Error).message)) {
                throw new Error(`${news.component}: cannot check the published insights: ${(error as Error).message}`);
            }
            // A table of the published run gone (the update's check then names it), or a coordinator
            // being restarted (the update checks once it answers).
            return { changes: true };
        }
    },
    async update(_id: string, olds: PublicationOutputs, news: PublicationInputs) {
        if (PUBLISH_KEYS.every(key => JSON.stringify(olds[key]) === JSON.stringify(news[key]))) {
            const { summary, digest, marker } = await checkPublished(news, olds.publishedRun);
            await withTrino(news.publisher, connection => recordDigest(connection, news, olds.publishedRun, digest));
            return { outs: { ...olds, ...news, publishedDigest: digest, publishedMarker: marker, summary: describe({ ...olds, audit: summary }) } };
        }
        return { outs: await publish(news, olds) };
    },
};

export interface InsightsPublicationArgs {
    /** Names the owning component in errors. */
    component: string;
    /** The user that creates the views and drops old runs, and how to reach Trino (secret). */
    publisher: pulumi.Input<TrinoAccess>;
    /** The read-only user that checks the published views (secret). */
    checker: pulumi.Input<TrinoAccess>;
    /** The insights catalog. */
    catalog: string;
    /** The schema analysts read. */
    schema: string;
    /** The run schema to publish; it exists and has passed the check. */
    runSchema: pulumi.Input<string>;
    /** The public models to publish, with their audits. */
    audits: ModelAudit[];
    /** The gating check's summary. */
    audit: pulumi.Input<string>;
    /** What the run was built from. */
    cause: pulumi.Input<RebuildCause>;
    /** What the ledger takes once the run is published. */
    ledger: pulumi.Input<LedgerUpdate>;
}

/** The published insights: views switched to a checked run, and checked again on every deployment. */
export class InsightsPublication extends pulumi.dynamic.Resource {
    public readonly publishedRun!: pulumi.Output<string>;
    public readonly previousRun!: pulumi.Output<string>;
    /** What the ledger took at the last publish. */
    public readonly ledgerOutcome!: pulumi.Output<string>;
    public readonly rebuiltAt!: pulumi.Output<string>;
    public readonly reason!: pulumi.Output<RebuildReason>;
    /** The check's summary, the published run, and when and why it was built. */
    public readonly summary!: pulumi.Output<string>;

    constructor(name: string, args: InsightsPublicationArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            publicationProvider,
            name,
            { ...args, publishedRun: undefined, previousRun: undefined, dropped: undefined, ledgerOutcome: undefined, publishedDigest: undefined, publishedMarker: undefined, rebuiltAt: undefined, reason: undefined, summary: undefined },
            { ...opts, additionalSecretOutputs: ["publisher", "checker"] },
            "datamesh",
            "InsightsPublication",
        );
    }
}
