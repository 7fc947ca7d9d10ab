import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { StringDecoder } from "string_decoder";
import { CsvError, CsvRecord, parseCsvChunks } from "./csv";
import { DomainSpec, TableSpec } from "./domains";

/** A typed table row: integers as numbers, text and ISO dates as strings. */
export type Row = (number | string)[];

/** Where the domain data comes from: a folder of CSV files, or the deterministic generator. */
export type DataSource =
    | { kind: "files"; dir: string }
    | { kind: "synthetic"; scale: number };

/** The canonical jaffle_shop data that ships with the project. */
export const CANONICAL_DATA_DIR = path.join(__dirname, "..", "data", "jaffle_shop");

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const INTEGER = /^-?\d{1,15}$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** A day that exists in the proleptic Gregorian calendar (2018-02-29 does not, 2020-02-29 does). */
function isCalendarDate(year: number, month: number, day: number): boolean {
    const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
    return month >= 1 && month <= 12 && day >= 1 && day <= DAYS_IN_MONTH[month - 1] + (month === 2 && leap ? 1 : 0);
}

function parseValue(raw: string, type: string, column: string, file: string, line: number): number | string {
    if (type === "integer") {
        if (!INTEGER.test(raw)) {
            throw new CsvError(file, line, `column '${column}' must be an integer, got '${raw}'`);
        }
        return Number(raw);
    }
    if (type === "date") {
        const match = ISO_DATE.exec(raw);
        if (!match || !isCalendarDate(Number(match[1]), Number(match[2]), Number(match[3]))) {
            throw new CsvError(file, line, `column '${column}' must be a date as YYYY-MM-DD, got '${raw}'`);
        }
        return raw;
    }
    return raw;
}

/**
 * Parses and validates one table's CSV text: the header must name the table's columns in order,
 * every row must have one field per column with the column's type, and primary keys are unique.
 */
export function parseDomainCsv(table: TableSpec, text: string, file: string): Row[] {
    return [...domainCsvRows(table, [text], file)];
}

/**
 * The same validation as rows are read: each row is yielded once checked, and a bad row stops the
 * reading with its file and line. Only the primary keys seen so far are kept, to find duplicates.
 */
export function* domainCsvRows(table: TableSpec, chunks: Iterable<string>, file: string): Generator<Row> {
    const expectedHeader = table.columns.map(c => c.name);
    const key = expectedHeader.indexOf(table.primaryKey);
    const seenKeys = new Map<number | string, number>();
    let header: CsvRecord | undefined;
    for (const record of parseCsvChunks(chunks, file)) {
        if (!header) {
            header = record;
            if (header.fields.join(",") !== expectedHeader.join(",")) {
                throw new CsvError(file, header.line, `header is '${header.fields.join(",")}'; expected '${expectedHeader.join(",")}'`);
            }
            continue;
        }
        if (record.fields.length !== table.columns.length) {
            throw new CsvError(file, record.line, `expected ${table.columns.length} fields, found ${record.fields.length}`);
        }
        const row = record.fields.map((raw, i) => parseValue(raw, table.columns[i].type, table.columns[i].name, file, record.line));
        const firstSeen = seenKeys.get(row[key]);
        if (firstSeen !== undefined) {
            throw new CsvError(file, record.line, `duplicate ${table.primaryKey} ${row[key]} (first on line ${firstSeen})`);
        }
        seenKeys.set(row[key], record.line);
        yield row;
    }
    if (!header) {
        throw new CsvError(file, 1, `missing header row; expected '${expectedHeader.join(",")}'`);
    }
}

const READ_BLOCK_BYTES = 1024 * 1024;

/** A file's text a block at a time; a UTF-8 character split between blocks is kept whole. */
function* fileText(file: string): Generator<string> {
    const fd = fs.openSync(file, "r");
    try {
        const decoder = new StringDecoder("utf8");
        const block = Buffer.alloc(READ_BLOCK_BYTES);
        for (let read = fs.readSync(fd, block); read > 0; read = fs.readSync(fd, block)) {
            yield decoder.write(block.subarray(0, read));
        }
        yield decoder.end();
    } finally {
        fs.closeSync(fd);
    }
}

