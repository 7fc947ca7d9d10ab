import { ColumnType, Engine, TableSpec } from "./domains";

/** Who may do what in a domain database: its owner loads and owns the data, the reader only selects. */
export interface DomainAccessSpec {
    engine: Engine;
    database: string;
    ownerUser: string;
    ownerPassword: string;
    readerUser: string;
    readerPassword: string;
    tables: TableSpec[];
}

export function quoteIdentifier(engine: Engine, name: string): string {
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) {
        throw new Error(`'${name}' is not a plain lower-case SQL identifier`);
    }
    return engine === "mariadb" ? `\`${name}\`` : `"${name}"`;
}

/**
 * A string literal in the engine's syntax. PostgreSQL (with standard_conforming_strings on, its
 * default since 9.1, which the stack's servers keep) takes a backslash as itself; MariaDB (without
 * NO_BACKSLASH_ESCAPES in sql_mode, its default) takes it as an escape, so it is doubled there.
 */
export function quoteLiteral(engine: Engine, value: string): string {
    const escaped = engine === "mariadb" ? value.replace(/\\/g, "\\\\") : value;
    return `'${escaped.replace(/'/g, "''")}'`;
}

const COLUMN_TYPES: Record<Engine, Record<ColumnType, string>> = {
    postgresql: { integer: "BIGINT", text: "TEXT", date: "DATE" },
    mariadb: { integer: "BIGINT", text: "VARCHAR(1024)", date: "DATE" },
};

/** The type Trino reads a column of a table the stack created as: its connectors keep a VARCHAR's length. */
export function trinoTypeOfManagedColumn(engine: Engine, type: ColumnType): string {
    return COLUMN_TYPES[engine][type].toLowerCase().replace(/^text$/, "varchar");
}

/** A domain table's DDL, as declared: every column NOT NULL, the primary key its own. */
export function createTableSql(engine: Engine, table: TableSpec): string {
    const q = (n: string) => quoteIdentifier(engine, n);
    const columns = table.columns.map(c => `${q(c.name)} ${COLUMN_TYPES[engine][c.type]}${c.name === table.primaryKey ? " PRIMARY KEY" : " NOT NULL"}`);
    const suffix = engine === "mariadb" ? " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin" : "";
    return `CREATE TABLE IF NOT EXISTS ${q(table.name)} (${columns.join(", ")})${suffix}`;
}

/**
 * A table's columns in the connected database (MariaDB) or current schema (PostgreSQL), in order:
 * name, information_schema's type, and 1 for the primary key's column. `declaredShape` gives a
 * declaration's in the same form, so that a load can tell a table of another shape.
 */
export function tableShapeSql(engine: Engine, table: string): string {
    const schema = engine === "postgresql" ? "current_schema()" : "DATABASE()";
    const primaryKey =
        "SELECT 1 FROM information_schema.table_constraints t JOIN information_schema.key_column_usage k" +
        " ON k.constraint_schema = t.constraint_schema AND k.constraint_name = t.constraint_name AND k.table_name = t.table_name" +
        " WHERE t.constraint_type = 'PRIMARY KEY' AND t.table_schema = c.table_schema AND t.table_name = c.table_name AND k.column_name = c.column_name";
    return (
        `SELECT c.column_name, lower(c.data_type), CASE WHEN EXISTS (${primaryKey}) THEN 1 ELSE 0 END` +
        ` FROM information_schema.columns c WHERE c.table_schema = ${schema} AND c.table_name = ${quoteLiteral(engine, table)} ORDER BY c.ordinal_position`
    );
}

