/*
 * The post-deploy check's arithmetic, kept pure so that it is tested without a cluster. The check
 * compares what dbt built with what the domains hold, each side queried independently through
 * Trino, and money is compared in integer cents so that no rounding can hide a difference.
 */

/** Where the check finds each table, as fully qualified Trino names. */
export interface CheckTargets {
    dimCustomers: string;
    fctOrders: string;
    customers: string;
    orders: string;
    payments: string;
}

/** The figures the check gathers; money from the insights is a decimal string, from the domain integer cents. */
export interface CheckFacts {
    dimCustomersRows: number;
    dimCustomersDistinct: number;
    customersRows: number;
    fctOrdersRows: number;
    fctOrdersDistinct: number;
    ordersRows: number;
    fctOrdersAmount: string;
    fctOrdersMethodAmount: string;
    paymentsCentsForOrders: string;
    dimCustomersLifetimeValue: string;
    paymentsCentsForCustomers: string;
}

/** The statements that produce CheckFacts, one per side, in the order `factsFromRows` reads them. */
export function checkQueries(t: CheckTargets): string[] {
    return [
        `SELECT count(*), count(DISTINCT customer_id), CAST(coalesce(sum(customer_lifetime_value), 0) AS varchar) FROM ${t.dimCustomers}`,
        `SELECT count(*) FROM ${t.customers}`,
        `SELECT count(*), count(DISTINCT order_id), CAST(coalesce(sum(amount), 0) AS varchar), ` +
            `CAST(coalesce(sum(credit_card_amount + coupon_amount + bank_transfer_amount + gift_card_amount), 0) AS varchar) FROM ${t.fctOrders}`,
        `SELECT count(*) FROM ${t.orders}`,
        `SELECT CAST(coalesce(sum(p.amount), 0) AS varchar) FROM ${t.payments} p WHERE p.order_id IN (SELECT id FROM ${t.orders})`,
        `SELECT CAST(coalesce(sum(p.amount), 0) AS varchar) FROM ${t.payments} p JOIN ${t.orders} o ON p.order_id = o.id WHERE o.user_id IN (SELECT id FROM ${t.customers})`,
    ];
}

/** Maps the first row of each statement of `checkQueries` to the facts. */
export function factsFromRows(firstRows: unknown[][]): CheckFacts {
    const [dim, customers, fct, orders, paymentsForOrders, paymentsForCustomers] = firstRows;
    return {
        dimCustomersRows: Number(dim[0]),
        dimCustomersDistinct: Number(dim[1]),
        dimCustomersLifetimeValue: String(dim[2]),
        customersRows: Number(customers[0]),
        fctOrdersRows: Number(fct[0]),
        fctOrdersDistinct: Number(fct[1]),
        fctOrdersAmount: String(fct[2]),
        fctOrdersMethodAmount: String(fct[3]),
        ordersRows: Number(orders[0]),
        paymentsCentsForOrders: String(paymentsForOrders[0]),
        paymentsCentsForCustomers: String(paymentsForCustomers[0]),
    };
}

/** Exact cents of a decimal string such as "1672.00" or "-0.5". */
export function decimalToCents(value: string): bigint {
    const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(value.trim());
    if (!match) {
        throw new Error(`'${value}' is not a decimal number`);
    }
    const [, sign, whole, fraction = ""] = match;
    if (fraction.length > 2 && /[1-9]/.test(fraction.slice(2))) {
        throw new Error(`'${value}' has fractions of a cent`);
    }
    const cents = BigInt(whole) * 100n + BigInt((fraction + "00").slice(0, 2));
    return sign === "-" ? -cents : cents;
}

/** Dollars with two decimals from exact cents, for messages: 167200n -> "1672.00". */
export function centsToDollars(cents: bigint): string {
    const sign = cents < 0n ? "-" : "";
    const abs = cents < 0n ? -cents : cents;
    return `${sign}${abs / 100n}.${(abs % 100n).toString().padStart(2, "0")}`;
}

export interface Reconciliation {
    mismatches: string[];
    summary: string;
}

