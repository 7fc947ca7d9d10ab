import * as pulumi from "@pulumi/pulumi";

/*
 * The Iceberg JDBC catalog keeps its table and namespace pointers in two tables that it does not
 * create itself, so they exist before Trino first opens the catalog. The connector's user may only
 * read and write rows in them.
 */

/** The two Iceberg JDBC catalog tables (schema V1, which includes views' iceberg_type). */
export const ICEBERG_JDBC_TABLES_SQL = [
    `CREATE TABLE IF NOT EXISTS iceberg_tables (
  catalog_name VARCHAR(255) NOT NULL,
  table_namespace VARCHAR(255) NOT NULL,
  table_name VARCHAR(255) NOT NULL,
  metadata_location VARCHAR(1000),
  previous_metadata_location VARCHAR(1000),
  iceberg_type VARCHAR(5),
  PRIMARY KEY (catalog_name, table_namespace, table_name))`,
    `CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (
  catalog_name VARCHAR(255) NOT NULL,
  namespace VARCHAR(255) NOT NULL,
  property_key VARCHAR(255),
  property_value VARCHAR(1000),
  PRIMARY KEY (catalog_name, namespace, property_key))`,
];

interface MetastoreInputs {
    host: string;
    port: number;
    admin: { user: string; password: string };
    database: string;
    connector: { user: string; password: string };
}

async function applyMetastore(inputs: MetastoreInputs): Promise<void> {
    const pg = require("pg");
    const asAdmin = (database: string) => new pg.Client({ host: inputs.host, port: inputs.port, user: inputs.admin.user, password: inputs.admin.password, database });
    const server = asAdmin("postgres");
    await server.connect();
    try {
        const user = inputs.connector.user.replace(/"/g, "");
        const exists = await server.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [user]);
        await server.query(`${exists.rowCount === 0 ? "CREATE" : "ALTER"} ROLE "${user}" LOGIN PASSWORD '${inputs.connector.password.replace(/'/g, "''")}'`);
        const db = await server.query("SELECT 1 FROM pg_database WHERE datname = $1", [inputs.database]);
        if (db.rowCount === 0) {
            await server.query(`CREATE DATABASE "${inputs.database}" ENCODING 'UTF8' TEMPLATE template0`);
        }
        await server.query(`REVOKE ALL ON DATABASE "${inputs.database}" FROM PUBLIC`);
        await server.query(`GRANT CONNECT ON DATABASE "${inputs.database}" TO "${user}"`);
    } finally {
        await server.end();
    }
    const database = asAdmin(inputs.database);
    await database.connect();
    try {
        for (const sql of ICEBERG_JDBC_TABLES_SQL) {
            await database.query(sql);
        }
        await database.query(`GRANT USAGE ON SCHEMA public TO "${inputs.connector.user}"`);
        await database.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON iceberg_tables, iceberg_namespace_properties TO "${inputs.connector.user}"`);
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
