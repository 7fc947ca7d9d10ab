import * as pulumi from "@pulumi/pulumi";
import * as crypto from "crypto";
import { KEY_RANGES, keyRangeExpression, KeyRanges, RANGED_KEY_TYPES } from "../lib/incremental";
import { isTrinoRefusal, queryTrino, TrinoAccess, TrinoConnection, trinoLiteral, withTrino } from "../lib/trinoQuery";

/*
 * What the insights' sources hold right now, read through Trino on every deployment: each table's
 * columns and types, its row count, and an order-insensitive checksum of every row over the
 * columns the reading user may see (never a PII column). A domain owner who inserts, updates or
 * deletes rows in its own database, or changes a column, changes it, and the insights are rebuilt.
 */

/** A domain table that the insights read, as Trino names it. */
export interface SourceTable {
    catalog: string;
    schema: string;
    table: string;
    /** Its primary key: a whole-number key's rows are also read per key range (lib/incremental.ts, KeyRanges). */
    primaryKey?: string;
}

interface FingerprintInputs {
    component: string;
    access: TrinoAccess;
    sources: SourceTable[];
    /** The coordinator's release; it resolves once the coordinator answers, so nothing is read before. */
    trinoVersion: string;
    /** The loads' own fingerprint; a reload is read again even if its rows come out the same. */
    loaded: string;
}

interface TableFacts {
    table: string;
    rows: number;
    /** The columns read, as [name, type] pairs; the next deployment reads with them while it checks them. */
    columns?: string[][];
    /** Trino's checksum of the table's columns as information_schema lists them; a change means the columns must be read again. */
    columnsChecksum?: string;
    /** Its rows' count and checksum over those columns, as `<rows>:<checksum>`: what a copy of the same rows over the same columns also reads. */
    contents?: string;
    /** The same per range of its primary key, when that key is a whole number and none is negative. */
    keyRanges?: KeyRanges;
}

interface FingerprintOutputs extends FingerprintInputs {
    fingerprint: string;
    tables: TableFacts[];
}

function quoted(name: string): string {
    return `"${name.replace(/"/g, '""')}"`;
}

function tableName(source: SourceTable): string {
    return `${source.catalog}.${source.schema}.${source.table}`;
}

function columnsOf(source: SourceTable): string {
    return `FROM ${quoted(source.catalog)}.information_schema.columns WHERE table_schema = ${trinoLiteral(source.schema)} AND table_name = ${trinoLiteral(source.table)}`;
}

/** Every table's columns, as [name, type] pairs, in one statement. */
export async function readColumns(connection: TrinoConnection, sources: SourceTable[], component: string): Promise<string[][][]> {
    const parts = sources.map((source, i) => `SELECT ${i} AS position, ordinal_position, column_name, data_type ${columnsOf(source)}`);
    const { rows } = await queryTrino(connection, `${parts.join(" UNION ALL ")} ORDER BY position, ordinal_position`);
    const columns = sources.map((_, i) => rows.filter(([position]) => Number(position) === i).map(([, , name, type]) => [String(name), String(type)]));
    for (const [i, source] of sources.entries()) {
        if (columns[i].length === 0) {
            throw new Error(`${component}: ${await whyNoColumns(connection, source)}; the published insights are unchanged`);
        }
    }
    return columns;
}

/**
 * Why information_schema lists no column of a table: Trino lists none both when the table is gone
 * and when it cannot reach the domain's database at all, so the table itself is asked, and a
 * connection failure is named as one, in Trino's words (which name the database's host and port).
 */
async function whyNoColumns(connection: TrinoConnection, source: SourceTable): Promise<string> {
    const gone = `the source table ${tableName(source)} is gone, or ${connection.user} may no longer read it`;
    try {
        await queryTrino(connection, `SELECT count(*) FROM ${quoted(source.catalog)}.${quoted(source.schema)}.${quoted(source.table)} WHERE 1 = 0`);
        return gone;
    } catch (error) {
        const message = (error as Error).message;
        if (!isTrinoRefusal(error) || /does not exist|Access Denied/i.test(message)) {
            return isTrinoRefusal(error) ? `${gone} (${message})` : `cannot reach Trino to read ${tableName(source)}: ${message}`;
        }
        return `Trino cannot read domain '${source.catalog}' (its catalog's database does not answer): ${message}`;
    }
}

interface TableContents {
    rows: number;
    checksum: string;
    columnsChecksum: string;
    keyRanges?: KeyRanges;
}

/** The key whose ranges are read: the primary key, when the columns read hold it as a whole number. */
function rangedKey(source: SourceTable, columns: string[][]): string | undefined {
    const type = columns.find(([name]) => name === source.primaryKey)?.[1];
    return type && RANGED_KEY_TYPES.includes(type) ? source.primaryKey : undefined;
}

