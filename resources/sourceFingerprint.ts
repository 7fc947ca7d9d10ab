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
}

interface FingerprintOutputs extends FingerprintInputs {
    fingerprint: string;
    tables: TableFacts[];
}


function quoted(name: string): string {
    return `"${name.replace(/"/g, '""')}"`;
}

async function readTable(connection: TrinoConnection, source: SourceTable, component: string): Promise<{ facts: TableFacts; digest: string }> {
    const name = `${source.catalog}.${source.schema}.${source.table}`;
    const columns = await queryTrino(
        connection,
        `SELECT column_name, data_type FROM ${quoted(source.catalog)}.information_schema.columns ` +
            `WHERE table_schema = ${trinoLiteral(source.schema)} AND table_name = ${trinoLiteral(source.table)} ORDER BY ordinal_position`,
    );
    if (columns.rows.length === 0) {
        throw new Error(`${component}: the source table ${name} is gone, or ${connection.user} may no longer read it; the published insights are unchanged`);
    }
    const list = columns.rows.map(([column]) => quoted(String(column))).join(", ");
    const { rows } = await queryTrino(
        connection,
        `SELECT count(*), to_hex(checksum(ROW(${list}))) FROM ${quoted(source.catalog)}.${quoted(source.schema)}.${quoted(source.table)}`,
    );
    const [count, checksum] = rows[0];
    return { facts: { table: name, rows: Number(count) }, digest: `${name}\0${JSON.stringify(columns.rows)}\0${count}\0${checksum ?? ""}` };
}

async function readFingerprint(inputs: FingerprintInputs): Promise<{ fingerprint: string; tables: TableFacts[] }> {
    return withTrino(inputs.access, async connection => {
        const read = await Promise.all(inputs.sources.map(source => readTable(connection, source, inputs.component)));
        const hash = crypto.createHash("sha256");
        for (const { digest } of read) {
            hash.update(digest).update("\0");
        }
        return { fingerprint: hash.digest("hex"), tables: read.map(r => r.facts) };
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
            const current = await readFingerprint(news);
            return { changes: current.fingerprint !== olds.fingerprint };
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
