import * as pulumi from "@pulumi/pulumi";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { DataSource, tableBulkLoadCsv } from "../lib/dataset";
import { isCertificateMismatch, presentedDatabaseCertificate } from "../lib/certificates";
import { DatabaseTls, Engine, TableSpec } from "../lib/domains";
import { KubeTunnel, openPortForward, PortForward } from "../lib/kubectl";
import { bulkLoadSql, createPostgresDatabaseSql, createTableSql, declaredShape, domainAccessSql, mariadbSwapSql, postgresTableGrantsSql, quoteIdentifier, replacedTableName, stagedTableName, tableShapeSql } from "../lib/sql";
import { inputsDiff } from "./inputs";

/*
 * Platform-neutral steps inside a running database server: create the domain's database, users
 * and table, then load the data. They reach the server over TCP, so any platform that exposes
 * the server's port can use them.
 */

export interface Endpoint {
    engine: Engine;
    host: string;
    port: number;
    /** Inside a cluster: the server's Service, reached through a port-forward instead of host and port. */
    tunnel?: KubeTunnel;
    /** How the connection is encrypted; in clear when unset. */
    tls?: DatabaseTls;
}

export interface Credentials {
    user: string;
    password: string;
}

type CredentialsInput = pulumi.Input<{ user: pulumi.Input<string>; password: pulumi.Input<string> }>;

/** One session with either engine, with just what the domain steps need. */
interface Session {
    run(sql: string, params?: unknown[]): Promise<void>;
    /** The number of rows a query returns. */
    count(sql: string): Promise<number>;
    /** The first column of a query's first row. */
    scalar(sql: string): Promise<unknown>;
    /** A query's rows, each an array of its columns' values. */
    rows(sql: string): Promise<unknown[][]>;
    /** Streams CSV into the engine's bulk loader (`bulkLoadSql`); returns the rows the engine took. */
    bulkLoad(sql: string, csv: Iterable<Buffer>): Promise<number>;
    close(): Promise<void>;
}

/**
 * The drivers' TLS options. verify-full checks the chain against the declared CA only (not the
 * machine's store) and the host name against the certificate, before any password is sent; the
 * drivers refuse a server that does not offer TLS at all.
 */
export function driverTls(engine: Engine, tls: DatabaseTls | undefined): object | undefined {
    if (!tls) {
        return undefined;
    }
    if (tls.mode === "require") {
        return { rejectUnauthorized: false };
    }
    // pg checks the host name with Node's own check; mysql2 only when asked to.
    return engine === "postgresql" ? { ca: tls.caPem, rejectUnauthorized: true } : { ca: tls.caPem, rejectUnauthorized: true, verifyIdentity: true };
}

/**
 * The `ssl` option of a pg or mysql2 connection to a domain, from the stack's `domains.<name>.tls`
 * output or a domain stack's `dataProduct.tls`: what a domain owner's script (or the benchmark's
 * writes) passes to connect.
 */
export function clientTlsOf(engine: Engine, tls: { mode: DatabaseTls["mode"]; caCert?: string | null } | null | undefined): { ssl?: object } {
    const ssl = tls ? driverTls(engine, { mode: tls.mode, ...(tls.caCert ? { caPem: tls.caCert } : {}) }) : undefined;
    return ssl ? { ssl } : {};
}

/**
 * A failed connection's message. A certificate the client refused is named on both sides: the
 * certificate the server presents (read again without credentials) and the CA it was checked against.
 */
export async function connectionFailure(error: unknown, endpoint: Endpoint): Promise<string> {
    const message = (error as Error).message;
    const tls = endpoint.tls;
    if (tls?.mode !== "verify-full" || !isCertificateMismatch(error)) {
        return message;
    }
    const presented = await presentedDatabaseCertificate(endpoint.engine, endpoint.host, endpoint.port);
    // The declaration's reading parsed every certificate in the CA file; the first names it.
    const ca = new crypto.X509Certificate(tls.caPem!);
    return `TLS verify-full: the server's certificate is not accepted (${message}): it presents ${presented}; the CA trusted is '${ca.subject.replace(/\n/g, ", ")}' (SHA-256 ${ca.fingerprint256}) from ${tls.caFile}`;
}

