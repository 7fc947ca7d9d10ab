/*
 * The check that gates publication: dim_customers and fct_orders recomputed from the domain tables,
 * in SQL written apart from the dbt models, and compared with what dbt built row by row and column
 * by column, both ways. It is one statement, so that the check the deploying process runs and the
 * one a cluster runs as a Job with the Trino CLI are the same text and cannot drift apart.
 *
 * The statement returns lines of text. Exactly one line starting with "OK: " means the insights are
 * right, and that line is the readable summary; otherwise there is one line per table that differs.
 */

import { trinoLiteral } from "./trinoQuery";

/** Where the check finds each table, as fully qualified Trino names. */
export interface CheckTargets {
    dimCustomers: string;
    fctOrders: string;
    customers: string;
    orders: string;
    payments: string;
}

/** The payment methods fct_orders has a column for, in column order. */
export const PAYMENT_METHODS = ["credit_card", "coupon", "bank_transfer", "gift_card"] as const;

/** How many differing keys a failure names per table. */
export const KEYS_SHOWN = 5;

interface Comparison {
    /** The insight's fully qualified name, as the failure names it. */
    table: string;
    key: string;
    columns: string[];
    /** The money column whose totals the summary shows. */
    money: string;
    /** The built table, and the recomputation it must equal. */
    actual: string;
    expected: string;
}


// An array, not a Set: the function is serialized into the dynamic provider, which cannot carry a Set.
const TEXT_COLUMNS = ["first_name", "last_name", "status"];

/** A value for a message: NULL spelled out, text quoted so that '' and NULL differ. */
function shown(side: string, column: string): string {
    const text = `CAST(${side}.${column} AS varchar)`;
    return `coalesce(${TEXT_COLUMNS.includes(column) ? `'''' || ${text} || ''''` : text}, 'NULL')`;
}

/**
 * One pass over the built table joined with its recomputation on the key, both ways, reduced to
 * one row: the row counts and money totals of both sides for the summary, and the rows that
 * differ: missing (expected, not built), extra (built, not expected), duplicated keys, and rows
 * whose columns differ, with what differs. IS DISTINCT FROM makes NULL equal only to NULL;
 * decimals compare by exact value.
 */
function comparison(c: Comparison): string {
    const columnDiffs = c.columns
        .filter(column => column !== c.key)
        .map(column => `IF(a.${column} IS DISTINCT FROM e.${column}, format('%s %s, expected %s', ${trinoLiteral(column)}, ${shown("a", column)}, ${shown("e", column)}))`);
    const list = c.columns.join(", ");
    const joined = [
        `SELECT a.present AS built, e.present AS expected, a.${c.key} AS built_key, coalesce(a.${c.key}, e.${c.key}) AS key_value, a.${c.money} AS built_money, e.${c.money} AS expected_money,`,
        `  CASE WHEN a.present IS NULL THEN 'missing' WHEN e.present IS NULL THEN 'extra'`,
        `    WHEN ${c.columns.map(column => `a.${column} IS DISTINCT FROM e.${column}`).join(" OR ")} THEN 'different' END AS kind,`,
        `  CASE WHEN a.present IS NULL THEN 'not built' WHEN e.present IS NULL THEN 'not expected' ELSE array_join(filter(ARRAY[${columnDiffs.join(", ")}], d -> d IS NOT NULL), ', ') END AS detail`,
        `FROM (SELECT true AS present, ${list} FROM ${c.actual}) a`,
        `FULL OUTER JOIN (SELECT true AS present, ${list} FROM ${c.expected}) e ON a.${c.key} = e.${c.key}`,
    ].join("\n  ");
    return [
        `SELECT count_if(built) AS built_rows, count_if(expected) AS expected_rows,`,
        `  CAST(coalesce(sum(built_money), 0) AS decimal(38, 2)) AS built_money, CAST(coalesce(sum(expected_money), 0) AS decimal(38, 2)) AS expected_money,`,
        `  count_if(kind = 'missing') AS missing, count_if(kind = 'extra') AS extra, count_if(kind = 'different') AS different,`,
        // A key built twice joins its expected row twice; what exceeds one row per key is duplicated.
        `  count(built_key) - count(DISTINCT built_key) AS duplicated,`,
        `  slice(array_agg(format('%s=%s %s: %s', ${trinoLiteral(c.key)}, coalesce(CAST(key_value AS varchar), 'NULL'), kind, detail) ORDER BY key_value NULLS FIRST) FILTER (WHERE kind IS NOT NULL), 1, ${KEYS_SHOWN}) AS first_keys`,
        `FROM (`,
        `  ${joined}`,
        `) AS compared`,
    ].join("\n");
}

/** The line naming a table that differs, or NULL when it does not. */
function problemLine(table: string, side: string): string {
    const differing = `${side}.missing + ${side}.extra + ${side}.duplicated + ${side}.different`;
    return (
        `IF(${differing} > 0, format('%s: %s rows differ (%s missing, %s extra, %s duplicated, %s different); first keys: %s', ${trinoLiteral(table)}, ${differing}, ` +
        `${side}.missing, ${side}.extra, ${side}.duplicated, ${side}.different, coalesce(array_join(${side}.first_keys, '; '), '')))`
    );
}

