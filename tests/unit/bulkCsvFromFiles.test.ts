import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { parseCsv } from "../../lib/csv";
import { bulkLoadCsv, CANONICAL_DATA_DIR, domainFileRows, parseDomainCsv, tableBulkLoadCsv, validateDataDir } from "../../lib/dataset";
import { DOMAINS, TableSpec } from "../../lib/domains";
import { jaffleTable } from "../reference";
import { makeTempDir } from "./tempDirs";

const ODD_CENTS_DIR = path.join(__dirname, "..", "fixtures", "odd_cents", "data");
/** The block size lib/dataset.ts reads files with. */
const READ_BLOCK_BYTES = 1024 * 1024;

const customers = jaffleTable("customers");
const payments = jaffleTable("payments");
const TABLES = DOMAINS.flatMap(d => d.tables);

/** The CSV the engines must get for a file, encoded the plain way: texts quoted, quotes doubled, integers as String(Number(text)). */
function referenceBulkCsv(table: TableSpec, text: string): string {
    const [, ...records] = parseCsv(text, table.file);
    const encoded = records.map(r => r.fields.map((raw, i) => (table.columns[i].type === "integer" ? String(Number(raw)) : `"${raw.replace(/"/g, '""')}"`)).join(",") + "\n");
    return encoded.join("");
}

function bulkCsvFromFile(table: TableSpec, dir: string): Buffer {
    return Buffer.concat([...tableBulkLoadCsv(table, { kind: "files", dir }, () => undefined)]);
}

function dataDirWith(table: TableSpec, content: string | Buffer): string {
    const dir = makeTempDir("bulk");
    fs.writeFileSync(path.join(dir, table.file), content);
    return dir;
}