/**
 * One table's part of the contents statement: its rows' count and checksum, and with a ranged key
 * the same per key range, in one scan (the total is the row whose key_range is null). The width is
 * the power of two that divides the keys from 0 to the largest into about KEY_RANGES ranges;
 * Trino asks the domain's database for the smallest and largest key.
 */
function contentsPart(i: number, source: SourceTable, columns: string[][]): string {
    const table = `${quoted(source.catalog)}.${quoted(source.schema)}.${quoted(source.table)}`;
    const row = `ROW(${columns.map(([name]) => quoted(name)).join(", ")})`;
    const key = rangedKey(source, columns);
    if (!key) {
        return `SELECT ${i} AS position, 'rows' AS kind, CAST(NULL AS bigint) AS key_range, count(*) AS count, to_hex(checksum(${row})) AS checksum, CAST(NULL AS bigint) AS width, CAST(NULL AS bigint) AS lowest FROM ${table}`;
    }
    const range = keyRangeExpression(`t.${quoted(key)}`, "k.datamesh__width");
    return (
        `SELECT ${i}, 'rows', IF(grouping(datamesh__key_range) = 1, NULL, datamesh__key_range), count(*), to_hex(checksum(${row})), max(datamesh__width), min(datamesh__lowest) ` +
        `FROM (SELECT ${columns.map(([name]) => `t.${quoted(name)}`).join(", ")}, ${range} AS datamesh__key_range, k.datamesh__width, k.datamesh__lowest FROM ${table} t CROSS JOIN ` +
        `(SELECT min(${quoted(key)}) AS datamesh__lowest, CAST(power(2, greatest(0, ceil(log2((CAST(max(${quoted(key)}) AS double) + 1) / ${KEY_RANGES})))) AS bigint) AS datamesh__width FROM ${table}) k) ` +
        `GROUP BY GROUPING SETS ((datamesh__key_range), ())`
    );
}

/** Every table's row count and checksum over the given columns (and per key range), and the checksum of its columns, in one statement. */
async function readContents(connection: TrinoConnection, sources: SourceTable[], columns: string[][][]): Promise<TableContents[]> {
    const hex = (value: unknown) => (value === null || value === undefined ? "" : String(value));
    const parts = sources.flatMap((source, i) => [
        contentsPart(i, source, columns[i]),
        `SELECT ${i}, 'columns', CAST(NULL AS bigint), count(*), to_hex(checksum(ROW(ordinal_position, column_name, data_type))), CAST(NULL AS bigint), CAST(NULL AS bigint) ${columnsOf(source)}`,
    ]);
    const { rows } = await queryTrino(connection, parts.join(" UNION ALL "));
    const of = (i: number, kind: string) => rows.filter(([position, rowKind]) => Number(position) === i && rowKind === kind);
    return sources.map((_, i) => {
        const [total] = of(i, "rows").filter(([, , range]) => range === null || range === undefined);
        const [columnsRow] = of(i, "columns");
        const ranged = of(i, "rows").filter(([, , range]) => range !== null && range !== undefined);
        const width = total[5];
        const lowest = total[6];
        // Keys below zero, or none at all: no ranges, and the plan reads the whole table when it changes.
        const keyRanges =
            width !== null && width !== undefined && lowest !== null && lowest !== undefined && Number(lowest) >= 0
                ? { width: Number(width), ranges: Object.fromEntries(ranged.map(([, , range, count, checksum]) => [String(range), `${Number(count)}:${hex(checksum)}`])) }
                : undefined;
        return { rows: Number(total[3]), checksum: hex(total[4]), columnsChecksum: hex(columnsRow[4]), ...(keyRanges ? { keyRanges } : {}) };
    });
}

/**
 * Reads every source's contents and, in the same statement, checks that its columns are those of
 * the last reading. Only when they are not, or there is no last reading, are the columns read
 * first and the contents read with them.
 */
