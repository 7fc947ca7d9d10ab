import * as fs from "fs";
import * as path from "path";
import { checkSourcesAgainstDomains, publicModels, readDbtProject } from "../../lib/dbtProject";
import { DOMAINS, DOMAINS_DIR, loadDomainDeclarations, parseDomainDeclaration } from "../../lib/domains";
import { selfSignedCertificate } from "../selfSigned";
import { makeTempDir } from "./tempDirs";

const SHIPPING = `name: shipping
description: Parcels sent for orders.
owner: shipping_owner
engine: mariadb
readers: [logistics]
rows:
  from: data
tables:
  - name: shipments
    primaryKey: id
    pii: [recipient]
    columns:
      - { name: id, type: integer }
      - { name: order_id, type: integer }
      - { name: recipient, type: text }
      - { name: shipped_on, type: date }
`;

/** The shipping declaration with one line replaced, as a user's mistake would change it. */
function shippingWith(from: string, to: string): string {
    if (!SHIPPING.includes(from)) {
        throw new Error(`the test's declaration has no '${from}'`);
    }
    return SHIPPING.replace(from, to);
}

const parse = (text: string) => parseDomainDeclaration(text, "domains/shipping.yaml");

describe("a domain declaration", () => {
    it("derives what the stack needs: the Trino schema, each table's file and primary key, its PII", () => {
        expect(parse(SHIPPING)).toEqual({
            name: "shipping",
            description: "Parcels sent for orders.",
            owner: "shipping_owner",
            engine: "mariadb",
            trinoSchema: "shipping",
            readers: ["logistics"],
            file: "domains/shipping.yaml",
            source: "declaration",
            tables: [
                {
                    name: "shipments",
                    file: "shipments.csv",
                    primaryKey: "id",
                    piiColumns: ["recipient"],
                    columns: [
                        { name: "id", type: "integer" },
                        { name: "order_id", type: "integer" },
                        { name: "recipient", type: "text" },
                        { name: "shipped_on", type: "date" },
                    ],
                },
            ],
        });
    });

    it("takes a mask per PII column, a list of PII columns being denied", () => {
        const masked = parse(shippingWith("pii: [recipient]", "pii: { recipient: hash, order_id: null }"));
        expect(masked.tables[0]).toMatchObject({ piiColumns: ["recipient", "order_id"], piiMasks: { recipient: "hash", order_id: "null" } });
        expect(parse(SHIPPING).tables[0].piiMasks).toBeUndefined();
    });

    it("declares an existing database with its reader and the configuration key of its password", () => {
        const external = parse(shippingWith("rows:\n  from: data\n", "rows:\n  from: external\n  host: db.example.com\n  port: 3306\n  database: logistics\n  user: trino_reader\n  passwordKey: shippingPassword\n"));
        expect(external.external).toEqual({ host: "db.example.com", port: 3306, database: "logistics", user: "trino_reader", passwordKey: "shippingPassword" });
        // MariaDB's schema in Trino is the database, here the team's own.
        expect(external.trinoSchema).toBe("logistics");
    });

    it.each([
        ["an unknown engine", shippingWith("engine: mariadb", "engine: oracle"), "domains/shipping.yaml: engine: must be one of postgresql, mariadb"],
        ["a table without a primary key", shippingWith("    primaryKey: id\n", ""), "domains/shipping.yaml: tables[0].primaryKey: table 'shipments' has no primary key"],
        ["a primary key that is not a column", shippingWith("primaryKey: id", "primaryKey: shipment_id"), "tables[0].primaryKey: 'shipment_id' is not a column of table 'shipments'"],
        ["a PII column that does not exist", shippingWith("pii: [recipient]", "pii: [recipient_email]"), "domains/shipping.yaml: tables[0].pii[0]: PII column 'recipient_email' is not a column of table 'shipments'"],
        ["a reader that is also the owner", shippingWith("readers: [logistics]", "readers: [shipping_owner]"), "domains/shipping.yaml: readers: 'shipping_owner' is the domain's owner"],
        ["an owner that is one of the stack's users", shippingWith("owner: shipping_owner", "owner: analyst"), "domains/shipping.yaml: owner: must not be one of the stack's own Trino users"],
        ["an unknown column type", shippingWith("{ name: shipped_on, type: date }", "{ name: shipped_on, type: timestamp }"), "tables[0].columns[3].type: must be one of integer, text, date"],
        ["a duplicate column", shippingWith("{ name: shipped_on, type: date }", "{ name: order_id, type: date }"), "tables[0].columns[3].name: duplicate column 'order_id'"],
        ["an unknown field", shippingWith("owner: shipping_owner", "owner: shipping_owner\nteam: logistics"), 'domains/shipping.yaml: (the file): Unrecognized key: "team"'],
        ["rows from nowhere", shippingWith("from: data", "from: s3"), "domains/shipping.yaml: rows"],
        ["a name that is not the file's", shippingWith("name: shipping", "name: shipments"), "domains/shipping.yaml: name: 'shipments' must match the file's name ('shipping')"],
        ["text that is not YAML", "name: [shipping", "domains/shipping.yaml: line 1: not valid YAML"],
        ["a PII mask that does not exist", shippingWith("pii: [recipient]", "pii: { recipient: redact }"), "domains/shipping.yaml: tables[0].pii.recipient: must be one of deny, null, hash"],
        ["a hashed date", shippingWith("pii: [recipient]", "pii: { shipped_on: hash }"), "domains/shipping.yaml: tables[0].pii.shipped_on: a date column cannot be hashed"],
        ["a masked column that does not exist", shippingWith("pii: [recipient]", "pii: { recipient_email: null }"), "tables[0].pii.recipient_email: PII column 'recipient_email' is not a column"],
        [
            "a hash mask on an external domain",
            shippingWith("rows:\n  from: data\n", "rows:\n  from: external\n  host: db\n  port: 3306\n  database: logistics\n  user: r\n  passwordKey: k\n").replace("pii: [recipient]", "pii: { recipient: hash }"),
            "domains/shipping.yaml: tables[0].pii.recipient: an external domain's PII can only be denied",
        ],
        [
            "an external host that smuggles in driver parameters",
            shippingWith("rows:\n  from: data\n", "rows:\n  from: external\n  host: db:3306/x?allowLoadLocalInfile=true#\n  port: 3306\n  database: logistics\n  user: r\n  passwordKey: k\n"),
            "domains/shipping.yaml: rows.host: must be a host name or an IP address",
        ],
        ["an external domain without its password key", shippingWith("rows:\n  from: data\n", "rows:\n  from: external\n  host: db\n  port: 3306\n  database: logistics\n  user: r\n"), "domains/shipping.yaml: rows: give passwordKey"],
    ])("refuses %s, naming the file and the field", (_case, text, message) => {
        expect(() => parse(text)).toThrow(message);
    });
});