export async function connect(endpoint: Endpoint, credentials: Credentials, database: string | undefined): Promise<Session> {
    const forward: PortForward | undefined = endpoint.tunnel ? await openPortForward(endpoint.tunnel) : undefined;
    const host = forward ? "127.0.0.1" : endpoint.host;
    const port = forward ? forward.localPort : endpoint.port;
    const ssl = driverTls(endpoint.engine, endpoint.tls);
    try {
        if (endpoint.engine === "postgresql") {
            const pg = require("pg");
            const client = new pg.Client({ host, port, user: credentials.user, password: credentials.password, database: database ?? "postgres", ...(ssl ? { ssl } : {}) });
            await client.connect();
            return {
                run: async (sql, params) => void (await client.query(sql, params)),
                count: async sql => (await client.query(sql)).rowCount ?? 0,
                scalar: async sql => Object.values((await client.query(sql)).rows[0] ?? {})[0],
                rows: async sql => (await client.query({ text: sql, rowMode: "array" })).rows,
                bulkLoad: async (sql, csv) => {
                    const { from: copyFrom } = require("pg-copy-streams");
                    const { pipeline } = require("stream/promises");
                    const { Readable } = require("stream");
                    const copy = client.query(copyFrom(sql));
                    await pipeline(Readable.from(csv), copy);
                    return Number(copy.rowCount);
                },
                close: () => client.end().finally(() => forward?.close()),
            };
        }
        const mysql = require("mysql2/promise");
        const connection = await mysql.createConnection({ host, port, user: credentials.user, password: credentials.password, database, dateStrings: true, charset: "utf8mb4", ...(ssl ? { ssl } : {}) });
        return {
            run: async (sql, params) => void (await connection.query(sql, params)),
            count: async sql => ((await connection.query(sql))[0] as unknown[]).length,
            scalar: async sql => Object.values(((await connection.query(sql))[0] as Record<string, unknown>[])[0] ?? {})[0],
            rows: async sql => (await connection.query({ sql, rowsAsArray: true }))[0] as unknown[][],
            bulkLoad: async (sql, csv) => {
                const { Readable } = require("stream");
                const [result] = await connection.query({ sql, infileStreamFactory: () => Readable.from(csv) });
                // LOAD DATA reports a value it had to change (cut, converted) as a warning, not an error.
                if (result.warningStatus > 0) {
                    const [warnings] = await connection.query("SHOW WARNINGS LIMIT 3");
                    throw new Error(`MariaDB changed values while loading: ${(warnings as { Message: string }[]).map(w => w.Message).join("; ")}`);
                }
                return Number(result.affectedRows);
            },
            close: () => connection.end().finally(() => forward?.close()),
        };
    } catch (error) {
        forward?.close();
        throw error;
    }
}

interface AccessInputs extends Endpoint {
    admin: Credentials;
    database: string;
    owner: Credentials;
    reader: Credentials;
    tables: TableSpec[];
}

async function applyAccess(inputs: AccessInputs): Promise<void> {
    const statements = domainAccessSql({
        engine: inputs.engine,
        database: inputs.database,
        ownerUser: inputs.owner.user,
        ownerPassword: inputs.owner.password,
        readerUser: inputs.reader.user,
        readerPassword: inputs.reader.password,
        tables: inputs.tables,
    });
    const server = await connect(inputs, inputs.admin, undefined);
    try {
        for (const sql of statements.server) {
            await server.run(sql);
        }
        if (inputs.engine === "postgresql") {
            const createDatabase = createPostgresDatabaseSql(inputs.database, inputs.owner.user);
            if ((await server.count(createDatabase.exists)) === 0) {
                await server.run(createDatabase.create);
            }
        }
    } finally {
        await server.close();
    }
    const inDatabase = await connect(inputs, inputs.admin, inputs.database);
    try {
        for (const sql of statements.database) {
            await inDatabase.run(sql);
        }
    } finally {
        await inDatabase.close();
    }
}

const accessProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: AccessInputs) {
        await applyAccess(inputs);
        return { id: `${inputs.engine}:${inputs.port}/${inputs.database}`, outs: inputs };
    },
    async diff(_id: string, olds: AccessInputs, news: AccessInputs) {
        return inputsDiff(olds, news);
    },
    async update(_id: string, _olds: AccessInputs, news: AccessInputs) {
        await applyAccess(news);
        return { outs: news };
    },
};

export interface DomainAccessArgs {
    engine: pulumi.Input<Engine>;
    host: pulumi.Input<string>;
    port: pulumi.Input<number>;
    /** Inside a cluster: reach the server through a port-forward to this Service. */
    tunnel?: pulumi.Input<KubeTunnel>;
    /** How the connection is encrypted and checked; in clear when unset. */
    tls?: pulumi.Input<DatabaseTls>;
    admin: CredentialsInput;
    database: pulumi.Input<string>;
    owner: CredentialsInput;
    reader: CredentialsInput;
    tables: pulumi.Input<TableSpec[]>;
}