const DIM_COLUMNS = ["customer_id", "first_name", "last_name", "first_order", "most_recent_order", "number_of_orders", "customer_lifetime_value"];
const FCT_COLUMNS = ["order_id", "customer_id", "order_date", "status", ...PAYMENT_METHODS.map(m => `${m}_amount`), "amount"];

/** The check as one statement over the given tables; see the header for what it returns. */
export function checkStatement(t: CheckTargets): string {
    const dollars = (cents: string) => `CAST(${cents} AS decimal(38, 2)) / 100`;
    const methodCents = PAYMENT_METHODS.map(m => `sum(amount) FILTER (WHERE payment_method = ${trinoLiteral(m)}) AS ${m}_cents`).join(", ");
    const methodAmounts = PAYMENT_METHODS.map(m => `${dollars(`coalesce(paid.${m}_cents, 0)`)} AS ${m}_amount`).join(", ");
    const problems = [problemLine(t.dimCustomers, "d"), problemLine(t.fctOrders, "f")];
    return [
        "WITH",
        `domain_customers AS (SELECT id, first_name, last_name FROM ${t.customers}),`,
        `domain_orders AS (SELECT id, user_id, order_date, status FROM ${t.orders}),`,
        `domain_payments AS (SELECT order_id, payment_method, amount FROM ${t.payments}),`,
        `paid_per_order AS (SELECT order_id, sum(amount) AS cents, ${methodCents} FROM domain_payments GROUP BY order_id),`,
        `orders_per_customer AS (SELECT user_id, min(order_date) AS first_order, max(order_date) AS most_recent_order, count(*) AS number_of_orders FROM domain_orders GROUP BY user_id),`,
        `paid_per_customer AS (SELECT o.user_id, sum(p.amount) AS cents FROM domain_payments p JOIN domain_orders o ON p.order_id = o.id GROUP BY o.user_id),`,
        `expected_dim_customers AS (`,
        `  SELECT c.id AS customer_id, c.first_name, c.last_name, oc.first_order, oc.most_recent_order, oc.number_of_orders, ${dollars("pc.cents")} AS customer_lifetime_value`,
        `  FROM domain_customers c LEFT JOIN orders_per_customer oc ON oc.user_id = c.id LEFT JOIN paid_per_customer pc ON pc.user_id = c.id),`,
        `expected_fct_orders AS (`,
        `  SELECT o.id AS order_id, o.user_id AS customer_id, o.order_date, o.status, ${methodAmounts}, ${dollars("coalesce(paid.cents, 0)")} AS amount`,
        `  FROM domain_orders o LEFT JOIN paid_per_order paid ON paid.order_id = o.id),`,
        `dim_customers_compared AS (`,
        comparison({ table: t.dimCustomers, key: "customer_id", columns: DIM_COLUMNS, money: "customer_lifetime_value", actual: t.dimCustomers, expected: "expected_dim_customers" }),
        `),`,
        `fct_orders_compared AS (`,
        comparison({ table: t.fctOrders, key: "order_id", columns: FCT_COLUMNS, money: "amount", actual: t.fctOrders, expected: "expected_fct_orders" }),
        `),`,
        // Each comparison is read once, in one row, so the tables are scanned once per comparison.
        `verdict AS (`,
        `  SELECT filter(ARRAY[${problems.join(", ")}], line -> line IS NOT NULL) AS problems,`,
        `    format('OK: dim_customers %s rows = %s customers; fct_orders %s rows = %s orders; amount %s = payments %s; lifetime value %s = payments %s',`,
        `      d.built_rows, d.expected_rows, f.built_rows, f.expected_rows, f.built_money, f.expected_money, d.built_money, d.expected_money) AS summary`,
        `  FROM dim_customers_compared d CROSS JOIN fct_orders_compared f)`,
        `SELECT line FROM verdict CROSS JOIN UNNEST(IF(cardinality(problems) = 0, ARRAY[summary], problems)) WITH ORDINALITY AS lines (line, position)`,
        `ORDER BY position`,
        "",
    ].join("\n");
}

/**
 * What the insights hold, as one line: each table's row count and an order-insensitive checksum over
 * every column. Equal lines mean equal contents: a deployment that finds both the domains and the
 * published insights as they were when the check last passed knows the check would pass again, and
 * runs the whole check only when either differs.
 */
export function insightsDigestStatement(t: Pick<CheckTargets, "dimCustomers" | "fctOrders">): string {
    const part = (table: string, columns: string[]) =>
        `(SELECT format('%s %s rows %s', ${trinoLiteral(table)}, count(*), coalesce(to_hex(checksum(ROW(${columns.join(", ")}))), 'empty')) FROM ${table})`;
    return `SELECT ${part(t.dimCustomers, DIM_COLUMNS)} || '; ' || ${part(t.fctOrders, FCT_COLUMNS)}`;
}

export interface CheckVerdict {
    ok: boolean;
    /** The "OK: ..." line when the insights are right. */
    summary?: string;
    /** One line per table that differs, or what was wrong with the answer. */
    problems: string[];
}

/** Reads the statement's lines; the check Job's script applies the same rule in shell. */
export function checkVerdict(lines: string[]): CheckVerdict {
    if (lines.length === 1 && lines[0].startsWith("OK: ")) {
        return { ok: true, summary: lines[0], problems: [] };
    }
    return { ok: false, problems: lines.length > 0 ? lines : ["the check statement returned no line"] };
}
