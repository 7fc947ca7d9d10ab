import * as fs from "fs";
import * as path from "path";
import { parseCsv } from "../lib/csv";
import { readDomainFile } from "../lib/dataset";
import { domainByName, tableOf, TableSpec } from "../lib/domains";

/*
 * An independent model of the insights, computed in TypeScript straight from the domain CSVs, so
 * that tests can say what dbt must produce for any data set. It is itself checked against the
 * canonical expected CSVs.
 */

/** A table as text cells: the expected CSVs' format, with "" for NULL. */
export type TextTable = { header: string[]; rows: string[][] };

const METHODS = ["credit_card", "coupon", "bank_transfer", "gift_card"];

/** Dollars with two decimals from exact cents: 167201n -> "1672.01". */
export function centsToDollars(cents: bigint): string {
    const sign = cents < 0n ? "-" : "";
    const abs = cents < 0n ? -cents : cents;
    return `${sign}${abs / 100n}.${(abs % 100n).toString().padStart(2, "0")}`;
}

export function referenceInsights(dataDir: string): { dim_customers: TextTable; fct_orders: TextTable } {
    const customers = readDomainFile(jaffleTable("customers"), dataDir);
    const orders = readDomainFile(jaffleTable("orders"), dataDir);
    const payments = readDomainFile(jaffleTable("payments"), dataDir);

    const paymentsByOrder = new Map<number, { method: string; cents: bigint }[]>();
    for (const [, orderId, method, amount] of payments) {
        const list = paymentsByOrder.get(orderId as number) ?? [];
        list.push({ method: method as string, cents: BigInt(amount as number) });
        paymentsByOrder.set(orderId as number, list);
    }

    const fctRows = [...orders]
        .sort((a, b) => (a[0] as number) - (b[0] as number))
        .map(([id, customerId, date, status]) => {
            const paid = paymentsByOrder.get(id as number) ?? [];
            const byMethod = METHODS.map(m => centsToDollars(paid.filter(p => p.method === m).reduce((s, p) => s + p.cents, 0n)));
            const total = centsToDollars(paid.reduce((s, p) => s + p.cents, 0n));
            return [String(id), String(customerId), String(date), String(status), ...byMethod, total];
        });

    const dimRows = [...customers]
        .sort((a, b) => (a[0] as number) - (b[0] as number))
        .map(([id, first, last]) => {
            const own = orders.filter(o => o[1] === id);
            const dates = own.map(o => o[2] as string).sort();
            const paid = own.flatMap(o => paymentsByOrder.get(o[0] as number) ?? []);
            const lifetime = paid.length === 0 ? "" : centsToDollars(paid.reduce((s, p) => s + p.cents, 0n));
            return [String(id), String(first), String(last), dates[0] ?? "", dates[dates.length - 1] ?? "", own.length === 0 ? "" : String(own.length), lifetime];
        });

    return {
        dim_customers: { header: ["customer_id", "first_name", "last_name", "first_order", "most_recent_order", "number_of_orders", "customer_lifetime_value"], rows: dimRows },
        fct_orders: { header: ["order_id", "customer_id", "order_date", "status", ...METHODS.map(m => `${m}_amount`), "amount"], rows: fctRows },
    };
}

/** Reads an expected-output CSV as text cells. */
export function readTextTable(file: string): TextTable {
    const [header, ...rows] = parseCsv(fs.readFileSync(file, "utf8"), file).map(r => r.fields);
    return { header, rows };
}

export const EXPECTED_DIR = path.join(__dirname, "..", "data", "jaffle_shop", "expected");

/** A jaffle_shop domain's table, named as its domain is (customers.customers), as its declaration gives it. */
export function jaffleTable(name: string): TableSpec {
    return tableOf(domainByName(name), name);
}
