import { sourceFingerprintProvider } from "../../resources/sourceFingerprint";
import { StandInAnswer, StandInTrino, startStandInTrino } from "./standInTrino";

/** The payments domain's one table, read as dbt from the stand-in at `url`. */
function fingerprintInputs(url: string) {
    return {
        component: "dbt",
        access: { connection: { url, user: "dbt", password: "secret" } },
        sources: [{ catalog: "payments", schema: "public", table: "payments" }],
        trinoVersion: "476",
        loaded: "v1",
    };
}

/*
 * The fingerprint of an `up` with nothing changed is one statement; only columns that differ from
 * the last reading's send it back to information_schema. Against a stand-in for Trino whose
 * payments table has the columns it is given.
 */
describe("the domains' fingerprint", () => {
    let trino: StandInTrino;
    let paymentsColumns: string[][];
    let paymentsColumnsChecksum: string;

    const answer = (sql: string): StandInAnswer => {
        if (sql.includes("'rows' AS kind")) {
            if (sql.includes('"amount"') && !paymentsColumns.some(([name]) => name === "amount")) {
                return { error: "line 1:40: Column 'amount' cannot be resolved" };
            }
            return { rows: [[0, "rows", null, 113, "AB12", null, null], [0, "columns", null, paymentsColumns.length, paymentsColumnsChecksum, null, null]] };
        }
        return { rows: paymentsColumns.map(([name, type], i) => [0, i + 1, name, type]) };
    };
    const inputs = () => fingerprintInputs(trino.url);

    beforeAll(async () => {
        trino = await startStandInTrino(answer);
    });
    afterAll(() => trino.close());
    beforeEach(() => {
        paymentsColumns = [["id", "bigint"], ["amount", "bigint"]];
        paymentsColumnsChecksum = "C0115";
    });

    const recorded = async () => {
        const { outs } = await sourceFingerprintProvider.create!(inputs());
        trino.statements.length = 0;
        return outs;
    };

    it("reads contents and the columns' checksum in one statement when the columns are the last reading's", async () => {
        const olds = await recorded();
        expect(olds.tables).toEqual([{ table: "payments.public.payments", rows: 113, columns: paymentsColumns, columnsChecksum: "C0115", contents: "113:AB12" }]);
        await expect(sourceFingerprintProvider.diff!("id", olds, inputs())).resolves.toEqual({ changes: false });
        expect(trino.statements).toHaveLength(1);
        expect(trino.statements[0]).toContain('checksum(ROW("id", "amount"))');
        expect(trino.statements[0]).toContain("information_schema.columns");
    });

    it("reads the columns again when their checksum differs, and records the new ones", async () => {
        const olds = await recorded();
        paymentsColumns = [["id", "bigint"], ["amount", "bigint"], ["currency", "varchar"]];
        paymentsColumnsChecksum = "C0116";
        await expect(sourceFingerprintProvider.diff!("id", olds, inputs())).resolves.toEqual({ changes: true });
        expect(trino.statements).toHaveLength(3);
        expect(trino.statements[2]).toContain('checksum(ROW("id", "amount", "currency"))');
        const { outs } = await sourceFingerprintProvider.update!("id", olds, inputs());
        expect(outs.tables[0]).toMatchObject({ columns: paymentsColumns, columnsChecksum: "C0116" });
        expect(outs.fingerprint).not.toBe(olds.fingerprint);
        // The update that follows the diff takes the diff's reading: no source is read a second time.
        expect(trino.statements).toHaveLength(3);
    });

    it("reads the sources in an update that no diff of the same inputs came before", async () => {
        const olds = await recorded();
        await sourceFingerprintProvider.diff!("id", olds, { ...inputs(), trinoVersion: "477" });
        trino.statements.length = 0;
        const { outs } = await sourceFingerprintProvider.update!("id", olds, inputs());
        expect(trino.statements.length).toBeGreaterThan(0);
        expect(outs.tables[0]).toMatchObject({ rows: 113, columns: paymentsColumns });
    });

    it("reads the columns again when Trino refuses a column of the last reading", async () => {
        const olds = await recorded();
        paymentsColumns = [["id", "bigint"], ["amount_cents", "bigint"]];
        paymentsColumnsChecksum = "C0117";
        await expect(sourceFingerprintProvider.diff!("id", olds, inputs())).resolves.toEqual({ changes: true });
        expect(trino.statements).toHaveLength(3);
        expect(trino.statements[2]).toContain('checksum(ROW("id", "amount_cents"))');
    });
});

