import * as pulumi from "@pulumi/pulumi";
import {
    changeCountsStatement,
    diffStatement,
    duplicateKeyStatement,
    isRunSchema,
    keyRangesPredicate,
    LedgerAction,
    ledgerContentsStatement,
    ledgerRangesStatement,
    LedgerState,
    ledgerSchema,
    noChangesStatement,
    MAX_RANGES_READ,
    PlannedSource,
    planStatement,
    readStateStatement,
    sourceName,
    sourcesShape,
    stateOf,
} from "../lib/incremental";
import { isTrinoRefusal, queryTrino, TrinoAccess, TrinoConnection, withTrino } from "../lib/trinoQuery";
import { inputsDiff } from "./inputs";
import { publishedSources } from "./publication";

/*
 * Decides, before dbt runs, whether a run is incremental or full, and writes what it needs into the
 * run's schema: the plan table the dbt project reads, and each source's changed rows (see
 * lib/incremental.ts). A run is incremental when only domain rows changed since the published run:
 * the same project, configuration and source columns, a ledger that describes the published run,
 * and an audit that names the affected keys of every public model. Anything else is a full run,
 * and the plan says why.
 */

export type RefreshMode = "incremental" | "full";

interface PlanInputs {
    component: string;
    /** dbt's user: it reads the sources as dbt does, and owns the run and ledger schemas (secret). */
    access: TrinoAccess;
    catalog: string;
    /** The published schema. */
    schema: string;
    runSchema: string;
    /** The public models, which the published views name. */
    publicTables: string[];
    sources: PlannedSource[];
    fingerprint: string;
    /** The stack's own loads' fingerprint. */
    loaded: string;
    projectDigest: string;
    buildConfig: string;
    /** datamesh:rebuild. */
    rebuild: RefreshMode;
    /** Why the gate cannot check a run incrementally (an audit without affected keys), or "". */
    gateRefusal: string;
}

/** Each source's changed rows, by its Trino name. */
export type ChangeCounts = Record<string, { oldRows: number; newRows: number; keys: number }>;

interface PlanOutputs extends PlanInputs {
    mode: RefreshMode;
    reason: string;
    /** The published run an incremental run starts from; "" for a full one. */
    baseRun: string;
    /** The published insights' digest when their check last passed: what the incremental gate proves the kept rows by. */
    recordedDigest: string;
    ledgerAction: LedgerAction;
    changes: ChangeCounts;
    /** The sources whose rows are the ledger's, by name, with their contents: neither diffed nor merged. */
    unchanged: Record<string, string>;
    /** What the diff read of each other source: "<n> of <m> key ranges", or "every row". */
    read: Record<string, string>;
    summary: string;
}

/** The run every published view reads, or "" when there is none or they disagree. */
async function publishedRunOf(connection: TrinoConnection, inputs: PlanInputs): Promise<string> {
    const sources = await publishedSources(connection, inputs);
    const runs = new Set(inputs.publicTables.map(table => sources.get(table) ?? ""));
    return runs.size === 1 ? [...runs][0] : "";
}

async function readState(connection: TrinoConnection, inputs: PlanInputs): Promise<LedgerState | undefined> {
    try {
        const { rows } = await queryTrino(connection, readStateStatement(inputs.catalog, inputs.schema));
        return rows.length === 1 ? stateOf(rows[0]) : undefined;
    } catch (error) {
        // No ledger yet, or one an earlier release wrote without a column this one reads.
        if (isTrinoRefusal(error) && /does not exist|not found|cannot be resolved/i.test((error as Error).message)) {
            return undefined;
        }
        throw error;
    }
}

