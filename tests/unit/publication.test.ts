import * as crypto from "crypto";
import { publicationProvider } from "../../resources/publication";
import { ModelAudit } from "../../lib/reconcile";
import { StandInAnswer, StandInTrino, startStandInTrino } from "./standInTrino";

/*
 * Publishing switches every public model's view to the new run, one after the other. When a switch
 * fails, the views already switched go back; when that fails too, the error says so and names what
 * analysts read now, as Trino answers it, instead of claiming the insights are as they were.
 */

const audit = (model: string): ModelAudit => ({ model, query: "select 1 as id", key: ["id"], columns: ["id"], textColumns: [], money: [] });

/** A publication's inputs against a stand-in Trino, for the run and the public models given. */
const publicationInputs = (url: string, runSchema: string, models: string[], summary: string) => ({
    component: "check",
    publisher: { connection: { url, user: "dbt", password: "p" } },
    checker: { connection: { url, user: "datamesh_check", password: "p" } },
    catalog: "insights",
    schema: "s",
    runSchema,
    audits: models.map(audit),
    audit: summary,
    cause: { projectDigest: "p", sourceFingerprint: "f", config: "c" },
});

describe("publishing a run", () => {
    let trino: StandInTrino;
    /** Which run each view reads, as the stand-in's information_schema answers. */
    let views: Record<string, string>;
    let failing: (sql: string) => boolean;

    const answer = (sql: string): StandInAnswer => {
        if (failing(sql)) {
            return { error: "Access Denied: Cannot create view", errorName: "PERMISSION_DENIED" };
        }
        const view = /CREATE OR REPLACE VIEW insights\.s\.(\w+) SECURITY DEFINER AS SELECT \* FROM insights\.(\w+)\./.exec(sql);
        if (view) {
            views[view[1]] = view[2];
            return { rows: [] };
        }
        if (sql.includes("information_schema.tables t")) {
            return { rows: Object.entries(views).map(([table, run]) => [table, "VIEW", `SELECT * FROM insights.${run}.${table}`]) };
        }
        return { rows: [] };
    };
    const inputs = () => publicationInputs(trino.url, "s__new", ["a_mart", "b_mart"], "OK: a_mart 1 rows = audit 1; b_mart 1 rows = audit 1");

    beforeAll(async () => {
        trino = await startStandInTrino(sql => answer(sql));
    });
    afterAll(() => trino.close());
    beforeEach(() => {
        views = { a_mart: "s__old", b_mart: "s__old" };
    });

    it("switches back the views it switched when a later one fails, and says the insights are as they were", async () => {
        failing = sql => sql.includes("VIEW insights.s.b_mart") && sql.includes("s__new");
        await expect(publicationProvider.create!(inputs())).rejects.toThrow("check: could not publish s__new; the published insights are as they were: Trino: Access Denied");
        expect(views).toEqual({ a_mart: "s__old", b_mart: "s__old" });
    });

    describe("after a full run, the ledger copied from the sources", () => {
        const orders = { catalog: "orders", schema: "orders", table: "orders", primaryKey: "id", columns: ["id", "status"], contents: "3:AB" };
        const fullRun = () => ({ ...inputs(), ledger: { action: "replace" as const, sources: [orders], loaded: "l", unchanged: {} } });
        let sourcesNowHold: string;
        const withLedger = (sql: string): StandInAnswer => (sql.includes("FROM insights.s__ledger.orders__orders") ? { rows: [[sourcesNowHold]] } : answer(sql));

        beforeEach(() => {
            failing = () => false;
            trino.statements.length = 0;
            trino.answer = withLedger;
        });
        afterEach(() => {
            trino.answer = answer;
        });

        it("is copied from the source itself, and trusted with the contents it holds when they are what the run's fingerprint read", async () => {
            sourcesNowHold = "3:AB";
            const outs = (await publicationProvider.create!(fullRun())).outs;
            expect(outs.ledgerOutcome).toBe("ledger made anew for s__new");
            expect(trino.statements).toContain('CREATE OR REPLACE TABLE insights.s__ledger.orders__orders AS SELECT "id", "status" FROM "orders"."orders"."orders"');
            const state = trino.statements.find(sql => sql.startsWith("CREATE OR REPLACE TABLE insights.s__ledger.datamesh_state"));
            expect(state).toContain(`CAST('${JSON.stringify({ "orders.orders.orders": "3:AB" })}' AS varchar) AS contents`);
        });

        it("is not trusted when a source changed while the run was built: no state, so the next run is a full one", async () => {
            sourcesNowHold = "4:CD";
            const outs = (await publicationProvider.create!(fullRun())).outs;
            expect(outs.ledgerOutcome).toBe(
                "ledger not updated (orders.orders.orders changed while the run was built (the run's fingerprint read 3:AB, the sources now hold 4:CD)); the next run is a full one",
            );
            expect(trino.statements.filter(sql => sql.includes("datamesh_state"))).toEqual(["DROP TABLE IF EXISTS insights.s__ledger.datamesh_state"]);
            expect(views).toEqual({ a_mart: "s__new", b_mart: "s__new" });
        });
    });

    it("says so when switching back fails too, naming what analysts read now as Trino answers it", async () => {
        failing = sql => sql.includes("VIEW insights.s.b_mart") || (sql.includes("VIEW insights.s.a_mart") && sql.includes("s__old"));
        const message = await publicationProvider.create!(inputs()).then(
            () => "published",
            (error: Error) => error.message,
        );
        expect(message).toContain("check: could not publish s__new (Trino: Access Denied: Cannot create view), and could not switch back a_mart: Trino: Access Denied");
        expect(message).toContain("analysts now read: a_mart reads s__new, b_mart reads s__old");
        expect(message).not.toContain("as they were");
    });
});