/** Compares the facts; every mismatch names the table and both numbers. */
export function reconcile(f: CheckFacts, t: CheckTargets): Reconciliation {
    const mismatches: string[] = [];
    const count = (table: string, what: string, actual: number, expected: number, source: string) => {
        if (actual !== expected) {
            mismatches.push(`${table}: ${what} is ${actual}, but ${source} has ${expected}`);
        }
    };
    count(t.dimCustomers, "row count", f.dimCustomersRows, f.customersRows, t.customers);
    count(t.dimCustomers, "distinct customer_id count", f.dimCustomersDistinct, f.customersRows, t.customers);
    count(t.fctOrders, "row count", f.fctOrdersRows, f.ordersRows, t.orders);
    count(t.fctOrders, "distinct order_id count", f.fctOrdersDistinct, f.ordersRows, t.orders);

    const money = (table: string, what: string, actualDecimal: string, expectedCents: bigint, source: string) => {
        const actual = decimalToCents(actualDecimal);
        if (actual !== expectedCents) {
            mismatches.push(`${table}: ${what} is ${centsToDollars(actual)}, but ${source} totals ${centsToDollars(expectedCents)}`);
        }
    };
    const paidForOrders = BigInt(f.paymentsCentsForOrders);
    money(t.fctOrders, "sum(amount)", f.fctOrdersAmount, paidForOrders, t.payments);
    money(t.fctOrders, "sum of the payment method amounts", f.fctOrdersMethodAmount, paidForOrders, t.payments);
    money(t.dimCustomers, "sum(customer_lifetime_value)", f.dimCustomersLifetimeValue, BigInt(f.paymentsCentsForCustomers), t.payments);

    const summary =
        `dim_customers ${f.dimCustomersRows} rows = ${f.customersRows} customers; ` +
        `fct_orders ${f.fctOrdersRows} rows = ${f.ordersRows} orders; ` +
        `amount ${f.fctOrdersAmount} = payments ${centsToDollars(paidForOrders)}; ` +
        `lifetime value ${f.dimCustomersLifetimeValue} = payments ${centsToDollars(BigInt(f.paymentsCentsForCustomers))}`;
    return { mismatches, summary: mismatches.length === 0 ? `OK: ${summary}` : `FAILED: ${mismatches.join("; ")}` };
}

/**
 * The whole reconciliation as one statement that returns a row per disagreement, naming the
 * table and both figures as `reconcile` does, and no row when the insights are right. It is what a check running inside
 * a cluster executes with the Trino CLI, where no TypeScript runs.
 */
export function mismatchQuery(t: CheckTargets): string {
    const name = (table: string) => `'${table.replace(/'/g, "''")}'`;
    const dollars = (cents: string) => `CAST(CAST(${cents} AS decimal(38, 2)) / 100 AS varchar)`;
    const count = (facts: string, column: string, what: string, source: string, table: string, sourceName: string) =>
        `SELECT IF(${facts}.${column} <> ${source}.row_count, format('%s: ${what} is %s, but %s has %s', ${name(table)}, ${facts}.${column}, ${name(sourceName)}, ${source}.row_count)) FROM ${facts}, ${source}`;
    const money = (facts: string, column: string, what: string, paid: string, table: string) =>
        `SELECT IF(${facts}.${column} * 100 <> ${paid}.cents, format('%s: ${what} is %s, but %s totals %s', ${name(table)}, CAST(${facts}.${column} AS varchar), ${name(t.payments)}, ${dollars(`${paid}.cents`)})) FROM ${facts}, ${paid}`;
    return [
        "WITH",
        `dim_facts AS (SELECT count(*) AS row_count, count(DISTINCT customer_id) AS distinct_ids, coalesce(sum(customer_lifetime_value), 0) AS lifetime_value FROM ${t.dimCustomers}),`,
        `customer_facts AS (SELECT count(*) AS row_count FROM ${t.customers}),`,
        `fct_facts AS (SELECT count(*) AS row_count, count(DISTINCT order_id) AS distinct_ids, coalesce(sum(amount), 0) AS amount, ` +
            `coalesce(sum(credit_card_amount + coupon_amount + bank_transfer_amount + gift_card_amount), 0) AS method_amount FROM ${t.fctOrders}),`,
        `order_facts AS (SELECT count(*) AS row_count FROM ${t.orders}),`,
        `paid_for_orders AS (SELECT coalesce(sum(p.amount), 0) AS cents FROM ${t.payments} p WHERE p.order_id IN (SELECT id FROM ${t.orders})),`,
        `paid_for_customers AS (SELECT coalesce(sum(p.amount), 0) AS cents FROM ${t.payments} p JOIN ${t.orders} o ON p.order_id = o.id WHERE o.user_id IN (SELECT id FROM ${t.customers}))`,
        "SELECT problem FROM (",
        [
            count("dim_facts", "row_count", "row count", "customer_facts", t.dimCustomers, t.customers),
            count("dim_facts", "distinct_ids", "distinct customer_id count", "customer_facts", t.dimCustomers, t.customers),
            count("fct_facts", "row_count", "row count", "order_facts", t.fctOrders, t.orders),
            count("fct_facts", "distinct_ids", "distinct order_id count", "order_facts", t.fctOrders, t.orders),
            money("fct_facts", "amount", "sum(amount)", "paid_for_orders", t.fctOrders),
            money("fct_facts", "method_amount", "sum of the payment method amounts", "paid_for_orders", t.fctOrders),
            money("dim_facts", "lifetime_value", "sum(customer_lifetime_value)", "paid_for_customers", t.dimCustomers),
        ].join("\nUNION ALL\n"),
        ") AS checks (problem)",
        "WHERE problem IS NOT NULL",
        "ORDER BY problem",
        "",
    ].join("\n");
}