describe("a source table whose columns Trino cannot list", () => {
    let trino: StandInTrino;
    let probe: StandInAnswer;
    const inputs = () => fingerprintInputs(trino.url);

    beforeAll(async () => {
        // information_schema lists nothing both for a dropped table and for a database Trino cannot reach.
        trino = await startStandInTrino(sql => (sql.includes("WHERE 1 = 0") ? probe : { rows: [] }));
    });
    afterAll(() => trino.close());

    it("is named a connection failure when the domain's database does not answer, in Trino's words with its address", async () => {
        probe = { error: "Connection to 127.0.0.1:15432 refused. Check that the hostname and port are correct and that the postmaster is accepting TCP/IP connections.", errorName: "JDBC_ERROR" };
        await expect(sourceFingerprintProvider.create!(inputs())).rejects.toThrow(
            "dbt: Trino cannot read domain 'payments' (its catalog's database does not answer): Trino: Connection to 127.0.0.1:15432 refused.",
        );
    });

    it("is named gone when Trino says the table does not exist", async () => {
        probe = { error: "line 1:22: Table 'payments.public.payments' does not exist", errorName: "TABLE_NOT_FOUND" };
        await expect(sourceFingerprintProvider.create!(inputs())).rejects.toThrow(
            "dbt: the source table payments.public.payments is gone, or dbt may no longer read it (Trino: line 1:22: Table 'payments.public.payments' does not exist); the published insights are unchanged",
        );
    });
});

describe("a source whose primary key is a whole number", () => {
    let trino: StandInTrino;
    let lowest: number;
    const inputs = () => ({ ...fingerprintInputs(trino.url), sources: [{ catalog: "payments", schema: "public", table: "payments", primaryKey: "id" }] });

    beforeAll(async () => {
        trino = await startStandInTrino(sql => {
            if (sql.includes("'rows'")) {
                return {
                    rows: [
                        [0, "rows", null, 113, "AB12", 2048, lowest],
                        [0, "rows", 0, 100, "0A", 2048, lowest],
                        [0, "rows", 1, 13, "0B", 2048, lowest],
                        [0, "columns", null, 2, "C0115", null, null],
                    ],
                };
            }
            return { rows: [[0, 1, "id", "bigint"], [0, 2, "amount", "bigint"]] };
        });
    });
    afterAll(() => trino.close());

    it("is read per key range in the same scan as its total, the width from its largest key", async () => {
        lowest = 1;
        const { outs } = await sourceFingerprintProvider.create!(inputs());
        const contents = trino.statements.find(sql => sql.includes("'rows'"))!;
        expect(contents).toContain("GROUP BY GROUPING SETS ((datamesh__key_range), ())");
        expect(contents).toContain('IF(t."id" < 0, -1, t."id" / k.datamesh__width)');
        expect(contents).toContain('log2((CAST(max("id") AS double) + 1) / 512)');
        expect(outs.tables[0]).toMatchObject({ contents: "113:AB12", keyRanges: { width: 2048, ranges: { "0": "100:0A", "1": "13:0B" } } });
    });

    it("has no ranges when a key is negative: its changes are then read from every row", async () => {
        lowest = -5;
        const { outs } = await sourceFingerprintProvider.create!(inputs());
        expect(outs.tables[0].contents).toBe("113:AB12");
        expect(outs.tables[0].keyRanges).toBeUndefined();
    });
});