/** Reads and validates one table's file from a data folder, as a stream of rows. */
export function domainFileRows(table: TableSpec, dir: string): Generator<Row> {
    const file = path.join(dir, table.file);
    return domainCsvRows(table, fileText(file), file);
}

/** Reads and validates one table's file from a data folder. */
export function readDomainFile(table: TableSpec, dir: string): Row[] {
    return [...domainFileRows(table, dir)];
}

/**
 * Checks a data folder before anything is deployed: every managed domain's files are present and
 * every row is valid. Returns a fingerprint of each domain's content, so that new data for one
 * domain reloads that domain alone.
 */
export function validateDataDir(dir: string, domains: readonly DomainSpec[]): Record<string, string> {
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
        throw new Error(`data folder '${dir}' does not exist or is not a folder`);
    }
    const missing = domains.flatMap(d => d.tables.map(t => ({ domain: d.name, file: path.join(dir, t.file) }))).filter(f => !fs.existsSync(f.file));
    if (missing.length > 0) {
        throw new Error(`data folder '${dir}' is missing ${missing.map(f => `'${f.file}' (domain ${f.domain})`).join(", ")}`);
    }
    return Object.fromEntries(
        domains.map(domain => {
            const hash = crypto.createHash("sha256");
            for (const table of domain.tables) {
                hash.update(table.file).update("\0");
                // One pass: each block is hashed as it is parsed, and no file is held whole.
                const file = path.join(dir, table.file);
                const blocks = function* () {
                    for (const text of fileText(file)) {
                        hash.update(text);
                        yield text;
                    }
                };
                // Every row is validated; none is kept.
                for (const rows = domainCsvRows(table, blocks(), file); !rows.next().done; );
                hash.update("\0");
            }
            return [domain.name, `files:${hash.digest("hex")}`];
        }),
    );
}

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

/** The rows of one table from a data source, as they are read or generated. */
export function tableRows(table: TableSpec, source: DataSource): Iterable<Row> {
    return source.kind === "files" ? domainFileRows(table, source.dir) : syntheticRows(table, source.scale);
}

const BULK_CHUNK_BYTES = 64 * 1024;

/**
 * The rows as CSV for the engines' bulk loaders, in chunks of about 64 KiB, as they are read:
 * every text quoted (so that an empty one is not taken for NULL), numbers as they are, one row per
 * line. `counted` receives the number of rows once the last chunk is out.
 */
export function* bulkLoadCsv(rows: Iterable<Row>, counted: (rows: number) => void): Generator<Buffer> {
    let chunk = "";
    let count = 0;
    for (const row of rows) {
        chunk += row.map(value => (typeof value === "number" ? String(value) : `"${value.replace(/"/g, '""')}"`)).join(",") + "\n";
        count++;
        if (chunk.length >= BULK_CHUNK_BYTES) {
            yield Buffer.from(chunk, "utf8");
            chunk = "";
        }
    }
    if (chunk) {
        yield Buffer.from(chunk, "utf8");
    }
    counted(count);
}

/**
 * Each managed domain's fingerprint, which changes exactly when that domain's data changes. The
 * synthetic generator knows the jaffle_shop tables only: another domain needs a data folder.
 */
export function fingerprintDataSource(source: DataSource, domains: readonly DomainSpec[]): Record<string, string> {
    if (source.kind === "files") {
        return validateDataDir(source.dir, domains);
    }
    const unknown = domains.flatMap(d => d.tables.filter(t => !SYNTHETIC_TABLES.includes(t.name)).map(t => `${d.name}.${t.name} (${d.file})`));
    if (unknown.length > 0) {
        throw new Error(`the synthetic generator (datamesh:scale) has no rows for ${unknown.join(", ")}; it knows ${SYNTHETIC_TABLES.join(", ")}: give their rows in a data folder (datamesh:dataDir) instead`);
    }
    return Object.fromEntries(domains.map(d => [d.name, `synthetic:v1:scale=${source.scale}`]));
}
