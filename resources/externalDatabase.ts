import * as pulumi from "@pulumi/pulumi";
import { DatabaseTls, Engine, TableSpec } from "../lib/domains";
import { KubeTunnel } from "../lib/kubectl";
import { externalReaderSql, quoteIdentifier } from "../lib/sql";
import { connect, connectionFailure, Credentials } from "./domainData";
import { inputsDiff } from "./inputs";

/*
 * An existing database that joins the mesh as a domain. The stack only reads it, as the read-only
 * user its team gave, before Trino is configured for it: a database that cannot be reached, refuses
 * the credentials or lacks a declared table fails the deployment there, naming the domain and the
 * address, and no row in it is ever written. Given an administrator, the stack creates the
 * read-only user itself; it never drops it (`delete` does nothing), as the database is the team's.
 */

interface ProbeInputs {
    domainName: string;
    engine: Engine;
    host: string;
    port: number;
    /** A Service of the cluster, which the deploying machine reaches through a port-forward instead of host and port. */
    tunnel?: KubeTunnel;
    database: string;
    /** PostgreSQL's schema, or MariaDB's database, that holds the tables. */
    schema: string;
    reader: Credentials;
    tables: TableSpec[];
    tls: DatabaseTls | null;
}

/** Each declared table's row count, read as the reader; any failure names the domain and the address. */
export async function probeExternalDatabase(inputs: ProbeInputs): Promise<Record<string, number>> {
    const where = `external domain '${inputs.domainName}' at ${inputs.host}:${inputs.port} (database ${inputs.database}, user ${inputs.reader.user})`;
    const endpoint = { engine: inputs.engine, host: inputs.host, port: inputs.port, tunnel: inputs.tunnel, tls: inputs.tls ?? undefined };
    let session: Awaited<ReturnType<typeof connect>>;
    try {
        session = await connect(endpoint, inputs.reader, inputs.database);
    } catch (e) {
        throw new Error(`${where}: cannot connect: ${await connectionFailure(e, endpoint)}`);
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
    tunnel?: pulumi.Input<KubeTunnel>;
    database: pulumi.Input<string>;
    schema: pulumi.Input<string>;
    reader: pulumi.Input<{ user: pulumi.Input<string>; password: pulumi.Input<string> }>;
    tables: pulumi.Input<TableSpec[]>;
    /** null when the database is reached in clear. */
    tls: pulumi.Input<DatabaseTls | null>;
}

/** The external database as its reader sees it: reachable, and holding every declared table. */
export class ExternalDatabaseProbe extends pulumi.dynamic.Resource {
    /** Rows each declared table held when the probe last ran. */
    public readonly rowCounts!: pulumi.Output<Record<string, number>>;

    constructor(name: string, args: ExternalDatabaseProbeArgs, opts?: pulumi.CustomResourceOptions) {
        super(probeProvider, name, { ...args, rowCounts: undefined }, { ...opts, additionalSecretOutputs: ["reader"] }, "datamesh", "ExternalDatabaseProbe");
    }
}

interface ReaderInputs {
    domainName: string;
    engine: Engine;
    host: string;
    port: number;
    tunnel?: KubeTunnel;
    database: string;
    schema: string;
    admin: Credentials;
    reader: Credentials;
    tables: string[];
    tls?: DatabaseTls;
}

/** Creates or updates the read-only user as the administrator; any failure names the domain and the address. */
async function grantReader(inputs: ReaderInputs): Promise<void> {
    const where = `external domain '${inputs.domainName}' at ${inputs.host}:${inputs.port} (database ${inputs.database}, administrator ${inputs.admin.user})`;
    const statements = externalReaderSql({ engine: inputs.engine, database: inputs.database, schema: inputs.schema, reader: inputs.reader.user, password: inputs.reader.password, tables: inputs.tables });
    const endpoint = { engine: inputs.engine, host: inputs.host, port: inputs.port, tunnel: inputs.tunnel, tls: inputs.tls };
    for (const [database, sqls] of [[undefined, statements.server], [inputs.database, statements.database]] as const) {
        if (sqls.length === 0) {
            continue;
        }
        let session: Awaited<ReturnType<typeof connect>>;
        try {
            session = await connect(endpoint, inputs.admin, database);
        } catch (e) {
            throw new Error(`${where}: cannot connect: ${await connectionFailure(e, endpoint)}`);
        }
        try {
            for (const sql of sqls) {
                await session.run(sql);
            }
        } catch (e) {
            throw new Error(`${where}: cannot create the read-only user ${inputs.reader.user}: ${(e as Error).message}`);
        } finally {
            await session.close().catch(() => undefined);
        }
    }
}

const readerProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: ReaderInputs) {
        await grantReader(inputs);
        return { id: `${inputs.engine}://${inputs.host}:${inputs.port}/${inputs.database}#${inputs.reader.user}`, outs: inputs };
    },
    async diff(_id: string, olds: ReaderInputs, news: ReaderInputs) {
        return inputsDiff(olds, news);
    },
    async update(_id: string, _olds: ReaderInputs, news: ReaderInputs) {
        await grantReader(news);
        return { outs: news };
    },
    // The user stays: the database and its users belong to the domain's team, who may use it elsewhere.
    async delete() {},
};

export interface ExternalReaderArgs {
    domainName: pulumi.Input<string>;
    engine: pulumi.Input<Engine>;
    host: pulumi.Input<string>;
    port: pulumi.Input<number>;
    tunnel?: pulumi.Input<KubeTunnel>;
    database: pulumi.Input<string>;
    schema: pulumi.Input<string>;
    admin: pulumi.Input<{ user: pulumi.Input<string>; password: pulumi.Input<string> }>;
    reader: pulumi.Input<{ user: pulumi.Input<string>; password: pulumi.Input<string> }>;
    tables: pulumi.Input<string[]>;
    tls?: pulumi.Input<DatabaseTls>;
}

/** The read-only user Trino connects as, made by the stack in the team's database from an administrator's login. */
export class ExternalReader extends pulumi.dynamic.Resource {
    constructor(name: string, args: ExternalReaderArgs, opts?: pulumi.CustomResourceOptions) {
        super(readerProvider, name, { ...args }, { ...opts, additionalSecretOutputs: ["admin", "reader"] }, "datamesh", "ExternalReader");
    }
}
