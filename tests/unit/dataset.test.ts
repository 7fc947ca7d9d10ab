import * as fs from "fs";
import * as path from "path";
import { makeTempDir } from "./tempDirs";
import * as crypto from "crypto";
import { bulkLoadCsv, CANONICAL_DATA_DIR, domainFileRows, fingerprintDataSource, parseDomainCsv, validateDataDir } from "../../lib/dataset";
import { syntheticCounts, syntheticRows } from "../../data/synthetic";
import { DOMAINS } from "../../lib/domains";
import { jaffleTable } from "../reference";

const customers = jaffleTable("customers");
const orders = jaffleTable("orders");
const payments = jaffleTable("payments");

function tempDataDir(files: Record<string, string>): string {
    const dir = makeTempDir("data");
    for (const [name, text] of Object.entries(files)) {
        fs.writeFileSync(path.join(dir, name), text);
    }
    return dir;
}

describe("domain CSV validation", () => {
    it("types the canonical data", () => {
        const rows = parseDomainCsv(payments, fs.readFileSync(path.join(CANONICAL_DATA_DIR, "payments.csv"), "utf8"), "payments.csv");
        expect(rows).toHaveLength(113);
        expect(rows[0]).toEqual([1, 1, "credit_card", 1000]);
    });

    it("rejects a wrong header with the file and line", () => {
        expect(() => parseDomainCsv(customers, "id,first,last,email\n", "c.csv")).toThrow("c.csv:1: header is 'id,first,last,email'; expected 'id,first_name,last_name,email'");
    });

    it("rejects a row with too few fields", () => {
        expect(() => parseDomainCsv(orders, "id,user_id,order_date,status\n1,1,2018-01-01,placed\n2,1,2018-01-02\n", "o.csv")).toThrow("o.csv:3: expected 4 fields, found 3");
    });

    it("rejects a non-integer amount, as cents must be whole", () => {
        expect(() => parseDomainCsv(payments, "id,order_id,payment_method,amount\n1,1,coupon,12.5\n", "p.csv")).toThrow("p.csv:2: column 'amount' must be an integer, got '12.5'");
    });

    it("takes a leap day only in a leap year", () => {
        const header = "id,user_id,order_date,status\n";
        expect(parseDomainCsv(orders, `${header}1,1,2020-02-29,placed\n2,1,2000-02-29,placed\n`, "o.csv").map(r => r[2])).toEqual(["2020-02-29", "2000-02-29"]);
        expect(() => parseDomainCsv(orders, `${header}1,1,1900-02-29,placed\n`, "o.csv")).toThrow("o.csv:2: column 'order_date' must be a date as YYYY-MM-DD, got '1900-02-29'");
        expect(() => parseDomainCsv(orders, `${header}1,1,2018-04-31,placed\n`, "o.csv")).toThrow("o.csv:2: column 'order_date' must be a date as YYYY-MM-DD, got '2018-04-31'");
        expect(() => parseDomainCsv(orders, `${header}1,1,2018-13-01,placed\n`, "o.csv")).toThrow("o.csv:2: column 'order_date' must be a date as YYYY-MM-DD, got '2018-13-01'");
    });

    it("rejects an impossible date", () => {
        expect(() => parseDomainCsv(orders, "id,user_id,order_date,status\n1,1,2018-02-30,placed\n", "o.csv")).toThrow("o.csv:2: column 'order_date' must be a date as YYYY-MM-DD, got '2018-02-30'");
    });

    it("rejects a duplicate primary key and says where it was first", () => {
        expect(() => parseDomainCsv(customers, "id,first_name,last_name,email\n1,a,b,c\n1,d,e,f\n", "c.csv")).toThrow("c.csv:3: duplicate id 1 (first on line 2)");
    });

    it("reports a missing file of a data folder by name", () => {
        const dir = tempDataDir({ "customers.csv": "id,first_name,last_name,email\n" });
        expect(() => validateDataDir(dir, DOMAINS)).toThrow(`data folder '${dir}' is missing '${path.join(dir, "orders.csv")}' (domain orders), '${path.join(dir, "payments.csv")}' (domain payments)`);
    });

    it("fingerprints each domain by its own files' content, so that new payments reload only payments", () => {
        const files = {
            "customers.csv": "id,first_name,last_name,email\n1,A,B,a@b\n",
            "orders.csv": "id,user_id,order_date,status\n1,1,2018-01-01,placed\n",
            "payments.csv": "id,order_id,payment_method,amount\n1,1,coupon,1234\n",
        };
        const a = validateDataDir(tempDataDir(files), DOMAINS);
        const b = validateDataDir(tempDataDir(files), DOMAINS);
        const c = validateDataDir(tempDataDir({ ...files, "payments.csv": "id,order_id,payment_method,amount\n1,1,coupon,1235\n" }), DOMAINS);
        expect(a).toEqual(b);
        expect(c.payments).not.toBe(a.payments);
        expect({ ...c, payments: a.payments }).toEqual(a);
    });
});

