import { TableSpec } from "../lib/domains";
import type { Row } from "../lib/dataset";

/*
 * The synthetic data set of `datamesh:scale`: jaffle_shop-shaped rows for the tables its declarations
 * name customers, orders and payments, generated in declaration column order. A mesh with other
 * tables takes its rows from a data folder.
 */

/** A small, fast, seedable PRNG (mulberry32): the synthetic data must be the same on every run. */
function seededRandom(seed: number): () => number {
    let state = seed >>> 0;
    return () => {
        state = (state + 0x6d2b79f5) >>> 0;
        let t = state;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

const FIRST_NAMES = ["Michael", "Shawn", "Kathleen", "Jimmy", "Katherine", "Sarah", "Martin", "Frank", "Jennifer", "Henry", "Fred", "Amy", "Kathleen", "Steve", "Teresa", "Amanda", "Kimberly", "Johnny", "Virginia", "Anna"];
const LAST_NAMES = ["Perez", "Mccoy", "Payne", "Cooper", "Reid", "Ortiz", "Mcdonald", "Jordan", "Thomas", "Hart", "Hall", "Rivera", "Scott", "Wilson", "Harris", "Nelson", "Holmes", "Dean", "Coleman", "Moore"];
const STATUSES = ["placed", "shipped", "completed", "completed", "completed", "return_pending", "returned"];
const PAYMENT_METHODS = ["credit_card", "credit_card", "coupon", "bank_transfer", "gift_card"];
const FIRST_ORDER_DAY = Date.UTC(2018, 0, 1);
const DAY_MS = 86_400_000;

/** How many rows each table has at a scale: 100 customers, 100 orders per unit of scale. */
export function syntheticCounts(scale: number): { customers: number; orders: number } {
    return { customers: scale * 100, orders: scale * 100 };
}

/** The tables the synthetic generator knows: the jaffle_shop domains' tables. */
export const SYNTHETIC_TABLES = ["customers", "orders", "payments"];

/**
 * Streams the synthetic rows of one jaffle_shop table. Rows are generated, never held all at once,
 * so a million customers fit in memory. About one order in a hundred has no payment, one in seven
 * has two, and amounts are cents that are never whole dollars, so rounding mistakes show.
 */
export function* syntheticRows(table: TableSpec, scale: number): Generator<Row> {
    const counts = syntheticCounts(scale);
    if (table.name === "customers") {
        const random = seededRandom(scale * 7919 + 1);
        for (let id = 1; id <= counts.customers; id++) {
            const first = FIRST_NAMES[Math.floor(random() * FIRST_NAMES.length)];
            const last = LAST_NAMES[Math.floor(random() * LAST_NAMES.length)];
            yield [id, first, last, `${first.toLowerCase()}.${last.toLowerCase()}${id}@example.com`];
        }
    } else if (table.name === "orders") {
        const random = seededRandom(scale * 7919 + 2);
        const days = 365 * 3;
        for (let id = 1; id <= counts.orders; id++) {
            const customer = 1 + Math.floor(random() * counts.customers);
            const day = new Date(FIRST_ORDER_DAY + Math.floor(random() * days) * DAY_MS).toISOString().slice(0, 10);
            yield [id, customer, day, STATUSES[Math.floor(random() * STATUSES.length)]];
        }
    } else if (table.name === "payments") {
        const random = seededRandom(scale * 7919 + 3);
        let paymentId = 1;
        for (let orderId = 1; orderId <= counts.orders; orderId++) {
            const draw = random();
            const paymentsForOrder = draw < 0.01 ? 0 : draw < 0.15 ? 2 : 1;
            for (let p = 0; p < paymentsForOrder; p++) {
                let cents = 1 + Math.floor(random() * 5000);
                if (cents % 100 === 0) {
                    cents += 37;
                }
                yield [paymentId++, orderId, PAYMENT_METHODS[Math.floor(random() * PAYMENT_METHODS.length)], cents];
            }
        }
    } else {
        throw new Error(`no synthetic generator for table '${table.name}'; it knows ${SYNTHETIC_TABLES.join(", ")}`);
    }
}
