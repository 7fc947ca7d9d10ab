import { isUtf8 } from "buffer";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { StringDecoder } from "string_decoder";
import { CsvBatch, CsvError, parseCsvBytes } from "./csv";
import { DomainSpec, TableSpec } from "./domains";
import { SYNTHETIC_TABLES, syntheticRows } from "../data/synthetic";

/** A typed table row: integers as numbers, text and ISO dates as strings. */
export type Row = (number | string)[];

/** Where the domain data comes from: a folder of CSV files, or the deterministic generator. */
export type DataSource =
    | { kind: "files"; dir: string }
    | { kind: "synthetic"; scale: number };

/** The data set that ships with the project: the one folder under data/. */
export const CANONICAL_DATA_DIR = shippedDataDir(path.join(__dirname, "..", "data"));

function shippedDataDir(root: string): string {
    const folders = fs.existsSync(root) ? fs.readdirSync(root, { withFileTypes: true }).filter(entry => entry.isDirectory()) : [];
    if (folders.length !== 1) {
        throw new Error(`${root} must hold exactly one data set folder, the default data (it holds ${folders.map(f => f.name).join(", ") || "none"}); set datamesh:dataDir for another`);
    }
    return path.join(root, folders[0].name);
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** A day that exists in the proleptic Gregorian calendar (2018-02-29 does not, 2020-02-29 does). */
function isCalendarDate(year: number, month: number, day: number): boolean {
    const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
    return month >= 1 && month <= 12 && day >= 1 && day <= DAYS_IN_MONTH[month - 1] + (month === 2 && leap ? 1 : 0);
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const MINUS = 0x2d;
const LF = 0x0a;
const ZERO = 0x30;

/** The value of a run of ASCII digits, or NaN if anything else is among them. */
function digitsValue(data: Buffer, start: number, end: number): number {
    let value = 0;
    for (let p = start; p < end; p++) {
        const digit = data[p] - ZERO;
        if (digit < 0 || digit > 9) {
            return NaN;
        }
        value = value * 10 + digit;
    }
    return value;
}

/** An integer field's value as Number() reads it, or NaN unless it is -?[0-9]{1,15} (so always exact). */
function integerValue(data: Buffer, start: number, end: number): number {
    const negative = start < end && data[start] === MINUS;
    const digits = negative ? start + 1 : start;
    if (end - digits < 1 || end - digits > 15) {
        return NaN;
    }
    const value = digitsValue(data, digits, end);
    return negative ? -value : value;
}

/** Whether a field is YYYY-MM-DD in ASCII digits and a day of the calendar. */
function isIsoDate(data: Buffer, start: number, end: number): boolean {
    return (
        end - start === 10 &&
        data[start + 4] === MINUS &&
        data[start + 7] === MINUS &&
        isCalendarDate(digitsValue(data, start, start + 4), digitsValue(data, start + 5, start + 7), digitsValue(data, start + 8, end))
    );
}

/** A 53-bit hash of a text key's bytes: equal texts have equal hashes, and a shared hash is checked. */
function textKeyHash(data: Buffer, start: number, end: number): number {
    let a = 0x811c9dc5;
    let b = 0x9747b28c;
    for (let p = start; p < end; p++) {
        a = Math.imul(a ^ data[p], 0x01000193);
        b = Math.imul(b ^ data[p], 0x5bd1e995);
        b ^= b >>> 15;
    }
    return (a >>> 0) * 0x200000 + (b >>> 11);
}

/** Spreads an integer of up to 53 bits over 32 for a hash table slot. */
function slotHash(key: number): number {
    const low = key >>> 0;
    const high = ((key - low) / 0x100000000) | 0;
    let h = Math.imul(low, 0x9e3779b1) ^ Math.imul(high ^ 0x85ebca6b, 0xc2b2ae35);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    return h ^ (h >>> 13);
}

/** What the bitmap may always take (64 KiB), beyond the 16 bytes a key a hash table would. */
const BITMAP_FREE_WORDS = 16 * 1024;

/**
 * The primary keys seen so far, integers of up to 53 bits, in typed arrays: a Map of a million keys
 * takes tens of megabytes. Keys from 0 up are bits of a bitmap for as long as it costs no more than
 * a hash table would (the usual ids 1..n take a bit each); any other key goes to a hash table of
 * doubles, 16 to 32 bytes a key. A key is in the bitmap exactly when it is below the bitmap's size.
 */
class KeySet {
    private bits = new Uint32Array(0);
    private table = new Float64Array(1024).fill(NaN);
    private tableKeys = 0;
    /** The bitmap may grow only up to the least key the table holds. */
    private leastTableKey = Infinity;
    private keys = 0;

    /** Adds a key; false if it was there already. */
    add(key: number): boolean {
        if (key >= 0 && key >= this.bits.length * 32 && key < this.leastTableKey) {
            this.growBits(key);
        }
        if (key >= 0 && key < this.bits.length * 32) {
            const word = key >>> 5;
            const bit = 1 << (key & 31);
            if ((this.bits[word] & bit) !== 0) {
                return false;
            }
            this.bits[word] |= bit;
            this.keys++;
            return true;
        }
        if (2 * (this.tableKeys + 1) > this.table.length) {
            this.growTable();
        }
        if (!insert(this.table, key)) {
            return false;
        }
        this.tableKeys++;
        this.keys++;
        if (key >= 0 && key < this.leastTableKey) {
            this.leastTableKey = key;
        }
        return true;
    }

    private growBits(key: number): void {
        const words = Math.min(Math.max(2 * this.bits.length, Math.floor(key / 32) + 1), 4 * this.keys + BITMAP_FREE_WORDS, Math.floor(this.leastTableKey / 32));
        if (words * 32 > key) {
            const bits = new Uint32Array(words);
            bits.set(this.bits);
            this.bits = bits;
        }
    }

    private growTable(): void {
        const table = new Float64Array(2 * this.table.length).fill(NaN);
        for (const key of this.table) {
            if (!Number.isNaN(key)) {
                insert(table, key);
            }
        }
        this.table = table;
    }
}

/** Open addressing with linear probing; false if the key is there already. */
function insert(table: Float64Array, key: number): boolean {
    const mask = table.length - 1;
    for (let slot = slotHash(key) & mask; ; slot = (slot + 1) & mask) {
        const held = table[slot];
        if (Number.isNaN(held)) {
            table[slot] = key;
            return true;
        }
        if (held === key) {
            return false;
        }
    }
}

/** One table's CSV bytes, and a way to read them again from the start. */
interface CsvSource {
    file: string;
    chunks: Iterable<Buffer>;
    reread: () => Iterable<Buffer>;
}

/** A batch whose records from `first` on are valid rows; `integers` holds each integer field's value. */
interface ValidBatch {
    csv: CsvBatch;
    first: number;
    integers: Float64Array;
}

/**
 * Validates one table's CSV as it is read: the header must name the table's columns in order,
 * every row must have one field per column with the column's type, and primary keys are unique.
 * A bad row stops the reading with its file and line; a batch is handed out once all its rows pass.
 */
function* validBatches(table: TableSpec, source: CsvSource): Generator<ValidBatch> {
    const { file } = source;
    const columns = table.columns;
    const types = columns.map(c => c.type);
    const expectedHeader = columns.map(c => c.name).join(",");
    const keyColumn = keyColumnOf(table);
    const integerKey = types[keyColumn] === "integer";
    const keys = new KeySet();
    const valid: ValidBatch = { csv: new CsvBatch(), first: 0, integers: new Float64Array(0) };
    let headerSeen = false;
    for (const csv of parseCsvBytes(source.chunks, file)) {
        const { data, lines, firstField, starts, ends } = csv;
        let first = 0;
        if (!headerSeen && csv.records > 0) {
            const header = csv.fieldTexts(0).join(",");
            if (header !== expectedHeader) {
                throw new CsvError(file, lines[0], `header is '${header}'; expected '${expectedHeader}'`);
            }
            headerSeen = true;
            first = 1;
        }
        if (valid.integers.length < firstField[csv.records]) {
            valid.integers = new Float64Array(2 * firstField[csv.records]);
        }
        const integers = valid.integers;
        for (let record = first; record < csv.records; record++) {
            const line = lines[record];
            const firstOfRecord = firstField[record];
            const count = firstField[record + 1] - firstOfRecord;
            if (count !== columns.length) {
                throw new CsvError(file, line, `expected ${columns.length} fields, found ${count}`);
            }
            for (let column = 0; column < types.length; column++) {
                const field = firstOfRecord + column;
                if (types[column] === "integer") {
                    const value = integerValue(data, starts[field], ends[field]);
                    if (Number.isNaN(value)) {
                        throw new CsvError(file, line, `column '${columns[column].name}' must be an integer, got '${csv.text(field)}'`);
                    }
                    integers[field] = value;
                } else if (types[column] === "date" && !isIsoDate(data, starts[field], ends[field])) {
                    throw new CsvError(file, line, `column '${columns[column].name}' must be a date as YYYY-MM-DD, got '${csv.text(field)}'`);
                }
            }
            const keyField = firstOfRecord + keyColumn;
            const key = integerKey ? integers[keyField] : textKeyHash(data, starts[keyField], ends[keyField]);
            if (!keys.add(key)) {
                const keyBytes = integerKey ? undefined : Buffer.from(data.subarray(starts[keyField], ends[keyField]));
                const firstLine = firstLineOfKey(source, keyColumn, keyBytes ?? key, line);
                if (firstLine !== undefined) {
                    throw new CsvError(file, line, `duplicate ${table.primaryKey} ${keyBytes ? keyBytes.toString("utf8") : key} (first on line ${firstLine})`);
                }
            }
        }
        valid.csv = csv;
        valid.first = first;
        yield valid;
    }
    if (!headerSeen) {
        throw new CsvError(file, 1, `missing header row; expected '${expectedHeader}'`);
    }
}

/**
 * The line where a primary key first appears before `line`, found by reading the source again:
 * only a compact set of the keys is kept while reading, not where each one was. Undefined when
 * there is none, a text key having only shared its hash with another.
 */
function firstLineOfKey(source: CsvSource, keyColumn: number, key: number | Buffer, line: number): number | undefined {
    let header = true;
    for (const csv of parseCsvBytes(source.reread(), source.file)) {
        for (let record = 0; record < csv.records; record++) {
            if (csv.lines[record] >= line) {
                return undefined;
            }
            const field = csv.firstField[record] + keyColumn;
            const start = csv.starts[field];
            const end = csv.ends[field];
            if (!header && (typeof key === "number" ? integerValue(csv.data, start, end) === key : csv.data.subarray(start, end).equals(key))) {
                return csv.lines[record];
            }
            header = false;
        }
    }
    return undefined;
}

/** Where the primary key is among a table's columns. */
function keyColumnOf(table: TableSpec): number {
    const column = table.columns.findIndex(c => c.name === table.primaryKey);
    if (column < 0) {
        throw new Error(`table '${table.name}' has no column '${table.primaryKey}' for its primary key`);
    }
    return column;
}

/** The valid rows, typed, each yielded once checked. */
function* domainCsvRows(table: TableSpec, source: CsvSource): Generator<Row> {
    const types = table.columns.map(c => c.type);
    for (const { csv, first, integers } of validBatches(table, source)) {
        for (let record = first; record < csv.records; record++) {
            const firstOfRecord = csv.firstField[record];
            yield types.map((type, column) => (type === "integer" ? integers[firstOfRecord + column] : csv.text(firstOfRecord + column)));
        }
    }
}

/**
 * Parses and validates one table's CSV text: the header must name the table's columns in order,
 * every row must have one field per column with the column's type, and primary keys are unique.
 */
export function parseDomainCsv(table: TableSpec, text: string, file: string): Row[] {
    const bytes = Buffer.from(text, "utf8");
    return [...domainCsvRows(table, { file, chunks: [bytes], reread: () => [bytes] })];
}

const READ_BLOCK_BYTES = 1024 * 1024;

/**
 * Where a UTF-8 character cut off by the end of the bytes starts (their length if none), by the
 * rule Node's StringDecoder holds such a character back for the next block with.
 */
function cutCharacterStart(bytes: Buffer): number {
    for (let p = bytes.length - 1; p >= 0 && p >= bytes.length - 4; p--) {
        const byte = bytes[p];
        if ((byte & 0xc0) === 0x80) {
            continue;
        }
        const length = (byte & 0xe0) === 0xc0 ? 2 : (byte & 0xf0) === 0xe0 ? 3 : (byte & 0xf8) === 0xf0 ? 4 : 0;
        return bytes.length - p < length ? p : bytes.length;
    }
    return bytes.length;
}

/**
 * A file's bytes a block at a time, each block ending between characters. Bytes that are not valid
 * UTF-8 come out as U+FFFD, exactly as a StringDecoder fed the same blocks replaces them: the rows
 * and the fingerprint are those of the file's text, as when the file was read as a string.
 */
function* fileBytes(file: string): Generator<Buffer> {
    const fd = fs.openSync(file, "r");
    try {
        // Set at the first block that is not valid UTF-8; every later block then goes through it.
        let decoder: StringDecoder | undefined;
        let held = Buffer.alloc(0);
        for (;;) {
            const block = Buffer.allocUnsafe(held.length + READ_BLOCK_BYTES);
            held.copy(block);
            const read = fs.readSync(fd, block, held.length, READ_BLOCK_BYTES, null);
            if (read === 0) {
                break;
            }
            const bytes = block.subarray(0, held.length + read);
            if (!decoder) {
                const whole = cutCharacterStart(bytes);
                if (isUtf8(bytes.subarray(0, whole))) {
                    held = bytes.subarray(whole);
                    yield bytes.subarray(0, whole);
                    continue;
                }
                // The decoder starts where one fed every earlier block would be: holding the cut character.
                decoder = new StringDecoder("utf8");
                decoder.write(held);
            }
            yield Buffer.from(decoder.write(bytes.subarray(held.length)), "utf8");
            held = Buffer.alloc(0);
        }
        const rest = (decoder ?? new StringDecoder("utf8")).end(held);
        if (rest) {
            yield Buffer.from(rest, "utf8");
        }
    } finally {
        fs.closeSync(fd);
    }
}

function fileSource(table: TableSpec, dir: string): CsvSource {
    const file = path.join(dir, table.file);
    return { file, chunks: fileBytes(file), reread: () => fileBytes(file) };
}

/** Reads and validates one table's file from a data folder, as a stream of rows. */
export function domainFileRows(table: TableSpec, dir: string): Generator<Row> {
    return domainCsvRows(table, fileSource(table, dir));
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
                const source = fileSource(table, dir);
                const blocks = function* () {
                    for (const bytes of source.chunks) {
                        hash.update(bytes);
                        yield bytes;
                    }
                };
                // Every row is validated; none is kept.
                for (const batches = validBatches(table, { ...source, chunks: blocks() }); !batches.next().done; );
                hash.update("\0");
            }
            return [domain.name, `files:${hash.digest("hex")}`];
        }),
    );
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
        // Appended value by value, and a text searched for a quote before any is replaced: an array
        // and a regular expression per row took a quarter to a third of the time.
        for (let column = 0; column < row.length; column++) {
            const value = row[column];
            chunk += (column === 0 ? "" : ",") + (typeof value === "number" ? String(value) : `"${value.includes('"') ? value.replace(/"/g, '""') : value}"`);
        }
        chunk += "\n";
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