/** Why this run cannot be incremental, or undefined when it can. */
function whyFull(inputs: PlanInputs, state: LedgerState | undefined, publishedRun: string): string | undefined {
    if (inputs.rebuild === "full") {
        return "datamesh:rebuild is full";
    }
    if (inputs.gateRefusal) {
        return inputs.gateRefusal;
    }
    if (!publishedRun) {
        return "nothing is published yet";
    }
    if (!state || state.run !== publishedRun) {
        return `no ledger describes the published run ${publishedRun}`;
    }
    if (state.projectDigest !== inputs.projectDigest) {
        return "the dbt project changed";
    }
    if (state.buildConfig !== inputs.buildConfig) {
        return "the build's configuration changed";
    }
    if (state.loaded !== inputs.loaded) {
        return "the stack loaded the domains anew";
    }
    if (state.sources !== sourcesShape(inputs.sources)) {
        const before: [string, string, string[]][] = JSON.parse(state.sources);
        const changed = inputs.sources.filter(s => JSON.stringify(before.find(([name]) => name === sourceName(s))?.slice(1)) !== JSON.stringify([s.primaryKey, s.columns]));
        return `a source's columns changed (${changed.map(s => `${sourceName(s)}: ${s.columns.join(", ")}`).join("; ") || "a source was removed"})`;
    }
    return undefined;
}

async function countChanges(connection: TrinoConnection, inputs: PlanInputs, within: Record<string, string>): Promise<{ counts: ChangeCounts; unexplained: PlannedSource[] }> {
    const read = await Promise.all(
        inputs.sources.map(
            async source => (await queryTrino(connection, changeCountsStatement(inputs.catalog, inputs.schema, inputs.runSchema, source, within[sourceName(source)]))).rows[0],
        ),
    );
    const counts: ChangeCounts = {};
    const unexplained: PlannedSource[] = [];
    inputs.sources.forEach((source, i) => {
        const [oldRows, newRows, keys, unexplainedRows, repeatedKey] = read[i];
        if (repeatedKey !== null && repeatedKey !== undefined) {
            throw duplicateKeyError(inputs, source, String(repeatedKey));
        }
        counts[sourceName(source)] = { oldRows: Number(oldRows), newRows: Number(newRows), keys: Number(keys) };
        if (Number(unexplainedRows) !== 0) {
            unexplained.push(source);
        }
    });
    return { counts, unexplained };
}

function duplicateKeyError(inputs: PlanInputs, source: PlannedSource, key: string): Error {
    return new Error(
        `${inputs.component}: domain '${source.catalog}' table ${source.table} holds primary key ${source.primaryKey}=${key} more than once, ` +
            "so its changes cannot be merged; nothing was built and the published insights are unchanged",
    );
}

type Outcome = Pick<PlanOutputs, "ledgerAction" | "changes" | "unchanged" | "read">;

function recordedContents(state: LedgerState | undefined): Record<string, string> {
    return state?.contents ? JSON.parse(state.contents) : {};
}

/**
 * A full run writes no changes: dbt reads the sources whole, and the ledger is copied from them once
 * the run is published (resources/publication.ts), unless it already holds what the sources hold.
 * A key held twice is refused here all the same: the next run would merge it ambiguously.
 */
async function planFull(connection: TrinoConnection, inputs: PlanInputs, state: LedgerState | undefined): Promise<Outcome> {
    if (state && state.fingerprint === inputs.fingerprint && state.sources === sourcesShape(inputs.sources)) {
        return { ledgerAction: "keep", changes: {}, unchanged: recordedContents(state), read: {} };
    }
    const repeated = await Promise.all(inputs.sources.map(async source => (await queryTrino(connection, duplicateKeyStatement(source))).rows[0]?.[0]));
    inputs.sources.forEach((source, i) => {
        if (repeated[i] !== undefined && repeated[i] !== null) {
            throw duplicateKeyError(inputs, source, String(repeated[i]));
        }
    });
    return { ledgerAction: "replace", changes: {}, unchanged: {}, read: {} };
}

/**
 * The sources whose rows are the ledger's: the fingerprint read the same count and checksum from
 * the source as the ledger holds, read from the ledger itself (recorded when it last took changes,
 * or read now). Such a source is not read again: its changes are none. A write to it since the
 * fingerprint is left to the next run, whose fingerprint then differs from the ledger.
 */
