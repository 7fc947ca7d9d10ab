import { checkStatement, checkVerdict, insightsDigestStatement, KEYS_SHOWN, PAYMENT_METHODS } from "../../lib/reconcile";
import { centsToDollars } from "../reference";

/*
 * The check statement's behaviour is proven against a real Trino by the integration tests (the
 * mutation tests above all); here, its shape and the verdict rule that both the deploying process
 * and the cluster Job apply.
 */

const targets = { dimCustomers: "insights.s__run.dim_customers", fctOrders: "insights.s__run.fct_orders", customers: "customers.public.customers", orders: "orders.orders.orders", payments: "payments.public.payments" };

describe("the check statement", () => {
    const sql = checkStatement(targets);

    it("is one statement over exactly the given tables", () => {
        expect(sql).toMatchSnapshot();
        expect(sql.trim().endsWith(";")).toBe(false);
        const tables = new Set(sql.match(/\b(?:insights|customers|orders|payments)\.[a-z_]+\.[a-z_]+\b/g));
        expect([...tables].sort()).toEqual(Object.values(targets).sort());
    });

    it("compares every column of both insights, both ways, with NULL equal only to NULL", () => {
        for (const column of ["first_name", "last_name", "first_order", "most_recent_order", "number_of_orders", "customer_lifetime_value", "order_date", "status", "amount", ...PAYMENT_METHODS.map(m => `${m}_amount`)]) {
            expect(sql).toContain(`a.${column} IS DISTINCT FROM e.${column}`);
        }
        expect(sql.match(/FULL OUTER JOIN/g)).toHaveLength(2);
        expect(sql).toContain("count(built_key) - count(DISTINCT built_key) AS duplicated");
        expect(sql).toContain(`1, ${KEYS_SHOWN}`);
    });

    it("recomputes money from integer cents, never through the models' own macro", () => {
        expect(sql).not.toContain("cents_to_dollars");
        expect(sql).toContain("CAST(pc.cents AS decimal(38, 2)) / 100 AS customer_lifetime_value");
        expect(sql).not.toMatch(/\bdouble\b|\breal\b/);
    });
});

describe("the insights' digest", () => {
    const sql = insightsDigestStatement(targets);

    it("reads only the two insights, and every column the check compares, so that any change to them shows", () => {
        expect(sql).toMatchSnapshot();
        const tables = new Set(sql.match(/\b(?:insights|customers|orders|payments)\.[a-z_]+\.[a-z_]+\b/g));
        expect([...tables].sort()).toEqual([targets.dimCustomers, targets.fctOrders].sort());
        const check = checkStatement(targets);
        for (const column of check.match(/\ba\.([a-z_]+) IS DISTINCT FROM/g)!.map(m => m.slice(2, -" IS DISTINCT FROM".length))) {
            expect(sql).toContain(column);
        }
        expect(sql.match(/checksum\(ROW\(/g)).toHaveLength(2);
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