/** The domain's database, its owner and read-only users, and its tables. */
export class DomainAccess extends pulumi.dynamic.Resource {
    public readonly database!: pulumi.Output<string>;

    constructor(name: string, args: DomainAccessArgs, opts?: pulumi.CustomResourceOptions) {
        super(accessProvider, name, { ...args }, { ...opts, additionalSecretOutputs: ["admin", "owner", "reader"] }, "datamesh", "DomainAccess");
    }
}

export interface LoadInputs extends Endpoint {
    owner: Credentials;
    database: string;
    /** The domain's name, for messages. */
    domainName: string;
    tables: TableSpec[];
    source: DataSource;
    fingerprint: string;
    /** Tables to load instead of the declared ones, by declared name: the benchmark loads scratch tables beside them. */
    intoTables?: Record<string, string>;
}

/** The declared table as the load writes it: under the name `intoTables` gives it, if any. */
function loadedTable(inputs: LoadInputs, table: TableSpec): TableSpec {
    return { ...table, name: inputs.intoTables?.[table.name] ?? table.name };
}

/** Whether a table is missing or its columns or primary key are not the declared ones. */
async function misshapen(session: Session, engine: Engine, table: TableSpec): Promise<{ differs: boolean; exists: boolean }> {
    const shape = (await session.rows(tableShapeSql(engine, table.name))).map(([name, type, key]) => [String(name), String(type), Number(key)]);
    return { differs: JSON.stringify(shape) !== JSON.stringify(declaredShape(engine, table)), exists: shape.length > 0 };
}

/**
 * PostgreSQL: creates anew, inside the load's transaction, each table whose columns or primary key
 * are not the declared ones (a column added, dropped or retyped since it was created), with the
 * grants its owner had given on it, which PostgreSQL drops with the table. Only a load does it: its
 * rows are about to be replaced anyway, and a load that replaces rows is what a protected domain
 * refuses. Created rather than altered, the table has the declared columns in the declared order,
 * as a new deployment's would.
 */
async function reshapePostgresTables(session: Session, inputs: LoadInputs): Promise<void> {
    for (const table of inputs.tables) {
        const into = loadedTable(inputs, table);
        if (!(await misshapen(session, inputs.engine, into)).differs) {
            continue;
        }
        const grants = await session.rows(postgresTableGrantsSql(into.name));
        await session.run(`DROP TABLE IF EXISTS ${quoteIdentifier(inputs.engine, into.name)}`);
        await session.run(createTableSql(inputs.engine, into));
        for (const [grantee, privilege, grantable] of grants) {
            // A grantee is any role the team made, not only the stack's plain names; PUBLIC is a keyword.
            const to = grantee === "PUBLIC" ? "PUBLIC" : `"${String(grantee).replace(/"/g, '""')}"`;
            await session.run(`GRANT ${String(privilege)} ON ${quoteIdentifier(inputs.engine, into.name)} TO ${to}${grantable === "YES" ? " WITH GRANT OPTION" : ""}`);
        }
    }
}

/** A MariaDB table of another shape than declared, loaded under its staged name and swapped in after the commit. */
interface StagedTable {
    /** The declared table's name. */
    declared: string;
    /** The table the rows go to (the declared one, or the one `intoTables` names). */
    name: string;
    /** Whether a table of that name exists, to be moved aside by the swap. */
    replaces: boolean;
}

/**
 * MariaDB commits every CREATE and DROP on its own, so a table of another shape cannot be replaced
 * inside the load's transaction: the declared table is created empty under its staged name instead
 * (one an earlier failed load left is dropped first: its rows were never committed to readers),
 * and the load fills that one. Each staged table is added to `staged` as it is created, so that a
 * failure part way drops every one already made.
 */
async function stageMariadbTables(session: Session, inputs: LoadInputs, staged: StagedTable[]): Promise<void> {
    for (const table of inputs.tables) {
        const into = loadedTable(inputs, table);
        const { differs, exists } = await misshapen(session, inputs.engine, into);
        if (!differs) {
            continue;
        }
        await session.run(`DROP TABLE IF EXISTS ${quoteIdentifier(inputs.engine, stagedTableName(into.name))}`);
        // A table left under the old name by a swap whose cleanup failed would block the swap's rename.
        await session.run(`DROP TABLE IF EXISTS ${quoteIdentifier(inputs.engine, replacedTableName(into.name))}`);
        staged.push({ declared: table.name, name: into.name, replaces: exists });
        await session.run(createTableSql(inputs.engine, { ...into, name: stagedTableName(into.name) }));
    }
}

