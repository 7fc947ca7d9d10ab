/** One parsed CSV record and the physical line it starts on (1-based, header is line 1). */
export interface CsvRecord {
    line: number;
    fields: string[];
}

/** A CSV problem, always pinned to a file and a line so the user can fix the input. */
export class CsvError extends Error {
    constructor(readonly file: string, readonly line: number, detail: string) {
        super(`${file}:${line}: ${detail}`);
        this.name = "CsvError";
    }
}

/**
 * Parses RFC 4180 text: comma separated, fields optionally enclosed in double quotes, a doubled
 * quote inside a quoted field is a literal quote, and quoted fields may span lines. Both LF and
 * CRLF line endings are accepted. A UTF-8 byte order mark is ignored.
 */
export function parseCsv(text: string, file: string): CsvRecord[] {
    return [...parseCsvChunks([text], file)];
}

/**
 * The same parse over text that arrives in pieces (a file read a block at a time): each record is
 * yielded as soon as it ends, so a file of any size is never held in memory. A piece may end
 * anywhere, inside a quoted field or between the two characters of a CRLF.
 */
export function* parseCsvChunks(chunks: Iterable<string>, file: string): Generator<CsvRecord> {
    for (const batch of parseCsvBytes(utf8Pieces(chunks), file)) {
        for (let record = 0; record < batch.records; record++) {
            yield { line: batch.lines[record], fields: batch.fieldTexts(record) };
        }
    }
}

/** Text pieces as UTF-8, each ending between characters: a surrogate pair split by a piece's end is encoded whole. */
function* utf8Pieces(chunks: Iterable<string>): Generator<Buffer> {
    let held = "";
    for (const chunk of chunks) {
        const text = held + chunk;
        const last = text.charCodeAt(text.length - 1);
        const cut = last >= 0xd800 && last <= 0xdbff ? text.length - 1 : text.length;
        held = text.slice(cut);
        yield Buffer.from(text.slice(0, cut), "utf8");
    }
    if (held) {
        yield Buffer.from(held, "utf8");
    }
}

/**
 * The records parsed from one piece of the input, in typed arrays rather than an object per record,
 * as a data file has millions of them. Field f is the UTF-8 text data[starts[f], ends[f]); record r
 * starts on line lines[r] and has fields firstField[r] up to firstField[r + 1]. The buffers are
 * reused for the next piece: a batch must be read before the next one is asked for.
 */
export class CsvBatch {
    data = Buffer.alloc(0);
    records = 0;
    lines = new Float64Array(256);
    firstField = new Int32Array(257);
    starts = new Int32Array(1024);
    ends = new Int32Array(1024);

    text(field: number): string {
        return this.data.toString("utf8", this.starts[field], this.ends[field]);
    }

    fieldTexts(record: number): string[] {
        const texts: string[] = [];
        for (let field = this.firstField[record]; field < this.firstField[record + 1]; field++) {
            texts.push(this.text(field));
        }
        return texts;
    }

    growFields(): void {
        const starts = new Int32Array(2 * this.starts.length);
        const ends = new Int32Array(2 * this.ends.length);
        starts.set(this.starts);
        ends.set(this.ends);
        this.starts = starts;
        this.ends = ends;
    }

    growRecords(): void {
        const lines = new Float64Array(2 * this.lines.length);
        const firstField = new Int32Array(lines.length + 1);
        lines.set(this.lines);
        firstField.set(this.firstField);
        this.lines = lines;
        this.firstField = firstField;
    }
}

/**
 * An unfinished record at least this long is parsed again only once the buffered text has doubled,
 * not at every piece: a huge quoted field, or a quote never closed, costs linear time, not
 * quadratic. While records are shorter than a piece, this delays nothing.
 */
const LONG_RECORD_BYTES = 64 * 1024;

