import { Readable } from "stream";
import { declaredShape } from "../../lib/sql";
import { loadRows, LoadInputs } from "../../resources/domainData";
import { jaffleTable } from "../reference";

/*
 * A MariaDB load against a stand-in connection that keeps tables as row counts by name: the
 * statements a load sends when a table's shape differs, and what a failure leaves. The real
 * engine's side of it (the rename's atomicity, grants kept by name) is mariadbReshape.test.ts's.
 */

const mockServer = {
    statements: [] as string[],
    /** What information_schema lists for each table, as tableShapeSql returns it. */
    shapes: {} as Record<string, unknown[][]>,
    /** Rows each table holds, by name. */
    rows: {} as Record<string, number>,
    /** A statement matching this fails. */
    failOn: undefined as RegExp | undefined,
};

jest.mock("mysql2/promise", () => ({
    createConnection: async () => ({
        end: async () => undefined,
        query: async (statement: string | { sql: string; infileStreamFactory?: () => Readable }) => {
            const sql = typeof statement === "string" ? statement : statement.sql;
            const table = (pattern: RegExp) => sql.match(pattern)?.[1] ?? "";
            mockServer.statements.push(sql.startsWith("SELECT c.column_name") ? `shape of ${table(/c\.table_name = '(\w+)'/)}` : sql);
            if (mockServer.failOn?.test(sql)) {
                throw new Error("Duplicate entry '1' for key 'PRIMARY'");
            }
            if (sql.startsWith("SELECT c.column_name")) {
                return [mockServer.shapes[table(/c\.table_name = '(\w+)'/)] ?? []];
            }
            if (sql.startsWith("LOAD DATA")) {
                let lines = 0;
                for await (const chunk of (statement as { infileStreamFactory: () => Readable }).infileStreamFactory()) {
                    lines += chunk.toString().split("\n").length - 1;
                }
                mockServer.rows[table(/INTO TABLE `(\w+)`/)] = lines;
                return [{ warningStatus: 0, affectedRows: lines }];
            }
            if (sql.startsWith("RENAME TABLE")) {
                for (const [, from, to] of sql.matchAll(/`(\w+)` TO `(\w+)`/g)) {
                    mockServer.rows[to] = mockServer.rows[from];
                    delete mockServer.rows[from];
                }
            }
            if (sql.startsWith("SELECT count(*)")) {
                return [[{ n: mockServer.rows[table(/FROM `(\w+)`/)] }]];
            }
            return [{ warningStatus: 0, affectedRows: 0 }];
        },
    }),
}));

const orders = jaffleTable("orders");
const customers = { ...jaffleTable("customers"), name: "customers" };
const inputs = (tables = [orders]): LoadInputs => ({
    engine: "mariadb",
    host: "127.0.0.1",
    port: 1,
    owner: { user: "owner", password: "pw" },
    database: "orders",
    domainName: "orders",
    tables,
    source: { kind: "synthetic", scale: 1 },
    fingerprint: "f",
});
/** The shape of `orders` before `status` was added. */
const withoutStatus = declaredShape("mariadb", orders).slice(0, 3);

beforeEach(() => {
    mockServer.statements = [];
    mockServer.shapes = { orders: withoutStatus, customers: declaredShape("mariadb", customers) };
    mockServer.rows = { orders: 7, customers: 3 };
    mockServer.failOn = undefined;
});

describe("a MariaDB load of a table whose shape differs", () => {
    it("loads a new table beside the old one and swaps it in by one rename after the commit", async () => {
        const counts = await loadRows(inputs());
        expect(mockServer.statements.map(s => s.replace(/ \(`id`.*$/, ""))).toEqual([
            "shape of orders",
            "DROP TABLE IF EXISTS `orders__reshape`",
            "DROP TABLE IF EXISTS `orders__old`",
            "CREATE TABLE IF NOT EXISTS `orders__reshape`",
            "START TRANSACTION",
            expect.stringMatching(/^LOAD DATA LOCAL INFILE 'rows.csv' INTO TABLE `orders__reshape` /),
            "COMMIT",
            "RENAME TABLE `orders` TO `orders__old`, `orders__reshape` TO `orders`",
            "DROP TABLE `orders__old`",
            "SELECT count(*) FROM `orders`",
        ]);
        expect(counts.orders).toBeGreaterThan(0);
        expect(counts.orders).toBe(mockServer.rows.orders);
    });

    it("creates a missing table the same way, with nothing to move aside", async () => {
        mockServer.shapes = {};
        await loadRows(inputs());
        expect(mockServer.statements).toContain("RENAME TABLE `orders__reshape` TO `orders`");
        expect(mockServer.statements).not.toContain("DROP TABLE `orders__old`");
    });

    it("leaves the old table untouched and drops the new one when the load fails, saying nothing was changed", async () => {
        mockServer.failOn = /^LOAD DATA/;
        await expect(loadRows(inputs())).rejects.toThrow("loading orders.orders failed, nothing was changed: Duplicate entry '1' for key 'PRIMARY'");
        const after = mockServer.statements.slice(mockServer.statements.findIndex(s => s.startsWith("LOAD DATA")) + 1);
        expect(after).toEqual(["ROLLBACK", "DROP TABLE IF EXISTS `orders__reshape`"]);
        expect(mockServer.statements.filter(s => /`orders`/.test(s))).toEqual([]);
        expect(mockServer.rows.orders).toBe(7);
    });

    it("drops the new table and says nothing was changed when the commit fails", async () => {
        mockServer.failOn = /^COMMIT/;
        await expect(loadRows(inputs())).rejects.toThrow("loading orders.orders failed, nothing was changed");
        expect(mockServer.statements.slice(-2)).toEqual(["ROLLBACK", "DROP TABLE IF EXISTS `orders__reshape`"]);
    });

    it("says which tables hold the new rows when the swap fails after the commit", async () => {
        mockServer.failOn = /^RENAME/;
        await expect(loadRows(inputs([orders, customers]))).rejects.toThrow(
            "loading orders.orders failed, orders.customers hold the new rows, orders.orders kept their rows and columns",
        );
        expect(mockServer.statements.slice(-2)).toEqual(["ROLLBACK", "DROP TABLE IF EXISTS `orders__reshape`"]);
        expect(mockServer.rows.orders).toBe(7);
    });
});

it("replaces the rows of a MariaDB table of the declared shape in place", async () => {
    mockServer.shapes = { orders: declaredShape("mariadb", orders) };
    await loadRows(inputs());
    expect(mockServer.statements.slice(0, 4).map(s => s.slice(0, 40))).toEqual(["shape of orders", "START TRANSACTION", "DELETE FROM `orders`", expect.stringMatching(/^LOAD DATA .*/)]);
    expect(mockServer.statements.some(s => /__reshape|RENAME|DROP/.test(s))).toBe(false);
});