/** Room left in a chunk after its 64 KiB, so that a row of usual length never has to wait for a new one. */
const BULK_CHUNK_SLACK = 4 * 1024;

/**
 * `bulkLoadCsv` of a data folder's file, byte for byte, written straight from the file's bytes as
 * each batch of records is validated: a row object and a string per field cost several times the
 * parse itself.
 */
function* fileBulkLoadCsv(table: TableSpec, dir: string, counted: (rows: number) => void): Generator<Buffer> {
    const integerColumns = table.columns.map(c => c.type === "integer");
    let chunk = Buffer.allocUnsafe(BULK_CHUNK_BYTES + BULK_CHUNK_SLACK);
    let size = 0;
    let count = 0;
    for (const { csv, first } of validBatches(table, fileSource(table, dir))) {
        const { data, firstField, starts, ends } = csv;
        for (let record = first; record < csv.records; record++) {
            const firstOfRecord = firstField[record];
            for (let column = 0; column < integerColumns.length; column++) {
                const start = starts[firstOfRecord + column];
                const end = ends[firstOfRecord + column];
                // Enough for a text of nothing but quotes, doubled, its own quotes and the separator.
                const room = 2 * (end - start) + 3;
                if (size + room > chunk.length) {
                    if (size > 0) {
                        yield chunk.subarray(0, size);
                    }
                    chunk = Buffer.allocUnsafe(Math.max(BULK_CHUNK_BYTES + BULK_CHUNK_SLACK, room));
                    size = 0;
                }
                if (integerColumns[column]) {
                    size = writeInteger(chunk, size, data, start, end);
                } else {
                    chunk[size++] = QUOTE;
                    for (let p = start; p < end; p++) {
                        const byte = data[p];
                        chunk[size++] = byte;
                        if (byte === QUOTE) {
                            chunk[size++] = QUOTE;
                        }
                    }
                    chunk[size++] = QUOTE;
                }
                chunk[size++] = column + 1 < integerColumns.length ? COMMA : LF;
            }
            count++;
            if (size >= BULK_CHUNK_BYTES) {
                yield chunk.subarray(0, size);
                chunk = Buffer.allocUnsafe(BULK_CHUNK_BYTES + BULK_CHUNK_SLACK);
                size = 0;
            }
        }
    }
    if (size > 0) {
        yield chunk.subarray(0, size);
    }
    counted(count);
}

/** A valid integer field as String(Number(field)) has it: no leading zeros, and no minus on zero. */
function writeInteger(chunk: Buffer, size: number, data: Buffer, start: number, end: number): number {
    const negative = data[start] === MINUS;
    let p = negative ? start + 1 : start;
    while (p < end - 1 && data[p] === ZERO) {
        p++;
    }
    if (negative && !(p === end - 1 && data[p] === ZERO)) {
        chunk[size++] = MINUS;
    }
    while (p < end) {
        chunk[size++] = data[p++];
    }
    return size;
}

/**
 * One table's rows from a data source as CSV for the engines' bulk loaders (see `bulkLoadCsv`),
 * as they are read or generated. `counted` receives the number of rows once the last chunk is out.
 */
export function tableBulkLoadCsv(table: TableSpec, source: DataSource, counted: (rows: number) => void): Iterable<Buffer> {
    return source.kind === "files" ? fileBulkLoadCsv(table, source.dir, counted) : bulkLoadCsv(syntheticRows(table, source.scale), counted);
}

/**
 * Each managed domain's fingerprint, which changes exactly when that domain's data changes. The
 * synthetic generator knows the tables of data/synthetic.ts only: another domain needs a data folder.
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