describe("a data folder read as a stream", () => {
    it("reads a file larger than a read block row by row, each row as parsed whole", () => {
        const lines = ["id,user_id,order_date,status"];
        for (let id = 1; id <= 60000; id++) {
            lines.push(`${id},${id % 97},2018-01-${String((id % 28) + 1).padStart(2, "0")},"pla""ced ${"é".repeat(id % 5)}"`);
        }
        const text = lines.join("\n") + "\n";
        expect(Buffer.byteLength(text)).toBeGreaterThan(2 * 1024 * 1024);
        const dir = tempDataDir({ "orders.csv": text });
        const rows = domainFileRows(orders, dir);
        expect(rows.next().value).toEqual([1, 1, "2018-01-02", 'pla"ced é']);
        expect([...rows].length + 1).toEqual(parseDomainCsv(orders, text, "orders.csv").length);
    });

    it("stops at a bad row deep in a file, naming its line", () => {
        const lines = ["id,first_name,last_name,email"];
        for (let id = 1; id <= 50000; id++) {
            lines.push(`${id},a,b,c`);
        }
        lines.push("50000,again,b,c");
        const dir = tempDataDir({ "customers.csv": lines.join("\n") });
        expect(() => [...domainFileRows(customers, dir)]).toThrow(`${path.join(dir, "customers.csv")}:50002: duplicate id 50000 (first on line 50001)`);
    });

    it("fingerprints a domain by its files' bytes, as when they were read whole", () => {
        for (const domain of DOMAINS) {
            const hash = crypto.createHash("sha256");
            for (const table of domain.tables) {
                hash.update(table.file).update("\0").update(fs.readFileSync(path.join(CANONICAL_DATA_DIR, table.file))).update("\0");
            }
            expect(validateDataDir(CANONICAL_DATA_DIR, DOMAINS)[domain.name]).toBe(`files:${hash.digest("hex")}`);
        }
    });
});

describe("synthetic data", () => {
    it("is deterministic and sized by the scale", () => {
        const first = [...syntheticRows(orders, 2)];
        const second = [...syntheticRows(orders, 2)];
        expect(first).toEqual(second);
        expect(first).toHaveLength(syntheticCounts(2).orders);
        expect([...syntheticRows(customers, 3)]).toHaveLength(300);
    });

    it("has amounts that are never whole dollars, and some orders without payments", () => {
        const rows = [...syntheticRows(payments, 5)];
        expect(rows.every(r => (r[3] as number) % 100 !== 0)).toBe(true);
        const paid = new Set(rows.map(r => r[1]));
        expect(paid.size).toBeLessThan(syntheticCounts(5).orders);
        expect(new Set(rows.map(r => r[0])).size).toBe(rows.length);
    });

    it("references only existing customers and orders", () => {
        const { customers: c, orders: o } = syntheticCounts(4);
        expect([...syntheticRows(orders, 4)].every(r => (r[1] as number) >= 1 && (r[1] as number) <= c)).toBe(true);
        expect([...syntheticRows(payments, 4)].every(r => (r[1] as number) >= 1 && (r[1] as number) <= o)).toBe(true);
    });

    it("streams: a million customers are generated without holding them", () => {
        let count = 0;
        for (const _ of syntheticRows(customers, 10_000)) {
            count++;
        }
        expect(count).toBe(1_000_000);
    });

    it("fingerprints by scale", () => {
        expect(fingerprintDataSource({ kind: "synthetic", scale: 3 }, DOMAINS)).toEqual({ customers: "synthetic:v1:scale=3", orders: "synthetic:v1:scale=3", payments: "synthetic:v1:scale=3" });
    });

    it("refuses a domain whose tables it cannot generate, naming the table and its declaration", () => {
        const shipping = { ...DOMAINS[0], name: "shipping", file: "domains/shipping.yaml", tables: [{ ...DOMAINS[0].tables[0], name: "shipments", file: "shipments.csv" }] };
        expect(() => fingerprintDataSource({ kind: "synthetic", scale: 3 }, [...DOMAINS, shipping])).toThrow(
            "the synthetic generator (datamesh:scale) has no rows for shipping.shipments (domains/shipping.yaml); it knows customers, orders, payments",
        );
    });
});

describe("CSV for the engines' bulk loaders", () => {
    it("quotes every text, so that an empty one stays empty, and counts the rows once the last chunk is out", () => {
        let counted: number | undefined;
        const chunks = [...bulkLoadCsv([[1, "O'Brien", ""], [2, 'say "hi", then go', "Zoë\\"]], rows => (counted = rows))];
        expect(Buffer.concat(chunks).toString("utf8")).toBe('1,"O\'Brien",""\n2,"say ""hi"", then go","Zoë\\"\n');
        expect(counted).toBe(2);
    });

    it("streams a large source in chunks of about 64 KiB, never as one piece", () => {
        let counted: number | undefined;
        const sizes = [...bulkLoadCsv(syntheticRows(jaffleTable("payments"), 100), rows => (counted = rows))].map(chunk => chunk.length);
        expect(sizes.length).toBeGreaterThan(3);
        expect(Math.max(...sizes)).toBeLessThan(70 * 1024);
        expect(counted).toBe([...syntheticRows(jaffleTable("payments"), 100)].length);
    });
});

describe("the data fingerprint of a stack deployed before domains were declared", () => {
    it("is recognised: the folder's CSV files in name order, the three jaffle_shop tables for the shipped data", async () => {
        const { fingerprintTogether } = await import("../../resources/domainData");
        // What the old code hashed, written out here as it was then.
        const hash = crypto.createHash("sha256");
        for (const file of ["customers.csv", "orders.csv", "payments.csv"]) {
            hash.update(file).update("\0").update(fs.readFileSync(path.join(CANONICAL_DATA_DIR, file))).update("\0");
        }
        expect(fingerprintTogether(CANONICAL_DATA_DIR)).toBe(`files:${hash.digest("hex")}`);
        expect(fingerprintTogether("/nonexistent")).toBeUndefined();
    });
});