async function unchangedSources(connection: TrinoConnection, inputs: PlanInputs, state: LedgerState): Promise<Record<string, string>> {
    const recorded = recordedContents(state);
    const ledger = await Promise.all(
        inputs.sources.map(async source => recorded[sourceName(source)] ?? String((await queryTrino(connection, ledgerContentsStatement(inputs.catalog, inputs.schema, source))).rows[0][0])),
    );
    return Object.fromEntries(inputs.sources.flatMap((source, i) => (source.contents && source.contents === ledger[i] ? [[sourceName(source), ledger[i]]] : [])));
}

/**
 * The key ranges of a changed source whose rows differ from the ledger's, as a condition on its
 * key, or undefined when the whole table is to be read: its key is not ranged, a range holds a
 * negative key, or too many ranges differ. The ledger's ranges are read from the ledger, with the
 * width the fingerprint read the source with; a range written since the fingerprint and not read
 * here reads differently from the ledger at the next fingerprint, and is read then.
 */
async function rangesToRead(connection: TrinoConnection, inputs: PlanInputs, source: PlannedSource): Promise<{ within?: string; read: string }> {
    const ranged = source.keyRanges;
    if (!ranged) {
        return { read: "every row" };
    }
    const { rows } = await queryTrino(connection, ledgerRangesStatement(inputs.catalog, inputs.schema, source, ranged.width));
    const ledger = new Map(rows.map(([range, contents]) => [String(range), String(contents)]));
    const indices = new Set([...Object.keys(ranged.ranges), ...ledger.keys()]);
    const differing = [...indices].filter(index => ranged.ranges[index] !== ledger.get(index));
    // Ranges that all agree while the whole table did not are not to be trusted: read every row.
    if (differing.length === 0 || differing.includes("-1") || differing.length > MAX_RANGES_READ) {
        return { read: "every row" };
    }
    const total = Object.keys(ranged.ranges).length;
    return { within: keyRangesPredicate(source.primaryKey, ranged.width, differing), read: `${differing.length} of ${total} key ranges` };
}

function describeChanges(changes: ChangeCounts): string {
    const parts = Object.entries(changes)
        .filter(([, c]) => c.keys > 0)
        .map(([table, c]) => `${table} ${c.keys} key${c.keys === 1 ? "" : "s"}`);
    return parts.length > 0 ? parts.join(", ") : "no row";
}

async function plan(inputs: PlanInputs): Promise<PlanOutputs> {
    return withTrino(inputs.access, async connection => {
        await queryTrino(connection, `CREATE SCHEMA IF NOT EXISTS ${inputs.catalog}.${inputs.runSchema}`);
        await queryTrino(connection, `CREATE SCHEMA IF NOT EXISTS ${inputs.catalog}.${ledgerSchema(inputs.schema)}`);
        const [state, publishedRun] = await Promise.all([readState(connection, inputs), publishedRunOf(connection, inputs)]);
        if (publishedRun === inputs.runSchema) {
            // The sources hold again what the published run was built from (a failed run's change undone): nothing runs, nothing is written.
            const why = "the sources hold what the published run was built from, so nothing is built";
            return { ...inputs, mode: "full", reason: why, baseRun: "", recordedDigest: "", ledgerAction: "keep", changes: {}, unchanged: recordedContents(state), read: {}, summary: `full: ${why}` };
        }
        let reason = whyFull(inputs, state, publishedRun);
        let outcome: Outcome | undefined;
        if (reason === undefined && isRunSchema(inputs.schema, publishedRun)) {
            const unchanged = await unchangedSources(connection, inputs, state!);
            const within: Record<string, string> = {};
            const read: Record<string, string> = {};
            await Promise.all(
                inputs.sources.map(async source => {
                    const name = sourceName(source);
                    if (name in unchanged) {
                        await queryTrino(connection, noChangesStatement(inputs.catalog, inputs.runSchema, source));
                        return;
                    }
                    const ranges = await rangesToRead(connection, inputs, source);
                    read[name] = ranges.read;
                    if (ranges.within) {
                        within[name] = ranges.within;
                    }
                    await queryTrino(connection, diffStatement(inputs.catalog, inputs.schema, inputs.runSchema, source, ranges.within));
                }),
            );
            const { counts, unexplained } = await countChanges(connection, inputs, within);
            for (const source of unexplained) {
                const { rows } = await queryTrino(connection, duplicateKeyStatement(source));
                if (rows.length > 0) {
                    throw duplicateKeyError(inputs, source, String(rows[0][0]));
                }
            }
            if (unexplained.length > 0) {
                reason = `${unexplained.map(sourceName).join(", ")} changed while its changes were read`;
            } else {
                outcome = { ledgerAction: "merge", changes: counts, unchanged, read };
            }
        }
        const mode: RefreshMode = outcome ? "incremental" : "full";
        if (!outcome) {
            outcome = await planFull(connection, inputs, state);
        }
        const baseRun = mode === "incremental" ? publishedRun : "";
        const why = mode === "incremental" ? `only domain rows changed: ${describeChanges(outcome.changes)}` : reason!;
        await queryTrino(connection, planStatement(inputs.catalog, inputs.runSchema, baseRun, why));
        return {
            ...inputs,
            mode,
            reason: why,
            baseRun,
            recordedDigest: mode === "incremental" ? state!.digest : "",
            ...outcome,
            summary: mode === "incremental" ? `incremental from ${baseRun}: ${why}` : `full: ${why}`,
        };
    });
}