describe("CSV for the bulk loaders, straight from a data folder's file", () => {
    it("is the plain encoding of the parsed rows for the canonical data and the odd_cents fixture", () => {
        for (const dir of [CANONICAL_DATA_DIR, ODD_CENTS_DIR]) {
            for (const table of TABLES) {
                const sent = bulkCsvFromFile(table, dir);
                expect(sent.toString("utf8")).toBe(referenceBulkCsv(table, fs.readFileSync(path.join(dir, table.file), "utf8")));
                expect(sent.equals(Buffer.concat([...bulkLoadCsv(domainFileRows(table, dir), () => undefined)]))).toBe(true);
            }
        }
    });

    it("counts the rows once the last chunk is out", () => {
        let counted: number | undefined;
        const chunks = tableBulkLoadCsv(payments, { kind: "files", dir: CANONICAL_DATA_DIR }, rows => (counted = rows))[Symbol.iterator]();
        for (let next = chunks.next(); !next.done; next = chunks.next()) {
            expect(counted).toBeUndefined();
        }
        expect(counted).toBe(113);
    });

    it.each([
        ["quoted commas, quotes and line breaks", 'id,first_name,last_name,email\n1,"Perez, Michael","Say ""hi""","two\nlines"\n', '1,"Perez, Michael","Say ""hi""","two\nlines"\n'],
        ["CRLF, a byte order mark, blank lines and no final newline", '\ufeffid,first_name,last_name,email\r\n1,a,b,c\r\n\r\n2,"x\r\ny",b,c\r\n\n3,a,b,c', '1,"a","b","c"\n2,"x\r\ny","b","c"\n3,"a","b","c"\n'],
        ["bare CRs inside a field, before a comma and before a CRLF", "id,first_name,last_name,email\n1,bare\rcr,b\r,c\r\r\n", '1,"bare\rcr","b\r","c\r"\n'],
        ["a bare CR after a closing quote, kept with what follows it", 'id,first_name,last_name,email\n1,"a""b"\rc,b,c\n', '1,"a""b\rc","b","c"\n'],
        ["empty texts, quoted or not, and quoted integers", 'id,first_name,last_name,email\n"4",,"",""""\n', '4,"","",""""\n'],
        ["non-ASCII text", "id,first_name,last_name,email\n1,Zoë,Yılmaz,😀@例え.jp\n", '1,"Zoë","Yılmaz","😀@例え.jp"\n'],
    ])("is byte for byte the old encoding: %s", (_, text, expected) => {
        const dir = dataDirWith(customers, text);
        expect(referenceBulkCsv(customers, text)).toBe(expected);
        expect(bulkCsvFromFile(customers, dir).toString("utf8")).toBe(expected);
    });

    it("writes integers as Number() reads them: no leading zeros, no minus on zero", () => {
        const text = "id,order_id,payment_method,amount\n007,-0,coupon,-0042\n8,000,gift_card,123456789012345\n-9,-000,x,0\n";
        const dir = dataDirWith(payments, text);
        expect(bulkCsvFromFile(payments, dir).toString("utf8")).toBe('7,0,"coupon",-42\n8,0,"gift_card",123456789012345\n-9,0,"x",0\n');
        expect(referenceBulkCsv(payments, text)).toBe(bulkCsvFromFile(payments, dir).toString("utf8"));
        expect([...domainFileRows(payments, dir)].map(row => row[1])).toEqual([-0, 0, -0]);
    });

    it("is the same wherever a read block ends: inside a quoted field, between CR and LF, inside a character", () => {
        const tricky = '7,"a ""q"",\r\nb","Zoë😀",é\r\n8,x,"y",z\r\n';
        const trickyExpected = '7,"a ""q"",\r\nb","Zoë😀","é"\n8,"x","y","z"\n';
        const trickyBytes = Buffer.byteLength(tricky);
        for (let cut = 0; cut <= trickyBytes; cut++) {
            const header = "id,first_name,last_name,email\n";
            const padding = READ_BLOCK_BYTES - cut - Buffer.byteLength(header) - "6,,b,c\n".length;
            const rows = ["1,a,b,c\n", "2,a,b,c\n", "3,a,b,c\n", "4,a,b,c\n", "5,a,b,c\n", `6,${"p".repeat(padding - 40)},b,c\n`];
            const text = header + rows.join("") + tricky;
            expect(Buffer.byteLength(text) - trickyBytes).toBe(READ_BLOCK_BYTES - cut);
            const expected = '1,"a","b","c"\n2,"a","b","c"\n3,"a","b","c"\n4,"a","b","c"\n5,"a","b","c"\n' + `6,"${"p".repeat(padding - 40)}","b","c"\n` + trickyExpected;
            expect(bulkCsvFromFile(customers, dataDirWith(customers, text)).toString("utf8")).toBe(expected);
        }
    });

    it("checks the rows of a read block before a stray quote that ends it, as the text parser did", () => {
        const header = "id,first_name,last_name,email\n";
        const short = "2,a,b\n";
        const padding = READ_BLOCK_BYTES - Buffer.byteLength(header) - "1,,b,c\n".length - short.length - 'x"'.length;
        const dir = dataDirWith(customers, `${header}1,${"p".repeat(padding)},b,c\n${short}x"y,a,b,c\n`);
        expect(() => bulkCsvFromFile(customers, dir)).toThrow(`${path.join(dir, customers.file)}:3: expected 4 fields, found 3`);
        expect(() => bulkCsvFromFile(customers, dataDirWith(customers, `${header}1,a,b,c\n${short}x"y,a,b,c\n`))).toThrow(/:4: a quote inside an unquoted field/);
    });

    it("turns bytes that are not UTF-8 into U+FFFD, as reading the file as text did, in the rows and the fingerprint", () => {
        const bytes = Buffer.concat([Buffer.from("id,first_name,last_name,email\n1,Zo"), Buffer.from([0xff, 0xc3]), Buffer.from("x,b,c\n")]);
        const dir = dataDirWith(customers, bytes);
        expect(bulkCsvFromFile(customers, dir).toString("utf8")).toBe('1,"Zo\ufffd\ufffdx","b","c"\n');
        expect([...domainFileRows(customers, dir)]).toEqual([[1, "Zo\ufffd\ufffdx", "b", "c"]]);
        for (const table of TABLES.filter(t => t !== customers)) {
            fs.copyFileSync(path.join(CANONICAL_DATA_DIR, table.file), path.join(dir, table.file));
        }
        const hash = crypto.createHash("sha256");
        hash.update(customers.file).update("\0").update(fs.readFileSync(path.join(dir, customers.file), "utf8")).update("\0");
        expect(validateDataDir(dir, DOMAINS).customers).toBe(`files:${hash.digest("hex")}`);
    });
});

