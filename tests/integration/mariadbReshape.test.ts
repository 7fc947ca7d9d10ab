import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { TableSpec } from "../../lib/domains";
import { declaredShape, domainAccessSql, tableShapeSql } from "../../lib/sql";
import { ServerOutputs, startServer, stopAndRemove } from "../../platforms/local/databaseServer";
import { findDatabasePrograms } from "../../platforms/local/toolchain";
import { loadRows, LoadInputs } from "../../resources/domainData";
import { jaffleTable } from "../reference";
import { freePortRange } from "./harness";

jest.setTimeout(120_000);

/*
 * A domain table on a real MariaDB whose declaration gained a column since it was created: the load
 * that reshapes it either puts the new table, rows and all, in its place with the reader's grant
 * kept, or, failing, leaves the old table as it was. MariaDB alone, no stack and no Trino.
 */

const declared = jaffleTable("orders");
/** The table as it was created before `status` was declared. */
const before: TableSpec = { ...declared, columns: declared.columns.filter(c => c.name !== "status") };
const owner = { user: "orders_owner", password: crypto.randomBytes(12).toString("hex") };
const reader = { user: "orders_reader", password: crypto.randomBytes(12).toString("hex") };

let server: ServerOutputs | undefined;
let root: string;

async function query(login: { user: string; password: string }, sql: string, database = "orders"): Promise<unknown[][]> {
    const mysql = require("mysql2/promise");
    const connection = await mysql.createConnection({ host: "127.0.0.1", port: server!.port, ...login, database, dateStrings: true });
    try {
        return (await connection.query({ sql, rowsAsArray: true }))[0];
    } finally {
        await connection.end();
    }
}

const admin = () => ({ user: server!.adminUser, password: server!.adminPassword });

function dataDir(rows: string[]): string {
    const dir = fs.mkdtempSync(path.join(root, "data-"));
    fs.writeFileSync(path.join(dir, "orders.csv"), ["id,user_id,order_date,status", ...rows].join("\n") + "\n");
    return dir;
}

const load = (rows: string[]): Promise<Record<string, number>> =>
    loadRows({
        engine: "mariadb",
        host: "127.0.0.1",
        port: server!.port,
        owner,
        database: "orders",
        domainName: "orders",
        tables: [declared],
        source: { kind: "files", dir: dataDir(rows) },
        fingerprint: "test",
    } satisfies LoadInputs);

beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "datamesh-it-reshape-"));
    // A server's account passes through the test's folder to its own.
    fs.chmodSync(root, 0o711);
    server = await startServer({
        component: "reshape-mariadb",
        engine: "mariadb",
        port: await freePortRange(1),
        workDir: path.join(root, "server"),
        programs: findDatabasePrograms().mariadb,
        adminPassword: crypto.randomBytes(18).toString("hex"),
    });
    const access = domainAccessSql({ engine: "mariadb", database: "orders", ownerUser: owner.user, ownerPassword: owner.password, readerUser: reader.user, readerPassword: reader.password, tables: [before] });
    for (const sql of access.server) {
        await query(admin(), sql, "mysql");
    }
    for (const sql of [...access.database, "INSERT INTO orders VALUES (1, 10, '2018-01-01'), (2, 20, '2018-01-02')"]) {
        await query(admin(), sql);
    }
});

afterAll(async () => {
    if (server) {
        await stopAndRemove(server);
    }
    fs.rmSync(root, { recursive: true, force: true });
});

const tables = async () => (await query(admin(), "SHOW TABLES")).map(([name]) => name);
const shape = async () => (await query(admin(), tableShapeSql("mariadb", "orders"))).map(([name, type, key]) => [name, type, Number(key)]);

describe("a MariaDB table whose declared columns changed", () => {
    it("stays as it was, rows and columns, with no table left beside it, when the load fails part way", async () => {
        // Past the first megabyte read, so that rows reach the new table before the failure.
        const many = Array.from({ length: 60_000 }, (_, i) => `${i + 1},${i % 100},2018-02-01,placed`);
        const failures: [string[], RegExp][] = [
            [[...many, "1,1,2018-03-01,placed"], /duplicate id 1 \(first on line 2\)/],
            [["3,30,2018-03-01,placed", `4,40,2018-03-01,${"x".repeat(2000)}`], /MariaDB changed values while loading: .*'status'/],
        ];
        for (const [rows, why] of failures) {
            const failed = load(rows);
            await expect(failed).rejects.toThrow(/^loading orders\.orders failed, nothing was changed: /);
            await expect(failed).rejects.toThrow(why);
            expect(await tables()).toEqual(["orders"]);
            expect(await shape()).toEqual(declaredShape("mariadb", before));
            expect(await query(reader, "SELECT * FROM orders ORDER BY id")).toEqual([
                [1, 10, "2018-01-01"],
                [2, 20, "2018-01-02"],
            ]);
        }
    });

    it("is replaced by the declared table with the new rows, which the reader's grant on its name still reads", async () => {
        expect(await load(["1,10,2018-01-01,shipped", "2,20,2018-01-02,placed", "3,30,2018-01-03,returned"])).toEqual({ orders: 3 });
        expect(await tables()).toEqual(["orders"]);
        expect(await shape()).toEqual(declaredShape("mariadb", declared));
        expect(await query(reader, "SELECT id, status FROM orders ORDER BY id")).toEqual([
            [1, "shipped"],
            [2, "placed"],
            [3, "returned"],
        ]);
        expect(await query(admin(), "SELECT Db, Table_name, Table_priv FROM mysql.tables_priv WHERE User = 'orders_reader'")).toEqual([["orders", "orders", "Select"]]);
    });
});
