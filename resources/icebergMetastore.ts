import * as pulumi from "@pulumi/pulumi";
import { createPostgresDatabaseSql, icebergMetastoreSql } from "../lib/sql";

/*
 * The Iceberg JDBC catalog keeps its table and namespace pointers in two tables that it does not
 * create itself, so they exist before Trino first opens the catalog. The connector's user may only
 * read and write rows in them.
 */

interface MetastoreInputs {
    host: string;
    port: number;
    admin: { user: string; password: string };
    database: string;
    connector: { user: string; password: string };
}

async function applyMetastore(inputs: MetastoreInputs): Promise<void> {
    const pg = require("pg");
    const statements = icebergMetastoreSql({ database: inputs.database, connectorUser: inputs.connector.user, connectorPassword: inputs.connector.password });
    const createDatabase = createPostgresDatabaseSql(inputs.database);
    const asAdmin = (database: string) => new pg.Client({ host: inputs.host, port: inputs.port, user: inputs.admin.user, password: inputs.admin.password, database });
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
    const database = asAdmin(inputs.database);
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
    async update(_id: string, _olds: MetastoreInputs, news: MetastoreInputs) {
        await applyMetastore(news);
        return { outs: news };
    },
};

export interface IcebergMetastoreArgs {
    host: pulumi.Input<string>;
    port: pulumi.Input<number>;
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