/**
 * The parse of `parseCsvChunks` over UTF-8 bytes, a batch of records per piece. Pieces must end
 * between characters, as `fileBytes` (lib/dataset.ts) and `utf8Pieces` make them.
 * The records of a piece are all parsed before any is handed out, as the text parser always did,
 * so a malformed line in a piece is reported before any record of that piece is checked.
 */
export function* parseCsvBytes(chunks: Iterable<Buffer>, file: string): Generator<CsvBatch> {
    const batch = new CsvBatch();
    let buffered = 0;
    let parsed = 0;
    let line = 1;
    let atStart = true;
    let parseAgainAt = 0;
    const parse = (atEnd: boolean) => {
        ({ rest: parsed, line } = parseRecords(batch, parsed, buffered, line, atEnd, file));
        const unfinished = buffered - parsed;
        parseAgainAt = unfinished >= LONG_RECORD_BYTES ? 2 * unfinished : 0;
    };
    for (const chunk of chunks) {
        // The unfinished record moves to the front, the piece follows it, and as much room again
        // is left after them for the unescaped text of fields with doubled quotes.
        const unfinished = buffered - parsed;
        const needed = 2 * (unfinished + chunk.length);
        if (batch.data.length < needed) {
            const larger = Buffer.allocUnsafe(Math.max(needed, 2 * batch.data.length));
            batch.data.copy(larger, 0, parsed, buffered);
            batch.data = larger;
        } else {
            batch.data.copyWithin(0, parsed, buffered);
        }
        chunk.copy(batch.data, unfinished);
        buffered = unfinished + chunk.length;
        parsed = 0;
        if (atStart && chunk.length > 0) {
            atStart = false;
            parsed = chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf ? 3 : 0;
        }
        if (buffered < parseAgainAt) {
            continue;
        }
        parse(false);
        yield batch;
    }
    parse(true);
    yield batch;
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;

/** The piece ends before what comes next can be known. */
const NEED_MORE = -1;

const QUOTE_IN_UNQUOTED_FIELD = "a quote inside an unquoted field (enclose the field in double quotes and double the quote)";

/**
 * Parses the records that end in data[from, end) into the batch. Returns where the first
 * unfinished record starts (end if none) and its line. At the end of the input a record needs no
 * newline, and an unfinished quoted field is an error.
 */
function parseRecords(batch: CsvBatch, from: number, end: number, firstLine: number, atEnd: boolean, file: string): { rest: number; line: number } {
    const data = batch.data;
    let { starts, ends, lines, firstField } = batch;
    // Where a field with doubled quotes goes, unescaped: the room after the text.
    const unescaped = { out: end, line: 0 };
    let records = 0;
    let fields = 0;
    let line = firstLine;
    let pos = from;
    firstField[0] = 0;
    records: while (pos < end) {
        const recordLine = line;
        const recordFields = fields;
        const recordOut = unescaped.out;
        for (let p = pos; ; ) {
            if (fields === starts.length) {
                batch.growFields();
                ({ starts, ends } = batch);
            }
            let start: number;
            let stop: number;
            // Where the field's comma or newline is, or `end`.
            let next: number;
            if (p < end && data[p] === QUOTE) {
                const fieldLine = line;
                let close = p + 1;
                for (let c = 0; close < end && (c = data[close]) !== QUOTE; close++) {
                    if (c === LF) {
                        line++;
                    }
                }
                // The usual quoted field: no quote inside, a separator right after the closing quote.
                const after = close + 1 < end ? data[close + 1] : -1;
                if (close < end && (after === COMMA || after === LF || (after === -1 && atEnd) || (after === CR && close + 2 < end && data[close + 2] === LF))) {
                    start = p + 1;
                    stop = close;
                    next = after === CR ? close + 2 : close + 1;
                } else {
                    unescaped.line = fieldLine;
                    start = unescaped.out;
                    next = unescapeQuotedField(data, p, end, atEnd, unescaped, recordLine, file);
                    if (next === NEED_MORE) {
                        line = recordLine;
                        fields = recordFields;
                        unescaped.out = recordOut;
                        break records;
                    }
                    stop = unescaped.out;
                    line = unescaped.line;
                }
            } else {
                let c = 0;
                next = p;
                for (; next < end && (c = data[next]) !== COMMA && c !== LF; next++) {
                    // A quote that ends the piece is judged with the next piece, as the text parser did.
                    if (c === QUOTE && (next + 1 < end || atEnd)) {
                        throw new CsvError(file, line, QUOTE_IN_UNQUOTED_FIELD);
                    }
                }
                if (next === end && !atEnd) {
                    line = recordLine;
                    fields = recordFields;
                    unescaped.out = recordOut;
                    break records;
                }
                start = p;
                // A CR is part of the field, unless it is the CR of a CRLF.
                stop = next < end && c === LF && next > p && data[next - 1] === CR ? next - 1 : next;
            }
            starts[fields] = start;
            ends[fields] = stop;
            fields++;
            if (next < end && data[next] === COMMA) {
                p = next + 1;
                continue;
            }
            if (next < end) {
                line++;
                pos = next + 1;
            } else {
                pos = end;
            }
            break;
        }
        if (fields - recordFields === 1 && starts[recordFields] === ends[recordFields]) {
            fields = recordFields;
            unescaped.out = recordOut;
            continue;
        }
        if (records + 1 === lines.length) {
            batch.growRecords();
            ({ lines, firstField } = batch);
        }
        lines[records] = recordLine;
        records++;
        firstField[records] = fields;
    }
    batch.records = records;
    return { rest: pos, line };
}

/**
 * A quoted field that is not the usual kind, by the full rules: a doubled quote is one quote, and a
 * bare CR after the closing quote does not end the field: the CR and what follows it up to the
 * next separator belong to it. The field's text is written at state.out, which is moved past it,
 * and state.line follows the newlines inside. Returns where the field's comma or newline is (or
 * `end`), or NEED_MORE.
 */
function unescapeQuotedField(data: Buffer, opening: number, end: number, atEnd: boolean, state: { out: number; line: number }, recordLine: number, file: string): number {
    let { out, line } = state;
    let quoted = true;
    for (let p = opening + 1; ; ) {
        if (p === end) {
            if (!atEnd) {
                return NEED_MORE;
            }
            if (quoted) {
                throw new CsvError(file, recordLine, "a quoted field is not closed before the end of the file");
            }
            state.out = out;
            state.line = line;
            return p;
        }
        const c = data[p];
        if (quoted) {
            if (c !== QUOTE) {
                if (c === LF) {
                    line++;
                }
                data[out++] = c;
                p++;
            } else if (p + 1 === end && !atEnd) {
                return NEED_MORE;
            } else if (p + 1 < end && data[p + 1] === QUOTE) {
                data[out++] = QUOTE;
                p += 2;
            } else {
                quoted = false;
                p++;
                if (p < end && data[p] !== COMMA && data[p] !== LF && data[p] !== CR) {
                    const [unexpected] = data.toString("utf8", p, Math.min(p + 4, end));
                    throw new CsvError(file, line, `unexpected character '${unexpected}' after a closing quote`);
                }
            }
            continue;
        }
        if ((c === CR || c === QUOTE) && p + 1 === end && !atEnd) {
            return NEED_MORE;
        }
        if (c === COMMA || c === LF || (c === CR && data[p + 1] === LF && p + 1 < end)) {
            state.out = out;
            state.line = line;
            return c === CR ? p + 1 : p;
        }
        if (c === QUOTE) {
            throw new CsvError(file, line, QUOTE_IN_UNQUOTED_FIELD);
        }
        data[out++] = c;
        p++;
    }
}

/** Quotes a value for CSV output only when RFC 4180 requires it. */
export function formatCsvField(value: string): string {
    return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
