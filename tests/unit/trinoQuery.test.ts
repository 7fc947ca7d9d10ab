import { basicAuthorization, queryTrino } from "../../lib/trinoQuery";
import { StandInTrino, startStandInTrino } from "./standInTrino";

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