export const runPlanProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: PlanInputs) {
        return { id: inputs.runSchema, outs: await plan(inputs) };
    },
    async diff(_id: string, olds: PlanOutputs, news: PlanInputs) {
        // A new run, or anything the plan decides by; how Trino is reached changes nothing.
        const { access: _oldAccess, ...old } = olds;
        const { access: _newAccess, ...next } = news;
        return inputsDiff(old, next);
    },
    async update(_id: string, _olds: PlanOutputs, news: PlanInputs) {
        return { outs: await plan(news) };
    },
};

export interface RunPlanArgs {
    component: string;
    access: pulumi.Input<TrinoAccess>;
    catalog: string;
    schema: string;
    runSchema: pulumi.Input<string>;
    publicTables: string[];
    sources: pulumi.Input<PlannedSource[]>;
    fingerprint: pulumi.Input<string>;
    loaded: pulumi.Input<string>;
    projectDigest: string;
    buildConfig: string;
    rebuild: RefreshMode;
    gateRefusal: string;
}

/** A run's plan: incremental or full, and why; the changed rows it found, in the run's schema. */
export class RunPlan extends pulumi.dynamic.Resource {
    public readonly mode!: pulumi.Output<RefreshMode>;
    public readonly reason!: pulumi.Output<string>;
    public readonly baseRun!: pulumi.Output<string>;
    public readonly recordedDigest!: pulumi.Output<string>;
    public readonly ledgerAction!: pulumi.Output<LedgerAction>;
    public readonly changes!: pulumi.Output<ChangeCounts>;
    public readonly unchanged!: pulumi.Output<Record<string, string>>;
    /** What the diff read of each changed source: "<n> of <m> key ranges", or "every row". */
    public readonly read!: pulumi.Output<Record<string, string>>;
    public readonly summary!: pulumi.Output<string>;
    /** The sources as planned: keys and the columns dbt may read. */
    public readonly sources!: pulumi.Output<PlannedSource[]>;
    public readonly loaded!: pulumi.Output<string>;

    constructor(name: string, args: RunPlanArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            runPlanProvider,
            name,
            { ...args, mode: undefined, reason: undefined, baseRun: undefined, recordedDigest: undefined, ledgerAction: undefined, changes: undefined, unchanged: undefined, read: undefined, summary: undefined },
            { ...opts, additionalSecretOutputs: ["access"] },
            "datamesh",
            "RunPlan",
        );
    }
}