describe("duplicate primary keys, found without a map of every key's line", () => {
    const header = "id,first_name,last_name,email\n";

    it("names the first line of a key that appeared several read blocks before", () => {
        const rows: string[] = [];
        for (let id = 1; id <= 150_000; id++) {
            rows.push(`${id},first,last,someone@example.com\n`);
        }
        const dir = dataDirWith(customers, header + rows.join("") + "2,again,b,c\n");
        expect(fs.statSync(path.join(dir, customers.file)).size).toBeGreaterThan(4 * READ_BLOCK_BYTES);
        const file = path.join(dir, customers.file);
        expect(() => bulkCsvFromFile(customers, dir)).toThrow(`${file}:150002: duplicate id 2 (first on line 3)`);
        expect(() => [...domainFileRows(customers, dir)]).toThrow(`${file}:150002: duplicate id 2 (first on line 3)`);
        for (const table of TABLES.filter(t => t !== customers)) {
            fs.copyFileSync(path.join(CANONICAL_DATA_DIR, table.file), path.join(dir, table.file));
        }
        expect(() => validateDataDir(dir, DOMAINS)).toThrow(`${file}:150002: duplicate id 2 (first on line 3)`);
    });

    it("compares integer keys by value, as numbers", () => {
        expect(() => parseDomainCsv(customers, `${header}007,a,b,c\n7,a,b,c\n`, "c.csv")).toThrow("c.csv:3: duplicate id 7 (first on line 2)");
        expect(() => parseDomainCsv(customers, `${header}5,a,b,c\n0,a,b,c\n-0,a,b,c\n`, "c.csv")).toThrow("c.csv:4: duplicate id 0 (first on line 3)");
    });

    it("finds duplicates among sparse, huge and negative keys", () => {
        const sparse = Array.from({ length: 3000 }, (_, i) => `${(i + 1) * 1_000_000_007},a,b,c\n`);
        const text = `${header}-5,a,b,c\n999999999999999,a,b,c\n` + sparse.join("") + "3,a,b,c\n";
        expect(parseDomainCsv(customers, text, "c.csv")).toHaveLength(3003);
        expect(() => parseDomainCsv(customers, `${text}-5,a,b,c\n`, "c.csv")).toThrow("c.csv:3005: duplicate id -5 (first on line 2)");
        expect(() => parseDomainCsv(customers, `${text}2000000014,a,b,c\n`, "c.csv")).toThrow("c.csv:3005: duplicate id 2000000014 (first on line 5)");
        expect(() => parseDomainCsv(customers, `${text}999999999999999,a,b,c\n`, "c.csv")).toThrow("c.csv:3005: duplicate id 999999999999999 (first on line 3)");
    });

    it("compares text keys by their text, quoted or not", () => {
        const byCode: TableSpec = { ...customers, primaryKey: "code", columns: [{ name: "code", type: "text" }, ...customers.columns.slice(1)] };
        const codes = `code,first_name,last_name,email\nab,a,b,c\n"a""b",a,b,c\nb,a,b,c\n`;
        expect(parseDomainCsv(byCode, codes, "c.csv").map(row => row[0])).toEqual(["ab", 'a"b', "b"]);
        expect(() => parseDomainCsv(byCode, `${codes}"b",a,b,c\n`, "c.csv")).toThrow("c.csv:5: duplicate code b (first on line 4)");
        expect(() => parseDomainCsv(byCode, `${codes}a"b,a,b,c\n`, "c.csv")).toThrow("c.csv:5: a quote inside an unquoted field");
    });

    it("finds the declared primary key wherever it stands among the columns", () => {
        const shipments: TableSpec = { name: "shipments", file: "shipments.csv", primaryKey: "id", piiColumns: [], columns: [{ name: "carrier", type: "text" }, { name: "id", type: "integer" }] };
        const text = "carrier,id\nups,1\nups,2\ndhl,3\n";
        expect(parseDomainCsv(shipments, text, "s.csv")).toEqual([["ups", 1], ["ups", 2], ["dhl", 3]]);
        expect(() => parseDomainCsv(shipments, `${text}fedex,2\n`, "s.csv")).toThrow("s.csv:5: duplicate id 2 (first on line 3)");
        const dir = dataDirWith(shipments, `${text}fedex,2\n`);
        expect(() => bulkCsvFromFile(shipments, dir)).toThrow(`${path.join(dir, "shipments.csv")}:5: duplicate id 2 (first on line 3)`);
    });
});