describe("the declarations together", () => {
    function declarationsDir(files: Record<string, string>): string {
        const dir = makeTempDir("datamesh-domains-");
        for (const [name, text] of Object.entries(files)) {
            fs.writeFileSync(path.join(dir, name), text);
        }
        return dir;
    }

    it("are the project's three jaffle_shop domains, in file-name order", () => {
        expect(DOMAINS.map(d => [d.name, d.engine, d.owner, d.tables.map(t => t.name)])).toEqual([
            ["customers", "postgresql", "customers_owner", ["customers"]],
            ["orders", "mariadb", "orders_owner", ["orders"]],
            ["payments", "postgresql", "payments_owner", ["payments"]],
        ]);
        expect(DOMAINS[0].tables[0].piiColumns).toEqual(["email"]);
        expect(DOMAINS.every(d => d.file.startsWith(DOMAINS_DIR))).toBe(true);
    });

    it("refuses a duplicate domain name, naming both files", () => {
        const dir = declarationsDir({ "shipping.yaml": SHIPPING, "shipping.yml": SHIPPING.replace("shipping_owner", "parcels_owner").replace("shipments", "parcels") });
        expect(() => loadDomainDeclarations(dir)).toThrow(`${path.join(dir, "shipping.yml")}: name: duplicate domain name 'shipping' (already declared in ${path.join(dir, "shipping.yaml")})`);
    });

    it("refuses a reader that owns another domain, and a table another domain declares", () => {
        const returns = SHIPPING.replace(/shipping/g, "returns").replace("shipments", "returned_parcels");
        const reading = declarationsDir({ "shipping.yaml": SHIPPING.replace("readers: [logistics]", "readers: [returns_owner]"), "returns.yaml": returns });
        expect(() => loadDomainDeclarations(reading)).toThrow(`${path.join(reading, "shipping.yaml")}: readers[0]: 'returns_owner' is the owner of domain 'returns'`);
        const sameTable = declarationsDir({ "shipping.yaml": SHIPPING, "returns.yaml": SHIPPING.replace(/shipping/g, "returns") });
        expect(() => loadDomainDeclarations(sameTable)).toThrow("tables[0].name: duplicate table name 'shipments'");
    });

    it("refuses an empty or missing folder", () => {
        expect(() => loadDomainDeclarations(declarationsDir({}))).toThrow("holds no .yaml file");
        expect(() => loadDomainDeclarations("/nonexistent/domains")).toThrow("'/nonexistent/domains' does not exist");
    });
});

