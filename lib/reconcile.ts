/*
 * The check that gates publication: dim_customers and fct_orders recomputed from the domain tables,
 * in SQL written apart from the dbt models, and compared with what dbt built row by row and column
 * by column, both ways. It is one statement, so that the check the deploying process runs and the
 * one a cluster runs as a Job with the Trino CLI are the same text and cannot drift apart.
 *
 * The statement returns lines of text. Exactly one line starting with "OK: " means the insights are
 * right, and that line is the readable summary; otherwise there is one line per table that differs.
 */

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
    /** The built table, and the recomputation it must equal. */
    actual: string;
    expected: string;
}

function literal(value: string): string {
    return `'${value.replace(/'/g, "''")}'`;
}

// An array, not a Set: the function is serialized into the dynamic provider, which cannot carry a Set.
const TEXT_COLUMNS = ["first_name", "last_name", "status"];

/** A value for a message: NULL spelled out, text quoted so that '' and NULL differ. */
function shown(side: string, column: string): string {
    const text = `CAST(${side}.${column} AS varchar)`;
    return `coalesce(${TEXT_COLUMNS.includes(column) ? `'''' || ${text} || ''''` : text}, 'NULL')`;
}

/**
 * Rows that differ between the built table and its recomputation: missing (expected, not built),
 * extra (built, not expected), duplicated keys, and rows whose columns differ, each with what
 * differs. IS DISTINCT FROM makes NULL equal only to NULL; decimals compare by exact value.
 */
function differences(c: Comparison): string {
    const columnDiffs = c.columns
        .filter(column => column !== c.key)
        .map(column => `IF(a.${column} IS DISTINCT FROM e.${column}, format('%s %s, expected %s', ${literal(column)}, ${shown("a", column)}, ${shown("e", column)}))`);
    const list = c.columns.join(", ");
    return [
        `SELECT ${literal(c.table)} AS table_name, ${literal(c.key)} AS key_name, coalesce(a.${c.key}, e.${c.key}) AS key_value,`,
        `  CASE WHEN a.present IS NULL THEN 'missing' WHEN e.present IS NULL THEN 'extra' ELSE 'different' END AS kind,`,
        `  CASE WHEN a.present IS NULL THEN 'not built' WHEN e.present IS NULL THEN 'not expected' ELSE array_join(filter(ARRAY[${columnDiffs.join(", ")}], d -> d IS NOT NULL), ', ') END AS detail`,
        `FROM (SELECT true AS present, ${list} FROM ${c.actual}) a`,
        `FULL OUTER JOIN (SELECT true AS present, ${list} FROM ${c.expected}) e ON a.${c.key} = e.${c.key}`,
        `WHERE a.present IS NULL OR e.present IS NULL OR ${c.columns.map(column => `a.${column} IS DISTINCT FROM e.${column}`).join(" OR ")}`,
        `UNION ALL`,
        `SELECT ${literal(c.table)}, ${literal(c.key)}, ${c.key}, 'duplicated', format('%s rows', count(*)) FROM ${c.actual} GROUP BY ${c.key} HAVING count(*) > 1`,
    ].join("\n");
}

const DIM_COLUMNS = ["customer_id", "first_name", "last_name", "first_order", "most_recent_order", "number_of_orders", "customer_lifetime_value"];
const FCT_COLUMNS = ["order_id", "customer_id", "order_date", "status", ...PAYMENT_METHODS.map(m => `${m}_amount`), "amount"];

/** The check as one statement over the given tables; see the header for what it returns. */
export function checkStatement(t: CheckTargets): string {
    const dollars = (cents: string) => `CAST(${cents} AS decimal(38, 2)) / 100`;
    const methodCents = PAYMENT_METHODS.map(m => `sum(amount) FILTER (WHERE payment_method = ${literal(m)}) AS ${m}_cents`).join(", ");
    const methodAmounts = PAYMENT_METHODS.map(m => `${dollars(`coalesce(paid.${m}_cents, 0)`)} AS ${m}_amount`).join(", ");
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
        `differing AS (`,
        differences({ table: t.dimCustomers, key: "customer_id", columns: DIM_COLUMNS, actual: t.dimCustomers, expected: "expected_dim_customers" }),
        `UNION ALL`,
        differences({ table: t.fctOrders, key: "order_id", columns: FCT_COLUMNS, actual: t.fctOrders, expected: "expected_fct_orders" }),
        `),`,
        `problems AS (`,
        `  SELECT format('%s: %s rows differ (%s missing, %s extra, %s duplicated, %s different); first keys: %s', table_name, count(*),`,
        `    count_if(kind = 'missing'), count_if(kind = 'extra'), count_if(kind = 'duplicated'), count_if(kind = 'different'),`,
        `    array_join(slice(array_agg(format('%s=%s %s: %s', key_name, coalesce(CAST(key_value AS varchar), 'NULL'), kind, detail) ORDER BY key_value NULLS FIRST, kind), 1, ${KEYS_SHOWN}), '; ')) AS line`,
        `  FROM differing GROUP BY table_name),`,
        `summary AS (`,
        `  SELECT format('OK: dim_customers %s rows = %s customers; fct_orders %s rows = %s orders; amount %s = payments %s; lifetime value %s = payments %s',`,
        `    (SELECT count(*) FROM ${t.dimCustomers}), (SELECT count(*) FROM domain_customers),`,
        `    (SELECT count(*) FROM ${t.fctOrders}), (SELECT count(*) FROM domain_orders),`,
        `    (SELECT CAST(coalesce(sum(amount), 0) AS decimal(38, 2)) FROM ${t.fctOrders}), (SELECT ${dollars("coalesce(sum(cents), 0)")} FROM paid_per_order WHERE order_id IN (SELECT id FROM domain_orders)),`,
        `    (SELECT CAST(coalesce(sum(customer_lifetime_value), 0) AS decimal(38, 2)) FROM ${t.dimCustomers}), (SELECT ${dollars("coalesce(sum(cents), 0)")} FROM paid_per_customer WHERE user_id IN (SELECT id FROM domain_customers))) AS line)`,
        `SELECT line FROM (`,
        `  SELECT 0 AS position, line FROM summary WHERE NOT EXISTS (SELECT 1 FROM problems)`,
        `  UNION ALL`,
        `  SELECT 1, line FROM problems`,
        `) AS lines ORDER BY position, line`,
        "",
    ].join("\n");
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