async function readFingerprint(inputs: FingerprintInputs, last?: TableFacts[]): Promise<{ fingerprint: string; tables: TableFacts[] }> {
    return withTrino(inputs.access, async connection => {
        const lastFacts = inputs.sources.map(source => last?.find(facts => facts.table === tableName(source)));
        const known = lastFacts.every(facts => facts?.columns !== undefined && facts.columnsChecksum !== undefined) ? lastFacts.map(facts => facts!.columns!) : undefined;
        // With a column dropped or renamed since, Trino refuses the statement; the columns are then read again.
        const knownContents = known
            ? await readContents(connection, inputs.sources, known).catch(error => {
                  if (isTrinoRefusal(error)) {
                      return undefined;
                  }
                  throw error;
              })
            : undefined;
        const unchanged = knownContents?.every((contents, i) => contents.columnsChecksum === lastFacts[i]!.columnsChecksum);
        const columns = unchanged ? known! : await readColumns(connection, inputs.sources, inputs.component);
        const contents = unchanged ? knownContents! : await readContents(connection, inputs.sources, columns);
        const hash = crypto.createHash("sha256");
        inputs.sources.forEach((source, i) => {
            hash.update(`${tableName(source)}\0${JSON.stringify(columns[i])}\0${contents[i].rows}\0${contents[i].checksum}`).update("\0");
        });
        return {
            fingerprint: hash.digest("hex"),
            tables: inputs.sources.map((source, i) => ({
                table: tableName(source),
                rows: contents[i].rows,
                columns: columns[i],
                columnsChecksum: contents[i].columnsChecksum,
                contents: `${contents[i].rows}:${contents[i].checksum}`,
                ...(contents[i].keyRanges ? { keyRanges: contents[i].keyRanges } : {}),
            })),
        };
    });
}

interface Reading {
    inputs: string;
    at: number;
    current: { fingerprint: string; tables: TableFacts[] };
}

/** How long a reading made by `diff` stands in for `update`'s own: the two follow each other within one deployment. */
const READING_REUSE_MS = 60_000;

/**
 * The readings `diff` made, by component, so that `update` does not read every source row a second
 * time a moment later. They live on the dynamic provider process's global object, which outlives
 * one call (a variable of this module would be serialized with the provider, and copied).
 */
function readings(): Map<string, Reading> {
    const global = globalThis as { datameshFingerprintReadings?: Map<string, Reading> };
    global.datameshFingerprintReadings ??= new Map();
    return global.datameshFingerprintReadings;
}

export const sourceFingerprintProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: FingerprintInputs) {
        return { id: crypto.randomUUID(), outs: { ...inputs, ...(await readFingerprint(inputs)) } };
    },
    async diff(_id: string, olds: FingerprintOutputs, news: FingerprintInputs) {
        if (JSON.stringify(olds.sources) !== JSON.stringify(news.sources) || olds.loaded !== news.loaded) {
            return { changes: true };
        }
        try {
            const current = await readFingerprint(news, olds.tables);
            readings().set(news.component, { inputs: JSON.stringify(news), at: Date.now(), current });
            // Facts that no longer match (or a state from before they were kept) are recorded again, so
            // that the next reading can use them; the dbt run follows the fingerprint only.
            const factsChanged = current.tables.some(facts => {
                const recorded = olds.tables.find(old => old.table === facts.table);
                return recorded?.columnsChecksum !== facts.columnsChecksum || JSON.stringify(recorded?.columns) !== JSON.stringify(facts.columns);
            });
            return { changes: current.fingerprint !== olds.fingerprint || factsChanged };
        } catch (error) {
            // Trino's refusal (a table gone, a column renamed) is the answer; an unreachable coordinator
            // is read again once the deployment has restarted it.
            if (isTrinoRefusal(error) || (error as Error).message.startsWith(`${news.component}: `)) {
                throw error;
            }
            return { changes: true };
        }
    },
    async update(_id: string, _olds: FingerprintOutputs, news: FingerprintInputs) {
        const reading = readings().get(news.component);
        readings().delete(news.component);
        const fresh = reading && reading.inputs === JSON.stringify(news) && Date.now() - reading.at < READING_REUSE_MS;
        return { outs: { ...news, ...(fresh ? reading.current : await readFingerprint(news)) } };
    },
};

export interface SourceFingerprintArgs {
    /** Names the owning component in errors. */
    component: string;
    /** How the deploying process reaches Trino, and as whom (secret). */
    access: pulumi.Input<TrinoAccess>;
    /** The tables to read. */
    sources: SourceTable[];
    /** The coordinator's release, read from it. */
    trinoVersion: pulumi.Input<string>;
    /** Changes when the stack reloads the domains. */
    loaded: pulumi.Input<string>;
}

/** The sources' current content as one digest; it changes exactly when what the insights read changes. */
export class SourceFingerprint extends pulumi.dynamic.Resource {
    public readonly fingerprint!: pulumi.Output<string>;
    /** Each table with the rows it held when last read. */
    public readonly tables!: pulumi.Output<TableFacts[]>;

    constructor(name: string, args: SourceFingerprintArgs, opts?: pulumi.CustomResourceOptions) {
        super(sourceFingerprintProvider, name, { ...args, fingerprint: undefined, tables: undefined }, { ...opts, additionalSecretOutputs: ["access"] }, "datamesh", "SourceFingerprint");
    }
}
