import {
    changeCountsStatement,
    diffStatement,
    duplicateKeyStatement,
    isRunSchema,
    keyRangesPredicate,
    ledgerContentsStatement,
    ledgerRangesStatement,
    mergeLedgerStatement,
    noChangesStatement,
    planStatement,
    readStateStatement,
    replaceLedgerStatement,
    sourcesShape,
    stateOf,
    writeStateStatement,
} from "../../lib/incremental";

/*
 * The statements of an incremental refresh. Their behaviour against a real Trino, MariaDB and
 * PostgreSQL is proven by tests/integration/incremental.test.ts; here, their shape.
 */

const source = { catalog: "orders", schema: "orders", table: "orders", primaryKey: "id", columns: ["id", "user_id", "order_date", "status"] };

describe("the incremental statements", () => {
    it("find the changed rows in one pass over the source and its ledger, each changed key with its old and its new row", () => {
        const sql = diffStatement("insights", "jaffle_shop", "jaffle_shop__0123456789ab", source);
        expect(sql).toMatchSnapshot();
        expect(sql).toContain("CREATE OR REPLACE TABLE insights.jaffle_shop__0123456789ab.changes__orders__orders AS");
        expect(sql).toContain('FROM "orders"."orders"."orders"');
        expect(sql).toContain("FROM insights.jaffle_shop__ledger.orders__orders");
        expect(sql).toContain('n."status" IS DISTINCT FROM o."status"');
    });

    it("read only the rows of the given key ranges on both sides, and count them the same way", () => {
        const within = keyRangesPredicate("id", 2048, ["7", "3", "4"]);
        expect(within).toBe('"id" BETWEEN 6144 AND 10239 OR "id" BETWEEN 14336 AND 16383');
        const sql = diffStatement("insights", "jaffle_shop", "jaffle_shop__0123456789ab", source, within);
        expect(sql).toContain(`FROM "orders"."orders"."orders" WHERE ${within}) n`);
        expect(sql).toContain(`FROM insights.jaffle_shop__ledger.orders__orders WHERE ${within}) o`);
        const counts = changeCountsStatement("insights", "jaffle_shop", "jaffle_shop__0123456789ab", source, within);
        expect(counts).toContain(`(SELECT count(*) FROM "orders"."orders"."orders" WHERE ${within}) - (SELECT count(*) FROM insights.jaffle_shop__ledger.orders__orders WHERE ${within})`);
    });

    it("name key ranges exactly, however large the keys", () => {
        expect(keyRangesPredicate("id", 1, ["0"])).toBe('"id" BETWEEN 0 AND 0');
        expect(keyRangesPredicate("id", 2 ** 52, ["2047"])).toBe('"id" BETWEEN 9218868437227405312 AND 9223372036854775807');
    });

    it("read the ledger's ranges as the fingerprint reads a source's, every negative key in range -1", () => {
        expect(ledgerRangesStatement("insights", "jaffle_shop", source, 2048)).toBe(
            `SELECT CAST(IF("id" < 0, -1, "id" / 2048) AS varchar) AS key_range, CAST(count(*) AS varchar) || ':' || coalesce(to_hex(checksum(ROW("id", "user_id", "order_date", "status"))), '') ` +
                `FROM insights.jaffle_shop__ledger.orders__orders GROUP BY IF("id" < 0, -1, "id" / 2048)`,
        );
    });

    it("make a full run's ledger from the source itself, over the columns dbt reads", () => {
        expect(replaceLedgerStatement("insights", "jaffle_shop", source)).toBe(
            `CREATE OR REPLACE TABLE insights.jaffle_shop__ledger.orders__orders AS SELECT "id", "user_id", "order_date", "status" FROM "orders"."orders"."orders"`,
        );
    });

    it("merge a run's changes into the ledger in one statement: a key with only an old row is deleted", () => {
        const sql = mergeLedgerStatement("insights", "jaffle_shop", "jaffle_shop__0123456789ab", source);
        expect(sql).toMatchSnapshot();
        expect(sql.match(/^MERGE INTO/gm)).toHaveLength(1);
        expect(sql).toContain('WHEN MATCHED AND c."id" IS NULL THEN DELETE');
    });

    it("count the changes and what they leave unexplained, and find a repeated key", () => {
        expect(changeCountsStatement("insights", "jaffle_shop", "jaffle_shop__0123456789ab", source)).toMatchSnapshot();
        expect(duplicateKeyStatement(source)).toBe('SELECT CAST("id" AS varchar) FROM "orders"."orders"."orders" GROUP BY "id" HAVING count(*) > 1 ORDER BY "id" LIMIT 1');
    });

    it("write the plan and the ledger's state as text the dbt project and the next run read back", () => {
        expect(planStatement("insights", "s__01", "s__00", "it's only rows")).toBe(
            "CREATE OR REPLACE TABLE insights.s__01.datamesh_run_plan AS SELECT CAST('s__00' AS varchar) AS base_run, CAST('it''s only rows' AS varchar) AS reason",
        );
        const contents = JSON.stringify({ "orders.orders.orders": "3:AB" });
        const state = { run: "s__01", digest: "d", fingerprint: "f", loaded: "l", projectDigest: "p", buildConfig: "b", sources: sourcesShape([source]), contents };
        expect(writeStateStatement("insights", "s", state)).toContain("CAST('s__01' AS varchar) AS run, CAST('d' AS varchar) AS digest");
        expect(readStateStatement("insights", "s")).toBe("SELECT run, digest, fingerprint, loaded, project_digest, build_config, sources, contents FROM insights.s__ledger.datamesh_state");
        expect(stateOf(["s__01", "d", "f", "l", "p", "b", state.sources, contents])).toEqual(state);
    });

    it("read a ledger table's contents as the fingerprint reads its source, and write no change for a source whose rows are the ledger's", () => {
        // The fingerprint's reading of the same rows: `<rows>:<checksum>` over the same columns (resources/sourceFingerprint.ts).
        expect(ledgerContentsStatement("insights", "jaffle_shop", source)).toBe(
            `SELECT CAST(count(*) AS varchar) || ':' || coalesce(to_hex(checksum(ROW("id", "user_id", "order_date", "status"))), '') FROM insights.jaffle_shop__ledger.orders__orders`,
        );
        expect(noChangesStatement("insights", "jaffle_shop__0123456789ab", source)).toBe(
            `CREATE OR REPLACE TABLE insights.jaffle_shop__0123456789ab.changes__orders__orders AS SELECT "id", "user_id", "order_date", "status", CAST('new' AS varchar) AS change_side FROM "orders"."orders"."orders" WHERE false`,
        );
    });

    it("tell the runs beside the published schema from its ledger", () => {
        expect(isRunSchema("jaffle_shop", "jaffle_shop__0123456789ab")).toBe(true);
        expect(isRunSchema("jaffle_shop", "jaffle_shop__ledger")).toBe(false);
        expect(isRunSchema("jaffle_shop", "jaffle_shop")).toBe(false);
        expect(isRunSchema("jaffle_shop", "jaffle_shop_x__01")).toBe(false);
    });
});