describe("the dbt project against the declarations", () => {
    const DBT_DIR = path.join(__dirname, "..", "..", "dbt");

    /** A copy of the project's dbt models with one properties file rewritten. */
    function dbtProjectWith(file: string, edit: (text: string) => string): string {
        const dir = makeTempDir("datamesh-dbt-");
        fs.cpSync(path.join(DBT_DIR, "models"), path.join(dir, "models"), { recursive: true });
        const target = path.join(dir, "models", file);
        fs.writeFileSync(target, edit(fs.readFileSync(target, "utf8")));
        return dir;
    }

    it("is the project's own dbt/ by default, whose model edits may build only what they change", () => {
        expect(readDbtProject(DBT_DIR, "datamesh")).toEqual({ dir: DBT_DIR, defersModelEdits: true });
    });

    it("refuses a project whose profile is not the one the stack writes, naming the file and the field", () => {
        const dir = makeTempDir("foreign-dbt");
        fs.writeFileSync(path.join(dir, "dbt_project.yml"), "name: demo\nprofile: jaffle_shop\n");
        expect(() => readDbtProject(dir, "datamesh")).toThrow(`${path.join(dir, "dbt_project.yml")}: profile: 'jaffle_shop', but the stack writes the profile 'datamesh'`);
        fs.writeFileSync(path.join(dir, "dbt_project.yml"), "name: demo\nprofile: datamesh\n");
        // Without the hook that copies what a deferred build leaves out, every model edit rebuilds every model.
        expect(readDbtProject(dir, "datamesh")).toEqual({ dir, defersModelEdits: false });
    });

    it("agrees with them, and publishes the models it declares public", () => {
        expect(() => checkSourcesAgainstDomains(DBT_DIR, DOMAINS)).not.toThrow();
        expect(publicModels(DBT_DIR)).toEqual(["dim_customers", "fct_orders"]);
    });

    it("refuses a source whose column type differs from the declaration, naming both files", () => {
        const dir = dbtProjectWith("staging/__sources.yml", text => text.replace(/(- name: amount\n\s+data_type: )bigint/, "$1double"));
        expect(() => checkSourcesAgainstDomains(dir, DOMAINS)).toThrow(/__sources\.yml: sources\[2\]\.tables\[0\]\.columns\[3\]\.data_type: 'double', but .*payments\.yaml declares payments\.payments\.amount as integer, which Trino reports as bigint/);
    });

    it("takes a source that lists only some of a table's columns: dbt reads a subset, and a domain adds columns without the project changing", () => {
        const subset = dbtProjectWith("staging/__sources.yml", text => text.replace(/\n\s+- name: status\n\s+data_type: varchar\n\s+description: [^\n]*/, ""));
        expect(() => checkSourcesAgainstDomains(subset, DOMAINS)).not.toThrow();
    });

    it("refuses a source table that lists no column, a column the declaration does not have, a PII mark it does not make, and an undeclared source", () => {
        const none = dbtProjectWith("staging/__sources.yml", text => text.replace(/(- name: orders\n\s+description: One row per order\.\n\s+)columns:[\s\S]*?(\n\n)/, "$1columns: []$2"));
        expect(() => checkSourcesAgainstDomains(none, DOMAINS)).toThrow(/sources\[1\]\.tables\[0\]\.columns: lists no column; list each column of orders\.orders that dbt reads, with its data_type \(.*orders\.yaml declares id, user_id, order_date, status\)/);
        const undeclaredColumn = dbtProjectWith("staging/__sources.yml", text => text.replace("- name: status\n", "- name: state\n"));
        expect(() => checkSourcesAgainstDomains(undeclaredColumn, DOMAINS)).toThrow(/sources\[1\]\.tables\[0\]\.columns\[3\]\.name: 'state' is not a column of orders\.orders in .*orders\.yaml \(id, user_id, order_date, status\)/);
        const unmarked = dbtProjectWith("staging/__sources.yml", text => text.replace(/\n\s+meta:\n\s+contains_pii: true/, ""));
        expect(() => checkSourcesAgainstDomains(unmarked, DOMAINS)).toThrow(/columns\[3\]\.meta\.contains_pii: false, but .*customers\.yaml declares customers\.customers\.email as PII/);
        const undeclared = dbtProjectWith("staging/__sources.yml", text => text.replace("  - name: payments\n", "  - name: refunds\n"));
        expect(() => checkSourcesAgainstDomains(undeclared, DOMAINS)).toThrow("sources[2].name: 'refunds' is not a declared domain (customers, orders, payments); declare it in domains/refunds.yaml");
    });
});

