import { CsvError, formatCsvField, parseCsv, parseCsvChunks } from "../../lib/csv";

describe("parseCsv", () => {
    it("reads RFC 4180 quoting: commas, doubled quotes and line breaks inside quotes", () => {
        const text = 'id,name\n1,"Perez, Michael"\n2,"Say ""hi"""\n3,"two\nlines"\n4,Zoë\n';
        expect(parseCsv(text, "f.csv")).toEqual([
            { line: 1, fields: ["id", "name"] },
            { line: 2, fields: ["1", "Perez, Michael"] },
            { line: 3, fields: ["2", 'Say "hi"'] },
            { line: 4, fields: ["3", "two\nlines"] },
            { line: 6, fields: ["4", "Zoë"] },
        ]);
    });

    it("accepts CRLF, a byte order mark, a missing final newline and skips blank lines", () => {
        expect(parseCsv("\ufeffa,b\r\n1,2\r\n\r\n3,4", "f.csv")).toEqual([
            { line: 1, fields: ["a", "b"] },
            { line: 2, fields: ["1", "2"] },
            { line: 4, fields: ["3", "4"] },
        ]);
    });

    it("keeps empty fields, quoted or not", () => {
        expect(parseCsv('a,b,c\n,"",x\n', "f.csv")[1].fields).toEqual(["", "", "x"]);
    });

    it("names the file and line of an unclosed quote", () => {
        expect(() => parseCsv('a\n1\n"open\n', "data/x.csv")).toThrow(new CsvError("data/x.csv", 3, "a quoted field is not closed before the end of the file"));
    });

    it("names the file and line of a stray quote", () => {
        expect(() => parseCsv('a,b\n1,ab"c\n', "x.csv")).toThrow(/^x\.csv:2: a quote inside an unquoted field/);
        expect(() => parseCsv('a,b\n1,"ab"c\n', "x.csv")).toThrow(/^x\.csv:2: unexpected character 'c' after a closing quote/);
    });

    it("round-trips fields through formatCsvField", () => {
        const values = ["plain", "with,comma", 'with "quote"', "multi\nline", "Zoë"];
        const line = values.map(formatCsvField).join(",");
        expect(parseCsv(line, "f.csv")[0].fields).toEqual(values);
    });

    it("parses text split anywhere, inside quotes and CRLFs included, as it parses it whole", () => {
        const text = '\ufeffid,note\r\n1,"a ""quoted"", multi\r\nline"\r\n2,plain\r\n3,""\r\n4,bare\rcr\n5,"x\ny",z\n';
        const whole = parseCsv(text, "f.csv");
        expect(whole.map(r => r.fields)).toEqual([["id", "note"], ["1", 'a "quoted", multi\r\nline'], ["2", "plain"], ["3", ""], ["4", "bare\rcr"], ["5", "x\ny", "z"]]);
        expect(whole.map(r => r.line)).toEqual([1, 2, 4, 5, 6, 7]);
        for (let a = 0; a <= text.length; a++) {
            for (let b = a; b <= text.length; b++) {
                expect([...parseCsvChunks([text.slice(0, a), text.slice(a, b), text.slice(b)], "f.csv")]).toEqual(whole);
            }
        }
    });

    it("yields each record before the rest of the text arrives", () => {
        function* pieces() {
            yield "a,b\n1,2\n";
            throw new Error("the second piece was read before the first records were used");
        }
        const records = parseCsvChunks(pieces(), "f.csv");
        expect(records.next().value).toEqual({ line: 1, fields: ["a", "b"] });
        expect(records.next().value).toEqual({ line: 2, fields: ["1", "2"] });
    });

    it("names the line of an error found in a later piece", () => {
        expect(() => [...parseCsvChunks(["a,b\n1,2\n", "3,x\"y\n"], "x.csv")]).toThrow(/^x\.csv:3: a quote inside an unquoted field/);
    });
});
