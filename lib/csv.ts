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

/** Where an unquoted run of field text ends. */
const UNQUOTED_END = /[",\r\n]/g;

/**
 * The same parse over text that arrives in pieces (a file read a block at a time): each record is
 * yielded as soon as it ends, so a file of any size is never held in memory. A piece may end
 * anywhere, inside a quoted field or between the two characters of a CRLF.
 */
export function* parseCsvChunks(chunks: Iterable<string>, file: string): Generator<CsvRecord> {
    let fields: string[] = [];
    let field = "";
    let line = 1;
    let recordLine = 1;
    let inQuotes = false;
    let fieldWasQuoted = false;
    let ended: CsvRecord[] = [];
    let text = "";
    let atStart = true;

    const endField = () => {
        fields.push(field);
        field = "";
        fieldWasQuoted = false;
    };
    const endRecord = () => {
        endField();
        const blank = fields.length === 1 && fields[0] === "";
        if (!blank) {
            ended.push({ line: recordLine, fields });
        }
        fields = [];
    };

    const pieces = chunks[Symbol.iterator]();
    for (let last = false; !last; ) {
        const piece = pieces.next();
        last = piece.done === true;
        text += last ? "" : piece.value;
        let i = 0;
        if (atStart && text.length > 0) {
            i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
            atStart = false;
        }
        for (; i < text.length; i++) {
            const ch = text[i];
            // A quote or a CR decides by the character after it: wait for the next piece.
            if (!last && i + 1 === text.length && (ch === '"' || ch === "\r")) {
                break;
            }
            if (inQuotes) {
                if (ch === '"') {
                    if (text[i + 1] === '"') {
                        field += '"';
                        i++;
                    } else {
                        inQuotes = false;
                        const next = text[i + 1];
                        if (next !== undefined && next !== "," && next !== "\n" && next !== "\r") {
                            throw new CsvError(file, line, `unexpected character '${next}' after a closing quote`);
                        }
                    }
                } else {
                    // Everything up to the next quote belongs to the field, as one slice.
                    const quote = text.indexOf('"', i);
                    const end = quote === -1 ? text.length : quote;
                    for (let newline = text.indexOf("\n", i); newline !== -1 && newline < end; newline = text.indexOf("\n", newline + 1)) {
                        line++;
                    }
                    field += text.slice(i, end);
                    i = end - 1;
                }
                continue;
            }
            if (ch === '"') {
                if (field !== "" || fieldWasQuoted) {
                    throw new CsvError(file, line, "a quote inside an unquoted field (enclose the field in double quotes and double the quote)");
                }
                inQuotes = true;
                fieldWasQuoted = true;
            } else if (ch === ",") {
                endField();
            } else if (ch === "\r" && text[i + 1] === "\n") {
                continue;
            } else if (ch === "\n") {
                endRecord();
                line++;
                recordLine = line;
            } else if (ch === "\r") {
                field += ch;
            } else {
                // Up to the next character that means something, as one slice.
                UNQUOTED_END.lastIndex = i + 1;
                const end = UNQUOTED_END.exec(text)?.index ?? text.length;
                field += text.slice(i, end);
                i = end - 1;
            }
        }
        text = text.slice(i);
        yield* ended;
        ended = [];
    }
    if (inQuotes) {
        throw new CsvError(file, recordLine, "a quoted field is not closed before the end of the file");
    }
    if (field !== "" || fields.length > 0 || fieldWasQuoted) {
        endRecord();
        yield* ended;
    }
}

/** Quotes a value for CSV output only when RFC 4180 requires it. */
export function formatCsvField(value: string): string {
    return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
