import * as pulumi from "@pulumi/pulumi";
import * as crypto from "crypto";
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
}

/** Every table's row count and checksum over the given columns, and the checksum of its columns, in one statement. */
async function readContents(connection: TrinoConnection, sources: SourceTable[], columns: string[][][]): Promise<TableContents[]> {
    const hex = (value: unknown) => (value === null || value === undefined ? "" : String(value));
    const parts = sources.flatMap((source, i) => [
        `SELECT ${i} AS position, 'rows' AS kind, count(*) AS count, to_hex(checksum(ROW(${columns[i].map(([name]) => quoted(name)).join(", ")}))) AS checksum ` +
            `FROM ${quoted(source.catalog)}.${quoted(source.schema)}.${quoted(source.table)}`,
        `SELECT ${i}, 'columns', count(*), to_hex(checksum(ROW(ordinal_position, column_name, data_type))) ${columnsOf(source)}`,
    ]);
    const { rows } = await queryTrino(connection, parts.join(" UNION ALL "));
    const find = (i: number, kind: string) => rows.find(([position, rowKind]) => Number(position) === i && rowKind === kind)!;
    return sources.map((_, i) => ({ rows: Number(find(i, "rows")[2]), checksum: hex(find(i, "rows")[3]), columnsChecksum: hex(find(i, "columns")[3]) }));
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