describe("the documentation's example declarations", () => {
    it("are valid as written: docs/domains.md's managed one and its external one", () => {
        const docs = fs.readFileSync(path.join(__dirname, "..", "..", "docs", "domains.md"), "utf8");
        const examples = [...docs.matchAll(/```yaml\n([\s\S]*?)```/g)].map(match => match[1]).filter(text => /^name: /m.test(text) && !/^models:/m.test(text));
        const declared = examples.map(text => parseDomainDeclaration(text, `domains/${/^name: (\w+)/m.exec(text)![1]}.yaml`));
        expect(declared.map(d => [d.name, d.external ? "external" : "managed"])).toEqual([
            ["shipping", "managed"],
            ["loyalty", "external"],
        ]);
    });
});

describe("an external domain whose reader the stack creates", () => {
    const external = (rows: string) => parse(shippingWith("rows:\n  from: data\n", `rows:\n  from: external\n  host: db\n  port: 3306\n  database: logistics\n  user: trino_reader\n${rows}`));

    it("names an administrator and the key of its password instead of the reader's", () => {
        expect(external("  admin: { user: root, passwordKey: shippingAdminPassword }\n").external).toEqual({
            host: "db",
            port: 3306,
            database: "logistics",
            user: "trino_reader",
            admin: { user: "root", passwordKey: "shippingAdminPassword" },
        });
    });

    it("refuses both a reader's password and an administrator, or neither", () => {
        expect(() => external("  passwordKey: a\n  admin: { user: root, passwordKey: b }\n")).toThrow("domains/shipping.yaml: rows: give passwordKey");
        expect(() => external("")).toThrow("not both and not neither");
    });
});

