import * as path from "path";
import { readAudits } from "../../lib/audits";
import { DOMAINS } from "../../lib/domains";
import { checkStatement, checkVerdict, insightsDigestStatement, KEYS_SHOWN } from "../../lib/reconcile";
import { centsToDollars } from "../reference";

/*
 * The check statement's behaviour is proven against a real Trino by the integration tests (the
 * mutation tests above all); here, its shape and the verdict rule that both the deploying process
 * and the cluster Job apply.
 */

const audits = readAudits(path.join(__dirname, "..", "..", "dbt"), DOMAINS);
const targets = { catalog: "insights", schema: "s__run", audits };

describe("the check statement", () => {
    const sql = checkStatement(targets);

    it("is one statement over exactly the public models and the domain tables their audits read", () => {
        expect(sql).toMatchSnapshot();
        expect(sql.trim().endsWith(";")).toBe(false);
        const tables = new Set(sql.match(/\b(?:insights|customers|orders|payments)\.[a-z_]+\.[a-z_]+\b/g));
        expect([...tables].sort()).toEqual(
            ["insights.s__run.dim_customers", "insights.s__run.fct_orders", "customers.public.customers", "orders.orders.orders", "payments.public.payments"].sort(),
        );
    });

    it("compares every contract column of every public model, both ways, with NULL equal only to NULL", () => {
        expect(audits.map(a => a.model)).toEqual(["dim_customers", "fct_orders"]);
        for (const audit of audits) {
            for (const column of audit.columns.filter(c => !audit.key.includes(c))) {
                expect(sql).toContain(`a.${column} IS DISTINCT FROM e.${column}`);
            }
        }
        expect(sql.match(/FULL OUTER JOIN/g)).toHaveLength(audits.length);
        expect(sql.match(/row_number\(\) OVER \(PARTITION BY/g)).toHaveLength(2 * audits.length);
        expect(sql).toContain(`1, ${KEYS_SHOWN}`);
    });

    it("reads the audits as written, which recompute money from integer cents, never through the models' own macro", () => {
        for (const audit of audits) {
            expect(sql).toContain(audit.query);
        }
        expect(sql).not.toContain("cents_to_dollars");
        expect(sql).not.toMatch(/\bdouble\b|\breal\b/);
    });

    it("refuses to check nothing", () => {
        expect(() => checkStatement({ catalog: "insights", schema: "s", audits: [] })).toThrow(/no public model has an audit/);
    });
});

describe("the insights' digest", () => {
    const sql = insightsDigestStatement(targets);

    it("reads only the public models, and every column the check compares, so that any change to them shows", () => {
        expect(sql).toMatchSnapshot();
        const tables = new Set(sql.match(/\b(?:insights|customers|orders|payments)\.[a-z_]+\.[a-z_]+\b/g));
        expect([...tables].sort()).toEqual(["insights.s__run.dim_customers", "insights.s__run.fct_orders"]);
        const check = checkStatement(targets);
        for (const column of check.match(/\ba\.([a-z_]+) IS DISTINCT FROM/g)!.map(m => m.slice(2, -" IS DISTINCT FROM".length))) {
            expect(sql).toContain(column);
        }
        expect(sql.match(/checksum\(ROW\(/g)).toHaveLength(audits.length);
    });
});

describe("the check's verdict", () => {
    it("passes on exactly one OK line, which is the summary", () => {
        expect(checkVerdict(["OK: dim_customers 1 rows = 1 customers"])).toEqual({ ok: true, summary: "OK: dim_customers 1 rows = 1 customers", problems: [] });
    });

    it("fails on anything else, keeping every line", () => {
        const problem = "insights.s.fct_orders: 2 rows differ (0 missing, 0 extra, 0 duplicated, 2 different); first keys: order_id=1 different: amount 1.00, expected 1.01";
        expect(checkVerdict([problem])).toEqual({ ok: false, problems: [problem] });
        expect(checkVerdict(["OK: x", "OK: y"]).ok).toBe(false);
        expect(checkVerdict([])).toEqual({ ok: false, problems: ["the check statement returned no line"] });
    });
});

describe("money in the reference model", () => {
    it("prints exact dollars from cents", () => {
        expect(centsToDollars(167201n)).toBe("1672.01");
        expect(centsToDollars(-5n)).toBe("-0.05");
        expect(centsToDollars(7n)).toBe("0.07");
    });
});

describe("the check of an incremental run", () => {
    const scope = { publishedSchema: "s", baseRun: "s__base", recordedDigest: "insights.s.dim_customers 100 rows 0a; insights.s.fct_orders 99 rows 0b" };
    const sql = checkStatement({ ...targets, incremental: scope });

    it("compares the affected keys with the audit, and proves the rest equal to the published run and the published run unchanged since its check", () => {
        expect(sql).toMatchSnapshot();
        // The changes are read from the run's own schema, the published rows through the analysts' views.
        expect(sql).toContain("insights.s__run.changes__orders__orders");
        expect(sql).toContain("insights.s__run.changes__payments__payments");
        expect(sql).toContain("insights.s__run.changes__customers__customers");
        // Both sides' rows outside the affected keys, in one scan each, the published side's digest with them.
        expect(sql).toContain("FROM insights.s__run.dim_customers r LEFT JOIN m0_scope s ON r.customer_id = s.customer_id");
        expect(sql).toContain("FROM insights.s.dim_customers r LEFT JOIN m0_scope s ON r.customer_id = s.customer_id");
        expect(sql).toContain("m0_built.kept_rows <> m0_published.kept_rows OR m0_built.kept IS DISTINCT FROM m0_published.kept");
        expect(sql).toContain(`<> '${scope.recordedDigest}'`);
        // The audit is read for the affected keys only.
        expect(sql).toMatch(/\) audit JOIN m0_scope s ON audit\.customer_id = s\.customer_id/);
        expect(sql).not.toContain("{{");
    });

    it("is refused when a public model's audit names no affected keys", () => {
        const [first, ...rest] = audits;
        const { affected: _affected, ...unscoped } = first;
        expect(() => checkStatement({ ...targets, audits: [unscoped, ...rest], incremental: scope })).toThrow(
            "an incremental run needs every public model's audit to declare its affected keys; none is declared for dim_customers",
        );
    });
});