/**
 * Replaces the tables' rows with the source's rows in one transaction, through the engine's bulk
 * loader with the rows streamed as they are read: readers see either the old rows or all the new
 * ones, and a failure part way leaves the old rows in place. A table of another shape than declared
 * is created anew: on PostgreSQL inside the same transaction; on MariaDB beside the old one, loaded
 * in the transaction and swapped in by one atomic rename after the commit, so that a failed load
 * leaves the old table, rows and columns, as it was there too. Returns each table's row count.
 */
export async function loadRows(inputs: LoadInputs): Promise<Record<string, number>> {
    const session = await connect(inputs, inputs.owner, inputs.database);
    const sent: Record<string, number> = {};
    const named = (tables: string[]) => tables.map(t => `${inputs.domainName}.${t}`).join(", ");
    let loading = named(inputs.tables.slice(0, 1).map(t => t.name));
    const staged: StagedTable[] = [];
    let committed = false;
    try {
        if (inputs.engine === "mariadb") {
            await stageMariadbTables(session, inputs, staged);
        }
        await session.run(inputs.engine === "postgresql" ? "BEGIN" : "START TRANSACTION");
        if (inputs.engine === "postgresql") {
            await reshapePostgresTables(session, inputs);
        }
        for (const table of inputs.tables) {
            loading = named([table.name]);
            const target = loadedTable(inputs, table).name;
            const isStaged = staged.some(s => s.declared === table.name);
            const into = { ...table, name: isStaged ? stagedTableName(target) : target };
            if (!isStaged) {
                await session.run(`DELETE FROM ${quoteIdentifier(inputs.engine, into.name)}`);
            }
            const taken = await session.bulkLoad(bulkLoadSql(inputs.engine, into), tableBulkLoadCsv(table, inputs.source, rows => (sent[table.name] = rows)));
            if (taken !== sent[table.name]) {
                throw new Error(`${sent[table.name]} rows sent, but the engine took ${taken}`);
            }
        }
        await session.run("COMMIT");
        committed = true;
        if (staged.length > 0) {
            loading = named(staged.map(s => s.declared));
            await session.run(mariadbSwapSql(staged));
        }
    } catch (e) {
        await session.run("ROLLBACK").catch(() => undefined);
        for (const table of staged) {
            // One left behind (the connection lost) is dropped by the next load before it stages its own.
            await session.run(`DROP TABLE IF EXISTS ${quoteIdentifier(inputs.engine, stagedTableName(table.name))}`).catch(() => undefined);
        }
        await session.close();
        // Only a failed swap comes after the commit, which took the rows of the tables loaded in place.
        const inPlace = inputs.tables.filter(t => !staged.some(s => s.declared === t.name)).map(t => t.name);
        const changed =
            committed && inPlace.length > 0
                ? `${named(inPlace)} hold the new rows, ${named(staged.map(s => s.declared))} kept their rows and columns`
                : "nothing was changed";
        throw new Error(`loading ${loading} failed, ${changed}: ${(e as Error).message}`);
    }
    try {
        for (const table of staged.filter(s => s.replaces)) {
            await session.run(`DROP TABLE ${quoteIdentifier(inputs.engine, replacedTableName(table.name))}`).catch(error => {
                throw new Error(`loading ${named([table.declared])}: the new table is in place, but dropping the old one, ${replacedTableName(table.name)}, failed: ${error.message}`);
            });
        }
        // The row counts reported are what the tables hold after the commit, not what was sent.
        const stored = await countRows(session, inputs);
        for (const table of inputs.tables) {
            if (stored[table.name] !== sent[table.name]) {
                throw new Error(`loading ${inputs.domainName}.${table.name}: ${sent[table.name]} rows sent, but the table holds ${stored[table.name]}`);
            }
        }
        return stored;
    } finally {
        await session.close();
    }
}

async function countRows(session: Session, inputs: LoadInputs): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const table of inputs.tables) {
        counts[table.name] = Number(await session.scalar(`SELECT count(*) FROM ${quoteIdentifier(inputs.engine, loadedTable(inputs, table).name)}`));
    }
    return counts;
}

