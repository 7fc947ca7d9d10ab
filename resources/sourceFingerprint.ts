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

async function readColumns(connection: TrinoConnection, source: SourceTable, component: string): Promise<string[][]> {
    const { rows } = await queryTrino(
        connection,
        `SELECT column_name, data_type FROM ${quoted(source.catalog)}.information_schema.columns ` +
            `WHERE table_schema = ${trinoLiteral(source.schema)} AND table_name = ${trinoLiteral(source.table)} ORDER BY ordinal_position`,
    );
    if (rows.length === 0) {
        throw new Error(`${component}: the source table ${tableName(source)} is gone, or ${connection.user} may no longer read it; the published insights are unchanged`);
    }
    return rows.map(row => row.map(String));
}

/** Every table's row count and checksum over the given columns, in one statement. */
async function readContents(connection: TrinoConnection, sources: SourceTable[], columns: string[][][]): Promise<{ rows: number; checksum: string }[]> {
    const parts = sources.map(
        (source, i) =>
            `SELECT ${i} AS position, count(*), to_hex(checksum(ROW(${columns[i].map(([name]) => quoted(name)).join(", ")}))) ` +
            `FROM ${quoted(source.catalog)}.${quoted(source.schema)}.${quoted(source.table)}`,
    );
    const { rows } = await queryTrino(connection, `${parts.join(" UNION ALL ")} ORDER BY position`);
    return rows.map(([, count, checksum]) => ({ rows: Number(count), checksum: checksum === null || checksum === undefined ? "" : String(checksum) }));
}

/**
 * Reads every source's columns and contents. With the columns of the last reading, both are read at
 * once; only when the columns have changed are the contents read again with the new ones.
 */
async function readFingerprint(inputs: FingerprintInputs, last?: TableFacts[]): Promise<{ fingerprint: string; tables: TableFacts[] }> {
    return withTrino(inputs.access, async connection => {
        const lastColumns = inputs.sources.map(source => last?.find(facts => facts.table === tableName(source))?.columns);
        const known = lastColumns.every(columns => columns !== undefined) ? (lastColumns as string[][][]) : undefined;
        const columnsRead = Promise.all(inputs.sources.map(source => readColumns(connection, source, inputs.component)));
        const contentsRead = known ? readContents(connection, inputs.sources, known) : undefined;
        contentsRead?.catch(() => undefined);
        const columns = await columnsRead;
        const contents = known && JSON.stringify(known) === JSON.stringify(columns) ? await contentsRead! : await readContents(connection, inputs.sources, columns);
        const hash = crypto.createHash("sha256");
        inputs.sources.forEach((source, i) => {
            hash.update(`${tableName(source)}\0${JSON.stringify(columns[i])}\0${contents[i].rows}\0${contents[i].checksum}`).update("\0");
        });
        return { fingerprint: hash.digest("hex"), tables: inputs.sources.map((source, i) => ({ table: tableName(source), rows: contents[i].rows, columns: columns[i] })) };
    });
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
            // A state from before the columns were kept is updated once, so that later readings can use them.
            return { changes: current.fingerprint !== olds.fingerprint || olds.tables.some(facts => facts.columns === undefined) };
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
        return { outs: { ...news, ...(await readFingerprint(news)) } };
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
