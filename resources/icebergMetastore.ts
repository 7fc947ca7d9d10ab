import * as pulumi from "@pulumi/pulumi";
import { KubeTunnel, openPortForward } from "../lib/kubectl";
import { createPostgresDatabaseSql, icebergMetastoreSql } from "../lib/sql";
import { inputsDiff } from "./inputs";

/*
 * The Iceberg JDBC catalog keeps its table and namespace pointers in two tables that it does not
 * create itself, so they exist before Trino first opens the catalog. The connector's user may only
 * read and write rows in them.
 */

interface MetastoreInputs {
    host: string;
    port: number;
    /** Inside a cluster: the server's Service, reached through a port-forward instead of host and port. */
    tunnel?: KubeTunnel;
    admin: { user: string; password: string };
    database: string;
    connector: { user: string; password: string };
}

async function applyMetastore(inputs: MetastoreInputs): Promise<void> {
    const pg = require("pg");
    const statements = icebergMetastoreSql({ database: inputs.database, connectorUser: inputs.connector.user, connectorPassword: inputs.connector.password });
    const createDatabase = createPostgresDatabaseSql(inputs.database);
    const forward = inputs.tunnel ? await openPortForward(inputs.tunnel) : undefined;
    try {
        const host = forward ? "127.0.0.1" : inputs.host;
        const port = forward ? forward.localPort : inputs.port;
        const asAdmin = (database: string) => new pg.Client({ host, port, user: inputs.admin.user, password: inputs.admin.password, database });
        await applyAs(asAdmin, statements, createDatabase, inputs.database);
    } finally {
        forward?.close();
    }
}

interface AdminClient {
    connect(): Promise<void>;
    query(sql: string): Promise<{ rowCount: number | null }>;
    end(): Promise<void>;
}

async function applyAs(
    asAdmin: (database: string) => AdminClient,
    statements: { server: string[]; database: string[] },
    createDatabase: { exists: string; create: string },
    databaseName: string,
): Promise<void> {
    const server = asAdmin("postgres");
    await server.connect();
    try {
        for (const sql of statements.server) {
            await server.query(sql);
        }
        if ((await server.query(createDatabase.exists)).rowCount === 0) {
            await server.query(createDatabase.create);
        }
    } finally {
        await server.end();
    }
    const database = asAdmin(databaseName);
    await database.connect();
    try {
        for (const sql of statements.database) {
            await database.query(sql);
        }
    } finally {
        await database.end();
    }
}

const metastoreProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: MetastoreInputs) {
        await applyMetastore(inputs);
        return { id: `${inputs.port}/${inputs.database}`, outs: inputs };
    },
    async diff(_id: string, olds: MetastoreInputs, news: MetastoreInputs) {
        return inputsDiff(olds, news);
    },
    async update(_id: string, _olds: MetastoreInputs, news: MetastoreInputs) {
        await applyMetastore(news);
        return { outs: news };
    },
};

export interface IcebergMetastoreArgs {
    host: pulumi.Input<string>;
    port: pulumi.Input<number>;
    /** Inside a cluster: reach the server through a port-forward to this Service. */
    tunnel?: pulumi.Input<KubeTunnel>;
    admin: pulumi.Input<{ user: pulumi.Input<string>; password: pulumi.Input<string> }>;
    database: pulumi.Input<string>;
    connector: pulumi.Input<{ user: pulumi.Input<string>; password: pulumi.Input<string> }>;
}

/** The Iceberg JDBC catalog's database, tables and connector user in a PostgreSQL server. */
export class IcebergMetastore extends pulumi.dynamic.Resource {
    constructor(name: string, args: IcebergMetastoreArgs, opts?: pulumi.CustomResourceOptions) {
        super(metastoreProvider, name, { ...args }, { ...opts, additionalSecretOutputs: ["admin", "connector"] }, "datamesh", "IcebergMetastore");
    }
}
