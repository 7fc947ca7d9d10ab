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
            return { rows: [[0, "rows", 113, "AB12"], [0, "columns", paymentsColumns.length, paymentsColumnsChecksum]] };
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
