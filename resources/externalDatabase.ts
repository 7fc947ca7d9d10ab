import * as pulumi from "@pulumi/pulumi";
import { Engine, TableSpec } from "../lib/domains";
import { quoteIdentifier } from "../lib/sql";
import { connect, Credentials } from "./domainData";
import { inputsDiff } from "./inputs";

/*
 * An existing database that joins the mesh as a domain. The stack only reads it, as the read-only
 * user its team gave, before Trino is configured for it: a database that cannot be reached, refuses
 * the credentials or lacks a declared table fails the deployment there, naming the domain and the
 * address, and nothing in it is ever written, created or dropped (`delete` does nothing).
 */

interface ProbeInputs {
    domainName: string;
    engine: Engine;
    host: string;
    port: number;
    database: string;
    /** PostgreSQL's schema, or MariaDB's database, that holds the tables. */
    schema: string;
    reader: Credentials;
    tables: TableSpec[];
}

/** Each declared table's row count, read as the reader; any failure names the domain and the address. */
export async function probeExternalDatabase(inputs: ProbeInputs): Promise<Record<string, number>> {
    const where = `external domain '${inputs.domainName}' at ${inputs.host}:${inputs.port} (database ${inputs.database}, user ${inputs.reader.user})`;
    let session: Awaited<ReturnType<typeof connect>>;
    try {
        session = await connect({ engine: inputs.engine, host: inputs.host, port: inputs.port }, inputs.reader, inputs.database);
    } catch (e) {
        throw new Error(`${where}: cannot connect: ${(e as Error).message}`);
    }
    try {
        const counts: Record<string, number> = {};
        for (const table of inputs.tables) {
            const qualified = `${quoteIdentifier(inputs.engine, inputs.schema)}.${quoteIdentifier(inputs.engine, table.name)}`;
            try {
                counts[table.name] = Number(await session.scalar(`SELECT count(*) FROM ${qualified}`));
            } catch (e) {
                throw new Error(`${where}: cannot read declared table ${inputs.schema}.${table.name}: ${(e as Error).message}`);
            }
        }
        return counts;
    } finally {
        await session.close().catch(() => undefined);
    }
}

const probeProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: ProbeInputs) {
        return { id: `${inputs.engine}://${inputs.host}:${inputs.port}/${inputs.database}`, outs: { ...inputs, rowCounts: await probeExternalDatabase(inputs) } };
    },
    async diff(_id: string, olds: ProbeInputs, news: ProbeInputs) {
        return inputsDiff(olds, news);
    },
    async update(_id: string, _olds: ProbeInputs, news: ProbeInputs) {
        return { outs: { ...news, rowCounts: await probeExternalDatabase(news) } };
    },
    // The database, its users and its rows belong to the domain's team: removing the domain from the mesh leaves them as they are.
    async delete() {},
};

export interface ExternalDatabaseProbeArgs {
    domainName: pulumi.Input<string>;
    engine: pulumi.Input<Engine>;
    host: pulumi.Input<string>;
    port: pulumi.Input<number>;
    database: pulumi.Input<string>;
    schema: pulumi.Input<string>;
    reader: pulumi.Input<{ user: pulumi.Input<string>; password: pulumi.Input<string> }>;
    tables: pulumi.Input<TableSpec[]>;
}

/** The external database as its reader sees it: reachable, and holding every declared table. */
export class ExternalDatabaseProbe extends pulumi.dynamic.Resource {
    /** Rows each declared table held when the probe last ran. */
    public readonly rowCounts!: pulumi.Output<Record<string, number>>;

    constructor(name: string, args: ExternalDatabaseProbeArgs, opts?: pulumi.CustomResourceOptions) {
        super(probeProvider, name, { ...args, rowCounts: undefined }, { ...opts, additionalSecretOutputs: ["reader"] }, "datamesh", "ExternalDatabaseProbe");
    }
}
