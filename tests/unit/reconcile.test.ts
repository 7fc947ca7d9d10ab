import { CheckFacts, centsToDollars, checkQueries, decimalToCents, factsFromRows, mismatchQuery, reconcile } from "../../lib/reconcile";

const targets = { dimCustomers: "insights.s.dim_customers", fctOrders: "insights.s.fct_orders", customers: "customers.public.customers", orders: "orders.orders.orders", payments: "payments.public.payments" };
const good: CheckFacts = {
    dimCustomersRows: 100,
    dimCustomersDistinct: 100,
    customersRows: 100,
    fctOrdersRows: 99,
    fctOrdersDistinct: 99,
    ordersRows: 99,
    fctOrdersAmount: "1672.00",
    fctOrdersMethodAmount: "1672.00",
    paymentsCentsForOrders: "167200",
    dimCustomersLifetimeValue: "1672.00",
    paymentsCentsForCustomers: "167200",
};

describe("money", () => {
    it("converts exactly between decimal dollars and cents", () => {
        expect(decimalToCents("1672.00")).toBe(167200n);
        expect(decimalToCents("0.5")).toBe(50n);
        expect(decimalToCents("-12.34")).toBe(-1234n);
        expect(decimalToCents("7")).toBe(700n);
        expect(decimalToCents("12.3400")).toBe(1234n);
        expect(centsToDollars(167201n)).toBe("1672.01");
        expect(centsToDollars(-5n)).toBe("-0.05");
    });

    it("refuses fractions of a cent and non-numbers", () => {
        expect(() => decimalToCents("1.005")).toThrow("'1.005' has fractions of a cent");
        expect(() => decimalToCents("abc")).toThrow("'abc' is not a decimal number");
    });
});

describe("reconcile", () => {
    it("passes when every figure agrees, with a summary", () => {
        const result = reconcile(good, targets);
        expect(result.mismatches).toEqual([]);
        expect(result.summary).toBe("OK: dim_customers 100 rows = 100 customers; fct_orders 99 rows = 99 orders; amount 1672.00 = payments 1672.00; lifetime value 1672.00 = payments 1672.00");
    });

    it("names the table and both numbers when money is off by a cent", () => {
        const result = reconcile({ ...good, fctOrdersAmount: "1671.99" }, targets);
        expect(result.mismatches).toEqual(["insights.s.fct_orders: sum(amount) is 1671.99, but payments.public.payments totals 1672.00"]);
    });

    it("catches integer division that drops the cents", () => {
        const result = reconcile({ ...good, paymentsCentsForOrders: "167250", paymentsCentsForCustomers: "167250" }, targets);
        expect(result.mismatches).toHaveLength(3);
    });

    it("names the table when a row is missing or duplicated", () => {
        expect(reconcile({ ...good, dimCustomersRows: 101 }, targets).mismatches).toEqual(["insights.s.dim_customers: row count is 101, but customers.public.customers has 100"]);
        expect(reconcile({ ...good, fctOrdersDistinct: 98 }, targets).mismatches).toEqual(["insights.s.fct_orders: distinct order_id count is 98, but orders.orders.orders has 99"]);
    });

    it("reads the first rows of its own queries in order", () => {
        expect(checkQueries(targets)).toHaveLength(6);
        const facts = factsFromRows([[100, 100, "1672.00"], [100], [99, 99, "1672.00", "1672.00"], [99], ["167200"], ["167200"]]);
        expect(facts).toEqual(good);
    });
});

describe("the reconciliation as one statement, for checks that run inside a cluster", () => {
    it("compares every figure reconcile compares, and returns only disagreements", () => {
        const sql = mismatchQuery(targets);
        expect(sql).toMatchSnapshot();
        for (const table of Object.values(targets)) {
            expect(sql).toContain(`FROM ${table}`);
        }
        expect(sql.match(/^SELECT IF\(/gm)).toHaveLength(7);
        expect(sql).toContain("WHERE problem IS NOT NULL");
    });
});