describe("an external domain reached over TLS", () => {
    const dir = makeTempDir("datamesh-tls-declaration-");
    const caPem = selfSignedCertificate("DNS:ca.example.com").cert;
    fs.mkdirSync(path.join(dir, "domains", "certs"), { recursive: true });
    fs.writeFileSync(path.join(dir, "domains", "certs", "crm-ca.pem"), `# the CRM team's CA\n${caPem}`);
    fs.writeFileSync(path.join(dir, "domains", "certs", "not-a-certificate.pem"), "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n");
    fs.writeFileSync(path.join(dir, "domains", "certs", "broken.pem"), "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n");
    const file = path.join(dir, "domains", "shipping.yaml");
    const external = (tls: string) =>
        parseDomainDeclaration(shippingWith("rows:\n  from: data\n", `rows:\n  from: external\n  host: db.example.com\n  port: 3306\n  database: logistics\n  user: r\n  passwordKey: k\n${tls}`), file);

    it("reads verify-full's CA from a file beside the declaration, its certificates alone", () => {
        const tls = external("  tls: { mode: verify-full, ca: certs/crm-ca.pem }\n").external!.tls;
        expect(tls).toEqual({ mode: "verify-full", caPem: caPem, caFile: path.join(dir, "domains", "certs", "crm-ca.pem") });
        expect(external("  tls: { mode: require }\n").external!.tls).toEqual({ mode: "require" });
        expect(external("").external!.tls).toBeUndefined();
    });

    it.each([
        ["an unknown mode", "  tls: { mode: verify-ca, ca: certs/crm-ca.pem }\n", "rows.tls.mode: must be one of require, verify-full"],
        ["verify-full without a CA", "  tls: { mode: verify-full }\n", "rows.tls.ca: mode verify-full checks the server's certificate against a CA: name the CA's PEM file"],
        ["a CA that require would ignore", "  tls: { mode: require, ca: certs/crm-ca.pem }\n", "rows.tls.ca: mode require does not check the server's certificate"],
        ["a CA file that does not exist", "  tls: { mode: verify-full, ca: certs/nowhere.pem }\n", `rows.tls.ca: cannot read the CA file ${path.join(dir, "domains", "certs", "nowhere.pem")}`],
        ["a CA file without a certificate", "  tls: { mode: verify-full, ca: certs/not-a-certificate.pem }\n", "not-a-certificate.pem holds no PEM certificate"],
        ["a certificate that does not parse", "  tls: { mode: verify-full, ca: certs/broken.pem }\n", "rows.tls.ca: certificate 1 in"],
        ["an unknown TLS key", "  tls: { mode: verify-full, ca: certs/crm-ca.pem, sslrootcert: x }\n", 'rows.tls: Unrecognized key: "sslrootcert"'],
    ])("refuses %s, naming the file and the key", (_case, tls, message) => {
        expect(() => external(tls)).toThrow(`${file}: `);
        expect(() => external(tls)).toThrow(message);
    });

    it("refuses verify-full to a MariaDB at an IP address, whose certificate name the stack's client cannot check, naming the file and the key", () => {
        const atAddress = (engine: string) =>
            parseDomainDeclaration(
                shippingWith("rows:\n  from: data\n", "rows:\n  from: external\n  host: 10.1.2.3\n  port: 3306\n  database: logistics\n  user: r\n  passwordKey: k\n  tls: { mode: verify-full, ca: certs/crm-ca.pem }\n").replace("engine: mariadb", `engine: ${engine}`),
                file,
            );
        expect(() => atAddress("mariadb")).toThrow(`${file}: rows.host: '10.1.2.3' is an IP address, and the stack's MariaDB client (mysql2) can check a certificate's name only against a host name`);
        expect(atAddress("postgresql").external!.tls!.mode).toBe("verify-full");
    });

    it("is for external domains: a domain the stack loads takes no tls", () => {
        expect(() => parseDomainDeclaration(shippingWith("rows:\n  from: data\n", "rows:\n  from: data\n  tls: { mode: require }\n"), file)).toThrow(`${file}: rows: Unrecognized key: "tls"`);
    });
});
