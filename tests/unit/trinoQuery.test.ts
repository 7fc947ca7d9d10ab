import { basicAuthorization, queryTrino, startReading, takeReading } from "../../lib/trinoQuery";
import { StandInAnswer, StandInTrino, startStandInTrino } from "./standInTrino";

describe("basic credentials for Trino", () => {
    it("encode user:password in ISO-8859-1, the charset Trino decodes them with", () => {
        const header = basicAuthorization("analyst", `it's "naïve" C:\\dir`);
        expect(header).toMatch(/^Basic /);
        const bytes = Buffer.from(header.slice("Basic ".length), "base64");
        expect(bytes.toString("latin1")).toBe(`analyst:it's "naïve" C:\\dir`);
        // One byte for ï, where UTF-8 would send two that Trino reads as "Ã¯".
        expect(bytes.length).toBe(`analyst:it's "naïve" C:\\dir`.length);
    });

    it("refuse a character that ISO-8859-1 cannot carry rather than send another", () => {
        expect(() => basicAuthorization("analyst", "5 € a month")).toThrow("Trino user 'analyst': Trino reads credentials as ISO-8859-1, and these hold a character outside it");
    });
});

describe("readings started ahead of the step that takes them", () => {
    let trino: StandInTrino;
    let url: string;
    let statements: string[];
    const readLine = (sql: string): StandInAnswer => ({ rows: [[`read ${sql}`]] });

    beforeAll(async () => {
        trino = await startStandInTrino(readLine);
        url = trino.url;
        statements = trino.statements;
    });
    afterAll(() => trino.close());
    beforeEach(() => {
        statements.length = 0;
        trino.answer = readLine;
    });

    it("sends the statement once when it starts, and gives that reading to the step that takes it, once", async () => {
        const checker = { url, user: "datamesh_check", password: "secret" };
        startReading(checker, "SELECT digest");
        startReading(checker, "SELECT digest");
        await new Promise(resolve => setTimeout(resolve, 50));
        expect(statements).toEqual(["SELECT digest"]);
        expect((await takeReading(checker, "SELECT digest")).rows).toEqual([["read SELECT digest"]]);
        expect(statements).toEqual(["SELECT digest"]);
        // Taken once: the next step reads again, as does another user.
        await takeReading(checker, "SELECT digest");
        await takeReading({ ...checker, user: "dbt" }, "SELECT digest");
        expect(statements).toEqual(["SELECT digest", "SELECT digest", "SELECT digest"]);
    });

    it("is started by the publication's digest reader only when it knows the reader and reaches Trino directly", async () => {
        const { digestReaderProvider } = await import("../../resources/publication");
        const checker = { connection: { url, user: "datamesh_check", password: "secret" } };
        const inputs = { checker, statement: "SELECT published digest" };
        // A preview in which Trino is about to move does not know the reader yet.
        await expect(digestReaderProvider.diff!("id", inputs, { ...inputs, checker: "04da6b54-80e4-46f7-96ec-b56ff0331ba9" as never })).resolves.toBeDefined();
        await digestReaderProvider.diff!("id", inputs, { ...inputs, checker: { ...checker, tunnel: { namespace: "mesh", service: "trino", port: 8443 } } });
        await new Promise(resolve => setTimeout(resolve, 50));
        expect(statements).toEqual([]);
        await expect(digestReaderProvider.diff!("id", inputs, inputs)).resolves.toMatchObject({ changes: false });
        await new Promise(resolve => setTimeout(resolve, 50));
        expect(statements).toEqual(["SELECT published digest"]);
        await takeReading(checker.connection, "SELECT published digest");
    });

    it("gives Trino's refusal to the step that takes the reading, not to the one that started it", async () => {
        trino.answer = () => ({ error: "line 1:8: Table 'gone' does not exist" });
        const checker = { url, user: "datamesh_check", password: "secret" };
        expect(() => startReading(checker, "SELECT * FROM gone")).not.toThrow();
        await new Promise(resolve => setTimeout(resolve, 50));
        await expect(takeReading(checker, "SELECT * FROM gone")).rejects.toThrow("Trino: line 1:8: Table 'gone' does not exist");
    });
});

describe("a statement sent while the coordinator is still starting", () => {
    let trino: StandInTrino;

    beforeAll(async () => {
        trino = await startStandInTrino(() => ({ rows: [] }));
    });
    afterAll(() => trino.close());
    beforeEach(() => {
        trino.statements.length = 0;
    });

    it("is sent again while Trino says no node can run it yet, then answered", async () => {
        let refusals = 2;
        trino.answer = () => (refusals-- > 0 ? { error: "No nodes available to run query", errorName: "NO_NODES_AVAILABLE" } : { rows: [["1"]] });
        const outcome = await queryTrino({ url: trino.url, user: "dbt", password: "secret" }, "SELECT count(*) FROM orders.orders.orders");
        expect(outcome.rows).toEqual([["1"]]);
        expect(trino.statements).toEqual(Array(3).fill("SELECT count(*) FROM orders.orders.orders"));
    });

    it("is not sent again after any other refusal", async () => {
        trino.answer = () => ({ error: "Table 'orders.orders.gone' does not exist", errorName: "TABLE_NOT_FOUND" });
        await expect(queryTrino({ url: trino.url, user: "dbt", password: "secret" }, "SELECT 1 FROM orders.orders.gone")).rejects.toThrow("Trino: Table 'orders.orders.gone' does not exist");
        expect(trino.statements).toHaveLength(1);
    });
});