/** The rows the tables hold now, the owner's own writes included. */
async function storedRows(inputs: LoadInputs): Promise<Record<string, number>> {
    const session = await connect(inputs, inputs.owner, inputs.database);
    try {
        return await countRows(session, inputs);
    } finally {
        await session.close();
    }
}

/**
 * What makes a load replace the tables' rows: new data, or tables or a database of another shape or
 * name. A new address, port or password for the same server keeps the rows, and with them whatever
 * the domain's owner wrote directly: the update only counts them.
 */
const RELOADING_INPUTS: (keyof LoadInputs)[] = ["fingerprint", "tables", "database", "engine"];

/** The state a load saved before domains were declared: one table, its first column the primary key. */
interface SingleTableLoadState {
    domain: { name: string; table: string; file: string; columns: TableSpec["columns"]; piiColumns: string[] };
}

/**
 * The fingerprint a data folder had when one fingerprint covered every domain's file: its CSV files
 * in name order, which were then exactly the declared tables' files.
 */
export function fingerprintTogether(dir: string): string | undefined {
    const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter(file => file.endsWith(".csv") && fs.statSync(path.join(dir, file)).isFile()).sort() : [];
    if (files.length === 0) {
        return undefined;
    }
    const hash = crypto.createHash("sha256");
    for (const file of files) {
        hash.update(file).update("\0").update(fs.readFileSync(path.join(dir, file))).update("\0");
    }
    return `files:${hash.digest("hex")}`;
}

/**
 * A load saved before domains were declared, read as the declared tables it loaded. Its one
 * fingerprint covered every domain's file; when the data folder still has that fingerprint, the
 * data is what was loaded, so the first deployment after the upgrade keeps the rows.
 */
function asDeclaredTables(olds: Partial<LoadInputs> & Partial<SingleTableLoadState>, news: LoadInputs): Partial<LoadInputs> {
    if (olds.tables || !olds.domain) {
        return olds;
    }
    const { domain, ...rest } = olds;
    const table: TableSpec = { name: domain.table, file: domain.file, columns: domain.columns, primaryKey: domain.columns[0].name, piiColumns: domain.piiColumns };
    const sameData = news.source.kind === "files" && olds.fingerprint === fingerprintTogether(news.source.dir);
    return { ...rest, domainName: domain.name, tables: [table], fingerprint: sameData ? news.fingerprint : olds.fingerprint };
}

const loadProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: LoadInputs) {
        const rowCounts = await loadRows(inputs);
        return { id: `${inputs.database}.${inputs.tables.map(t => t.name).join("+")}`, outs: { ...inputs, rowCounts } };
    },
    async diff(_id: string, olds: LoadInputs, news: LoadInputs) {
        // A reload replaces the tables' rows, and `pulumi preview` says so; protected domain data refuses it.
        const diff = inputsDiff(asDeclaredTables(olds, news), news, RELOADING_INPUTS);
        // A load saved with one table's count is updated, which counts each table's rows again.
        return (olds as { rowCounts?: unknown }).rowCounts === undefined ? { ...diff, changes: true } : diff;
    },
    async update(_id: string, _olds: LoadInputs, news: LoadInputs) {
        return { outs: { ...news, rowCounts: await storedRows(news) } };
    },
};

export interface DomainDataLoadArgs {
    engine: pulumi.Input<Engine>;
    host: pulumi.Input<string>;
    port: pulumi.Input<number>;
    /** Inside a cluster: reach the server through a port-forward to this Service. */
    tunnel?: pulumi.Input<KubeTunnel>;
    /** How the connection is encrypted and checked; in clear when unset. */
    tls?: pulumi.Input<DatabaseTls>;
    owner: CredentialsInput;
    database: pulumi.Input<string>;
    domainName: pulumi.Input<string>;
    tables: pulumi.Input<TableSpec[]>;
    source: pulumi.Input<DataSource>;
    /** Changes exactly when the domain's data changes; a new value reloads its tables. */
    fingerprint: pulumi.Input<string>;
}

/** The domain tables' rows, loaded from CSV files or the synthetic generator. */
export class DomainDataLoad extends pulumi.dynamic.Resource {
    /** Rows each table holds after the load, counted there. */
    public readonly rowCounts!: pulumi.Output<Record<string, number>>;

    constructor(name: string, args: DomainDataLoadArgs, opts?: pulumi.CustomResourceOptions) {
        super(loadProvider, name, { ...args, rowCounts: undefined }, { ...opts, additionalSecretOutputs: ["owner"] }, "datamesh", "DomainDataLoad");
    }
}