/** The rows `tableShapeSql` returns for a table created by `createTableSql`. */
export function declaredShape(engine: Engine, table: TableSpec): [string, string, number][] {
    return table.columns.map(c => [c.name, COLUMN_TYPES[engine][c.type].toLowerCase().replace(/\(.*$/, ""), c.name === table.primaryKey ? 1 : 0]);
}

/**
 * MariaDB commits a change of a table's columns on its own, so a table of another shape than
 * declared is created and loaded beside the one readers see, under `stagedTableName`, and takes its
 * place only once its rows are committed; the table it replaces waits under `replacedTableName`
 * for the moment of the swap.
 */
export function stagedTableName(table: string): string {
    return `${table}__reshape`;
}

export function replacedTableName(table: string): string {
    return `${table}__old`;
}

/**
 * Puts each staged table in its table's place in one RENAME TABLE, which MariaDB does atomically:
 * a reader sees every old table or every new one. A table that did not exist (`replaces` false)
 * has nothing to move aside. Grants on a MariaDB table are kept by name, not moved by a rename, so
 * the new table has the grants the old one had.
 */
export function mariadbSwapSql(tables: { name: string; replaces: boolean }[]): string {
    const q = (n: string) => quoteIdentifier("mariadb", n);
    const moves = tables.flatMap(t => [...(t.replaces ? [`${q(t.name)} TO ${q(replacedTableName(t.name))}`] : []), `${q(stagedTableName(t.name))} TO ${q(t.name)}`]);
    return `RENAME TABLE ${moves.join(", ")}`;
}

/**
 * The grants on a PostgreSQL table that its owner made (or an administrator, which PostgreSQL
 * records as the owner's), to others, as [grantee, privilege, YES if grantable]: dropping the
 * table drops them.
 */
export function postgresTableGrantsSql(table: string): string {
    return (
        "SELECT grantee, privilege_type, is_grantable FROM information_schema.role_table_grants" +
        ` WHERE table_schema = current_schema() AND table_name = ${quoteLiteral("postgresql", table)} AND grantee <> current_user ORDER BY grantee, privilege_type`
    );
}

/**
 * Statements run as the server's administrator, in order, to create the domain's database and
 * users. They are idempotent: a re-run also resets the passwords to the ones in the stack.
 * PostgreSQL statements run in two places: `server` on the maintenance database, `database`
 * inside the domain's database.
 */
/** A PostgreSQL login role with this password, created if missing; a re-run resets the password. */
function postgresLoginSql(user: string, password: string): string[] {
    const role = quoteIdentifier("postgresql", user);
    return [
        `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${quoteLiteral("postgresql", user)}) THEN CREATE ROLE ${role} LOGIN; END IF; END $$`,
        `ALTER ROLE ${role} WITH LOGIN PASSWORD ${quoteLiteral("postgresql", password)}`,
    ];
}

/**
 * PostgreSQL has no CREATE DATABASE IF NOT EXISTS, and cannot create one inside a transaction or
 * a DO block: callers run `exists` on the maintenance database, then `create` when it returns no row.
 */
export function createPostgresDatabaseSql(database: string, owner?: string): { exists: string; create: string } {
    const ownedBy = owner ? ` OWNER ${quoteIdentifier("postgresql", owner)}` : "";
    return {
        exists: `SELECT 1 FROM pg_database WHERE datname = ${quoteLiteral("postgresql", database)}`,
        create: `CREATE DATABASE ${quoteIdentifier("postgresql", database)}${ownedBy} ENCODING 'UTF8' TEMPLATE template0`,
    };
}

/**
 * The read-only user the stack creates in an external domain's database, as that database's
 * administrator: a login with this password, allowed to read the declared tables and nothing
 * else. Idempotent; a re-run resets the password. PostgreSQL's grants run inside the database.
 */
export function externalReaderSql(spec: { engine: Engine; database: string; schema: string; reader: string; password: string; tables: string[] }): { server: string[]; database: string[] } {
    const q = (n: string) => quoteIdentifier(spec.engine, n);
    if (spec.engine === "postgresql") {
        return {
            server: postgresLoginSql(spec.reader, spec.password),
            database: [
                `GRANT CONNECT ON DATABASE ${q(spec.database)} TO ${q(spec.reader)}`,
                `GRANT USAGE ON SCHEMA ${q(spec.schema)} TO ${q(spec.reader)}`,
                ...spec.tables.map(table => `GRANT SELECT ON ${q(spec.schema)}.${q(table)} TO ${q(spec.reader)}`),
            ],
        };
    }
    const account = `${quoteLiteral("mariadb", spec.reader)}@'%'`;
    return {
        server: [
            `CREATE USER IF NOT EXISTS ${account} IDENTIFIED BY ${quoteLiteral("mariadb", spec.password)}`,
            `ALTER USER ${account} IDENTIFIED BY ${quoteLiteral("mariadb", spec.password)}`,
            ...spec.tables.map(table => `GRANT SELECT ON ${q(spec.database)}.${q(table)} TO ${account}`),
        ],
        database: [],
    };
}

export function domainAccessSql(spec: DomainAccessSpec): { server: string[]; database: string[] } {
    const q = (n: string) => quoteIdentifier(spec.engine, n);
    if (spec.engine === "postgresql") {
        return {
            server: [...postgresLoginSql(spec.ownerUser, spec.ownerPassword), ...postgresLoginSql(spec.readerUser, spec.readerPassword)],
            database: [
                `REVOKE ALL ON DATABASE ${q(spec.database)} FROM PUBLIC`,
                `REVOKE CREATE ON SCHEMA public FROM PUBLIC`,
                `GRANT CONNECT, TEMPORARY ON DATABASE ${q(spec.database)} TO ${q(spec.ownerUser)}`,
                `GRANT CONNECT ON DATABASE ${q(spec.database)} TO ${q(spec.readerUser)}`,
                `GRANT USAGE, CREATE ON SCHEMA public TO ${q(spec.ownerUser)}`,
                `GRANT USAGE ON SCHEMA public TO ${q(spec.readerUser)}`,
                ...spec.tables.flatMap(table => [
                    createTableSql(spec.engine, table),
                    `ALTER TABLE ${q(table.name)} OWNER TO ${q(spec.ownerUser)}`,
                    `GRANT SELECT ON ${q(table.name)} TO ${q(spec.readerUser)}`,
                ]),
            ],
        };
    }
    const account = (user: string) => `${quoteLiteral("mariadb", user)}@'%'`;
    const db = q(spec.database);
    return {
        server: [
            `CREATE DATABASE IF NOT EXISTS ${db} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
            `CREATE USER IF NOT EXISTS ${account(spec.ownerUser)} IDENTIFIED BY ${quoteLiteral("mariadb", spec.ownerPassword)}`,
            `ALTER USER ${account(spec.ownerUser)} IDENTIFIED BY ${quoteLiteral("mariadb", spec.ownerPassword)}`,
            `CREATE USER IF NOT EXISTS ${account(spec.readerUser)} IDENTIFIED BY ${quoteLiteral("mariadb", spec.readerPassword)}`,
            `ALTER USER ${account(spec.readerUser)} IDENTIFIED BY ${quoteLiteral("mariadb", spec.readerPassword)}`,
            `GRANT ALL PRIVILEGES ON ${db}.* TO ${account(spec.ownerUser)}`,
        ],
        database: spec.tables.flatMap(table => [createTableSql(spec.engine, table), `GRANT SELECT ON ${db}.${q(table.name)} TO ${account(spec.readerUser)}`]),
    };
}

/**
 * The engine's own bulk loader, reading the CSV that `bulkLoadCsv` writes from the client:
 * PostgreSQL's COPY FROM STDIN, MariaDB's LOAD DATA LOCAL INFILE. Both read a quoted empty field as
 * an empty text, and MariaDB, with no escape character, takes backslashes as they are.
 */
export function bulkLoadSql(engine: Engine, table: TableSpec): string {
    const q = (n: string) => quoteIdentifier(engine, n);
    const columns = table.columns.map(c => q(c.name)).join(", ");
    return engine === "postgresql"
        ? `COPY ${q(table.name)} (${columns}) FROM STDIN WITH (FORMAT csv)`
        : `LOAD DATA LOCAL INFILE 'rows.csv' INTO TABLE ${q(table.name)} CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"' ESCAPED BY '' LINES TERMINATED BY '\\n' (${columns})`;
}

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

/**
 * The Iceberg JDBC catalog's database as the administrator sets it up, in two places like
 * domainAccessSql: `server` on the maintenance database, `database` inside the catalog's database
 * (created in between, see createPostgresDatabaseSql). The connector may only read and write rows
 * in the two catalog tables. Idempotent.
 */
export function icebergMetastoreSql(spec: { database: string; connectorUser: string; connectorPassword: string }): { server: string[]; database: string[] } {
    const user = quoteIdentifier("postgresql", spec.connectorUser);
    const database = quoteIdentifier("postgresql", spec.database);
    return {
        server: postgresLoginSql(spec.connectorUser, spec.connectorPassword),
        database: [
            `REVOKE ALL ON DATABASE ${database} FROM PUBLIC`,
            `GRANT CONNECT ON DATABASE ${database} TO ${user}`,
            ...ICEBERG_JDBC_TABLES_SQL,
            `GRANT USAGE ON SCHEMA public TO ${user}`,
            `GRANT SELECT, INSERT, UPDATE, DELETE ON iceberg_tables, iceberg_namespace_properties TO ${user}`,
        ],
    };
}