/*
 * On an `up` with nothing to publish, the published insights are proven unchanged by a marker, not
 * by reading their rows: the views' definitions and the current snapshot of each table they read.
 * What a marker misses is a no-op that should have re-checked; the integration suite (localStack)
 * writes to a published table and sees the next `up` check every row.
 */
describe("the published insights on an up with nothing to publish", () => {
    let trino: StandInTrino;
    let answer: (sql: string) => StandInAnswer;
    const marker = "view a_mart: SELECT * FROM insights.s__old.a_mart\ntable s__old.a_mart: snapshot 42";
    const olds = () => ({
        ...publicationInputs(trino.url, "s__old", ["a_mart"], "OK"),
        publishedRun: "s__old",
        publishedMarker: crypto.createHash("sha256").update(marker).digest("hex"),
    });

    beforeAll(async () => {
        trino = await startStandInTrino(sql => answer(sql));
    });
    afterAll(() => trino.close());
    beforeEach(() => {
        trino.statements.length = 0;
    });

    it("reads only the views' definitions and the published run's snapshots, as the checker, and finds no change when they are as recorded", async () => {
        answer = () => ({ rows: [[marker]] });
        await expect(publicationProvider.diff!("id", olds(), olds())).resolves.toEqual({ changes: false });
        expect(trino.statements).toHaveLength(1);
        expect(trino.statements[0]).toContain(`FROM insights.s__old."a_mart$refs" WHERE name = 'main'`);
        expect(trino.statements[0]).toContain("FROM insights.information_schema.views WHERE table_schema = 's' AND table_name IN ('a_mart')");
        expect(trino.statements[0]).not.toMatch(/FROM insights\.s\.a_mart\b/);
    });

    it("finds a change when a table has a new snapshot, and when the state holds no marker yet, without reading", async () => {
        answer = () => ({ rows: [[marker.replace("snapshot 42", "snapshot 43")]] });
        await expect(publicationProvider.diff!("id", olds(), olds())).resolves.toEqual({ changes: true });
        trino.statements.length = 0;
        await expect(publicationProvider.diff!("id", { ...olds(), publishedMarker: undefined }, olds())).resolves.toEqual({ changes: true });
        expect(trino.statements).toEqual([]);
    });

    it("leaves a table gone to the whole check, and fails on any other refusal, naming the component", async () => {
        answer = () => ({ error: "line 1:1: Table 'insights.s__old.a_mart$refs' does not exist" });
        await expect(publicationProvider.diff!("id", olds(), olds())).resolves.toEqual({ changes: true });
        answer = () => ({ error: "Access Denied: Cannot select from table insights.s__old.a_mart$refs", errorName: "PERMISSION_DENIED" });
        await expect(publicationProvider.diff!("id", olds(), olds())).rejects.toThrow("check: cannot check the published insights: Trino: Access Denied");
    });
});
