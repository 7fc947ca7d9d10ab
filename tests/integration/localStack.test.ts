import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { clientTlsOf } from "../../resources/domainData";
import { certificateAuthority } from "../selfSigned";
import { CHECK_ENV, renderCheckScript, renderStatementFile } from "../../catalogs/jobs";
import { checkStatement, CheckTargets } from "../../lib/reconcile";
import { readAudits } from "../../lib/audits";
import { runCheckStatement } from "../../resources/insightsCheck";
import { findLocalToolchain } from "../../platforms/local/toolchain";
import { processesOn } from "../../platforms/local/process";
import { formatCsvField } from "../../lib/csv";
import { CANONICAL_DATA_DIR } from "../../lib/dataset";
import { syntheticRows } from "../../data/synthetic";
import { DOMAINS } from "../../lib/domains";
import { jaffleTable } from "../reference";
import { domainAccessSql, icebergMetastoreSql } from "../../lib/sql";
import { EXPECTED_DIR, readTextTable, referenceInsights, TextTable } from "../reference";
import { queryTrino } from "../../lib/trinoQuery";
import { readVersions } from "../../lib/versions";
import { allSecrets, CACHE_DIR, createMesh, freePortRange, isAlive, isListening, MeshUnderTest, readFilesTolerantly, queryAsText, statementStatus, TEST_TRINO_JVM_OPTIONS } from "./harness";

// Deployments take minutes; every step here waits for a real `pulumi up`.
jest.setTimeout(900_000);

/*
 * One real deployment of the local stack, driven through the Automation API, then taken through
 * the life a user gives it: re-deploys, a Trino restart, model edits, bad data, and destroy. The
 * steps share the deployment and run in order.
 */

const INSIGHTS = "insights.jaffle_shop";
/** The check's summary of the canonical data: rows and money totals of both models, each beside its audit's. */
const CANONICAL_SUMMARY =
    /^OK: dim_customers 100 rows = audit 100, customer_lifetime_value 1672\.00 = audit 1672\.00; fct_orders 99 rows = audit 99, credit_card_amount (\d+\.\d\d) = audit \1, coupon_amount (\d+\.\d\d) = audit \2, bank_transfer_amount (\d+\.\d\d) = audit \3, gift_card_amount (\d+\.\d\d) = audit \4, amount 1672\.00 = audit 1672\.00/;
// A quote and a backslash, which quoting easily gets wrong, and a non-ASCII letter, which Trino reads as ISO-8859-1.
const AWKWARD_PASSWORD = `the user's "naïve" C:\\choice`;

async function insightTable(mesh: MeshUnderTest, table: "dim_customers" | "fct_orders"): Promise<TextTable> {
    const key = table === "dim_customers" ? "customer_id" : "order_id";
    return queryAsText(mesh, `SELECT * FROM ${INSIGHTS}.${table} ORDER BY ${key}`);
}

async function expectInsightsToEqual(mesh: MeshUnderTest, expected: { dim_customers: TextTable; fct_orders: TextTable }) {
    for (const table of ["dim_customers", "fct_orders"] as const) {
        const actual = await insightTable(mesh, table);
        expect(actual.header).toEqual(expected[table].header);
        expect(actual.rows).toHaveLength(expected[table].rows.length);
        actual.rows.forEach((row, i) => expect({ table, row }).toEqual({ table, row: expected[table].rows[i] }));
    }
}

function canonicalExpected() {
    return { dim_customers: readTextTable(path.join(EXPECTED_DIR, "dim_customers.csv")), fct_orders: readTextTable(path.join(EXPECTED_DIR, "fct_orders.csv")) };
}

/** How a secret looks once written: as is, as UTF-8 read back as Latin-1 (how the files are read here), and inside a JSON string. */
function writtenForms(secret: string): string[] {
    return [...new Set([secret, Buffer.from(secret, "utf8").toString("latin1"), JSON.stringify(secret).slice(1, -1)])];
}

function writeCsv(file: string, rows: (string | number)[][]) {
    fs.writeFileSync(file, rows.map(r => r.map(v => formatCsvField(String(v))).join(",")).join("\n") + "\n");
}

/** What analysts read, as Trino reports it: the run each published view reads, that run's Iceberg snapshots, and every row. */
/** Every row of every domain table, read as its owner from its own server. */
async function domainTables(mesh: MeshUnderTest): Promise<Record<string, unknown[]>> {
    const domains = (await mesh.stack.outputs()).domains.value;
    const tables: Record<string, unknown[]> = {};
    for (const name of ["customers", "payments"]) {
        const pg = require("pg");
        const { host, port, user, password, database, tls } = domains[name];
        const client = new pg.Client({ host, port, user, password, database, ...clientTlsOf("postgresql", tls) });
        await client.connect();
        tables[name] = (await client.query(`SELECT * FROM ${name} ORDER BY id`)).rows;
        await client.end();
    }
    const mysql = require("mysql2/promise");
    const { host, port, user, password, database, tls } = domains.orders;
    const connection = await mysql.createConnection({ host, port, user, password, database, ...clientTlsOf("mariadb", tls) });
    tables.orders = (await connection.query("SELECT * FROM orders ORDER BY id"))[0];
    await connection.end();
    return tables;
}

async function publishedInsights(mesh: MeshUnderTest) {
    const views = await queryAsText(mesh, `SELECT table_name, view_definition FROM insights.information_schema.views WHERE table_schema = 'jaffle_shop' ORDER BY table_name`);
    const runs = views.rows.map(([table, definition]) => [table, /FROM\s+insights\.(\w+)\./i.exec(definition)?.[1] ?? `not a view of a run: ${definition}`]);
    const run = runs[0]?.[1];
    const snapshots = await queryAsText(
        mesh,
        `SELECT 'dim_customers', snapshot_id FROM insights.${run}."dim_customers$snapshots" UNION ALL SELECT 'fct_orders', snapshot_id FROM insights.${run}."fct_orders$snapshots" ORDER BY 1, 2`,
    );
    return { runs, snapshots: snapshots.rows, dim_customers: await insightTable(mesh, "dim_customers"), fct_orders: await insightTable(mesh, "fct_orders") };
}

const DOMAIN_TABLES = { customers: "customers.public.customers", orders: "orders.orders.orders", payments: "payments.public.payments" };

/**
 * The check this project ran before per-key reconciliation: row counts, distinct keys and three
 * grand totals. True when it would have passed the given tables.
 */
async function aggregateCheckPasses(mesh: MeshUnderTest, schema: string): Promise<boolean> {
    const dim = `insights.${schema}.dim_customers`;
    const fct = `insights.${schema}.fct_orders`;
    const { customers, orders, payments } = DOMAIN_TABLES;
    const result = await queryAsText(
        mesh,
        `SELECT (SELECT count(*) FROM ${dim}) = (SELECT count(*) FROM ${customers}) ` +
            `AND (SELECT count(DISTINCT customer_id) FROM ${dim}) = (SELECT count(*) FROM ${customers}) ` +
            `AND (SELECT count(*) FROM ${fct}) = (SELECT count(*) FROM ${orders}) ` +
            `AND (SELECT count(DISTINCT order_id) FROM ${fct}) = (SELECT count(*) FROM ${orders}) ` +
            `AND (SELECT coalesce(sum(amount), 0) * 100 FROM ${fct}) = (SELECT coalesce(sum(amount), 0) FROM ${payments} WHERE order_id IN (SELECT id FROM ${orders})) ` +
            `AND (SELECT coalesce(sum(credit_card_amount + coupon_amount + bank_transfer_amount + gift_card_amount), 0) * 100 FROM ${fct}) = (SELECT coalesce(sum(amount), 0) FROM ${payments} WHERE order_id IN (SELECT id FROM ${orders})) ` +
            `AND (SELECT coalesce(sum(customer_lifetime_value), 0) * 100 FROM ${dim}) = (SELECT coalesce(sum(p.amount), 0) FROM ${payments} p JOIN ${orders} o ON p.order_id = o.id WHERE o.user_id IN (SELECT id FROM ${customers}))`,
    );
    return result.rows[0][0] === "true";
}

describe("the local stack, deployed for real", () => {
    let mesh: MeshUnderTest;
    const pids: number[] = [];
    const ports: number[] = [];

    beforeAll(async () => {
        mesh = await createMesh("main", { readers: JSON.stringify({ orders: ["finance"] }), analystPassword: AWKWARD_PASSWORD });
        await mesh.stack.up();
    }, 900_000);

    afterAll(async () => {
        await mesh?.remove();
    }, 300_000);

    it("builds dim_customers and fct_orders exactly as the expected CSVs, row by row", async () => {
        await expectInsightsToEqual(mesh, canonicalExpected());
    });

    it("exports the connection info, with passwords as secrets, and the check's summary", async () => {
        const outputs = await mesh.stack.outputs();
        expect(outputs.trinoUrl.value).toBe(mesh.trinoUrl);
        expect(outputs.insights.value).toEqual({ catalog: "insights", schema: "jaffle_shop" });
        expect(outputs.check.value).toMatch(CANONICAL_SUMMARY);
        expect(outputs.domains.value.orders).toMatchObject({ engine: "mariadb", host: "127.0.0.1", port: mesh.basePort + 1, database: "orders", user: "orders_owner" });
        expect(outputs.domains.value.orders.password).toMatch(/^[A-Za-z0-9]{24}$/);
        const stored = mesh.storedState();
        expect(stored).toContain('"ciphertext"');
        for (const domain of Object.values<{ password: string }>(outputs.domains.value)) {
            expect(stored).not.toContain(domain.password);
        }
        const example = await queryAsText(mesh, outputs.exampleQuery.value, "analyst");
        expect(example.rows.length).toBe(10);
    });

    it("serves each domain from its own server, with the owner's credentials from the outputs", async () => {
        const outputs = await mesh.stack.outputs();
        const resources = await mesh.resourceOutputs();
        for (const name of ["customers-server", "orders-server", "payments-server", "insights-metastore", "trino-server"]) {
            expect(isAlive(resources[name].pid)).toBe(true);
            pids.push(resources[name].pid);
        }
        ports.push(mesh.basePort, mesh.basePort + 1, mesh.basePort + 2, mesh.basePort + 3, mesh.trinoPort, mesh.trinoPort + 1);
        const mysql = require("mysql2/promise");
        const orders = outputs.domains.value.orders;
        const connection = await mysql.createConnection({ ...clientTlsOf(orders.engine, orders.tls), host: orders.host, port: orders.port, user: orders.user, password: orders.password, database: orders.database });
        const [rows] = await connection.query("SELECT count(*) AS n FROM orders");
        await connection.end();
        expect(Number(rows[0].n)).toBe(99);
    });

    it("serves each domain over TLS alone, with a certificate of the stack's CA: a login in clear or against another CA is refused", async () => {
        const domains = (await mesh.stack.outputs()).domains.value;
        const anotherCa = certificateAuthority("another CA").cert;
        /** A login's answer to one query, and the certificate the server presented, read without trusting it. */
        const login = async (name: string, ssl: { ssl?: object }) => {
            const d = domains[name];
            if (d.engine === "postgresql") {
                const pg = require("pg");
                const client = new pg.Client({ host: d.host, port: d.port, user: d.user, password: d.password, database: d.database, ...ssl });
                await client.connect();
                try {
                    return { answer: (await client.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")).rows[0].ssl, presented: client.connection.stream.getPeerX509Certificate?.() };
                } finally {
                    await client.end();
                }
            }
            const mysql = require("mysql2/promise");
            const connection = await mysql.createConnection({ host: d.host, port: d.port, user: d.user, password: d.password, database: d.database, ...ssl });
            try {
                const [rows] = await connection.query("SELECT @@require_secure_transport AS required, (SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'SSL_VERSION') AS version");
                return { answer: `${rows[0].required} ${rows[0].version}`, presented: connection.connection.stream.getPeerX509Certificate?.() };
            } finally {
                await connection.end();
            }
        };
        for (const name of ["customers", "orders", "payments"]) {
            const { engine, tls } = domains[name];
            expect({ name, tls }).toEqual({ name, tls: { mode: "verify-full", caCert: expect.stringContaining("-----BEGIN CERTIFICATE-----") } });
            await expect(login(name, {})).rejects.toThrow(engine === "postgresql" ? /no encryption/ : /insecure transport|Access denied/);
            await expect(login(name, clientTlsOf(engine, { mode: "verify-full", caCert: anotherCa }))).rejects.toThrow(/unable to verify|self[- ]signed|certificate/i);
            const verified = await login(name, clientTlsOf(engine, tls));
            expect({ name, answer: verified.answer }).toEqual({ name, answer: engine === "postgresql" ? true : expect.stringMatching(/^1 TLSv1\.[23]$/) });
            const presented: crypto.X509Certificate = verified.presented;
            expect(presented.verify(new crypto.X509Certificate(tls.caCert).publicKey)).toBe(true);
            expect(presented.checkIP("127.0.0.1")).toBe("127.0.0.1");
        }
    });

    it("starts Trino from the class archive setup made for its JDK: the running JVM maps it", async () => {
        const toolchain = findLocalToolchain({ cacheDir: CACHE_DIR, trinoVersion: readVersions().TRINO_VERSION, projectDir: mesh.projectDir });
        expect({ archive: toolchain.trinoClassArchive ?? "none: scripts/setup-trino.sh made no class archive for this JDK" }).toEqual({ archive: expect.stringMatching(/\.jsa$/) });
        const { pid } = (await mesh.resourceOutputs())["trino-server"];
        const mappedArchives = new Set(
            fs
                .readFileSync(`/proc/${pid}/maps`, "utf8")
                .split("\n")
                .map(line => line.trim().split(/\s+/)[5])
                .filter(file => file?.endsWith(".jsa")),
        );
        expect([...mappedArchives]).toContain(toolchain.trinoClassArchive);
    });

    it("runs Trino with datamesh:trinoJvmOptions after the stack's own flags, read from the running JVM's command line", async () => {
        const { pid } = (await mesh.resourceOutputs())["trino-server"];
        const flags = fs.readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").filter(arg => arg.startsWith("-XX:"));
        expect(flags.slice(-TEST_TRINO_JVM_OPTIONS.length)).toEqual(TEST_TRINO_JVM_OPTIONS);
        expect(flags).toContain("-XX:+UseG1GC");
    });

    it("quotes a password with a quote, a backslash and a non-ASCII letter as each engine reads it", async () => {
        const outputs = await mesh.stack.outputs();
        const resources = await mesh.resourceOutputs();
        const admin = (server: string) => ({ user: resources[server].adminUser, password: JSON.parse(resources[server].adminPassword.plaintext) });
        const wrong = AWKWARD_PASSWORD.replace(/\\/g, "\\\\");

        const pg = require("pg");
        const payments = outputs.domains.value.payments;
        const pgLogin = async (password: string) => {
            const client = new pg.Client({ ...clientTlsOf(payments.engine, payments.tls), host: payments.host, port: payments.port, user: "awkward_login", password, database: "postgres" });
            await client.connect();
            try {
                return (await client.query("SELECT current_user AS name")).rows[0].name;
            } finally {
                await client.end();
            }
        };
        const pgAdmin = new pg.Client({ ...clientTlsOf(payments.engine, payments.tls), host: payments.host, port: payments.port, ...admin("payments-server"), database: "postgres" });
        await pgAdmin.connect();
        try {
            for (const sql of icebergMetastoreSql({ database: "unused", connectorUser: "awkward_login", connectorPassword: AWKWARD_PASSWORD }).server) {
                await pgAdmin.query(sql);
            }
            expect(await pgLogin(AWKWARD_PASSWORD)).toBe("awkward_login");
            await expect(pgLogin(wrong)).rejects.toThrow(/password authentication failed/);
        } finally {
            await pgAdmin.query('DROP ROLE IF EXISTS "awkward_login"');
            await pgAdmin.end();
        }

        const mysql = require("mysql2/promise");
        const orders = outputs.domains.value.orders;
        const mariadbLogin = async (password: string) => {
            const connection = await mysql.createConnection({ ...clientTlsOf(orders.engine, orders.tls), host: orders.host, port: orders.port, user: "awkward_owner", password, database: "awkward" });
            try {
                return (await connection.query("SELECT CURRENT_USER() AS name"))[0][0].name;
            } finally {
                await connection.end();
            }
        };
        const mariadbAdmin = await mysql.createConnection({ ...clientTlsOf(orders.engine, orders.tls), host: orders.host, port: orders.port, ...admin("orders-server") });
        try {
            const spec = { engine: "mariadb" as const, database: "awkward", ownerUser: "awkward_owner", ownerPassword: AWKWARD_PASSWORD, readerUser: "awkward_reader", readerPassword: AWKWARD_PASSWORD, tables: [jaffleTable("orders")] };
            for (const sql of domainAccessSql(spec).server) {
                await mariadbAdmin.query(sql);
            }
            expect(await mariadbLogin(AWKWARD_PASSWORD)).toBe("awkward_owner@%");
            await expect(mariadbLogin(wrong)).rejects.toThrow(/Access denied/);
        } finally {
            await mariadbAdmin.query("DROP USER IF EXISTS 'awkward_owner'@'%', 'awkward_reader'@'%'");
            await mariadbAdmin.query("DROP DATABASE IF EXISTS awkward");
            await mariadbAdmin.end();
        }
    });

    describe("governance", () => {
        const denied = async (role: string, sql: string, message: RegExp) => {
            await expect(queryTrino(await mesh.connection(role), sql)).rejects.toThrow(message);
        };

        it("refuses an anonymous request", async () => {
            const { caCert } = await mesh.connection("analyst");
            expect(await statementStatus(mesh.trinoUrl, caCert, undefined)).toEqual({ status: 401, body: expect.stringContaining("Unauthorized") });
            expect(await statementStatus(`http://127.0.0.1:${mesh.trinoPort + 1}`, undefined, undefined)).toEqual({ status: 403, body: expect.stringContaining("Authentication over HTTP is not enabled") });
        });

        it("refuses a wrong password", async () => {
            const { caCert } = await mesh.connection("analyst");
            expect(await statementStatus(mesh.trinoUrl, caCert, { user: "analyst", password: "not-the-password" })).toEqual({ status: 401, body: expect.stringContaining("Invalid credentials") });
        });

        it("keeps each domain owner in its own catalog", async () => {
            await denied("customers_owner", "SELECT count(*) FROM orders.orders.orders", /Access Denied: Cannot (access catalog|select from table) orders/);
            const own = await queryAsText(mesh, "SELECT count(*) FROM customers.public.customers WHERE email LIKE '%@%'", "customers_owner");
            expect(own.rows).toEqual([["100"]]);
        });

        it("lets the analyst read the public marts and nothing else", async () => {
            expect((await queryAsText(mesh, `SELECT count(*) FROM ${INSIGHTS}.dim_customers`, "analyst")).rows).toEqual([["100"]]);
            // The published schema holds only the public marts' views; everything dbt built lives in its run, closed to the analyst.
            const published = await queryAsText(mesh, `SELECT table_name, table_type FROM insights.information_schema.tables WHERE table_schema = 'jaffle_shop' ORDER BY table_name`, "analyst");
            expect(published.rows).toEqual([
                ["dim_customers", "VIEW"],
                ["fct_orders", "VIEW"],
            ]);
            const run = (await mesh.stack.outputs()).publishedRun.value;
            for (const table of ["dim_customers", "fct_orders", "stg_customers"]) {
                await denied("analyst", `SELECT * FROM insights.${run}.${table}`, new RegExp(`Access Denied: Cannot select from (table|view) insights\\.${run}\\.${table}`));
            }
            for (const table of ["customers.public.customers", "orders.orders.orders", "payments.public.payments"]) {
                await denied("analyst", `SELECT count(*) FROM ${table}`, /Access Denied: Cannot (access catalog|select from table)/);
            }
        });

        it("lets a configured reader read its domain, and nothing else", async () => {
            expect((await queryAsText(mesh, "SELECT count(*) FROM orders.orders.orders", "finance")).rows).toEqual([["99"]]);
            await denied("finance", "SELECT count(*) FROM customers.public.customers", /Access Denied: Cannot (access catalog|select from table) customers/);
            await denied("finance", `SELECT count(*) FROM ${INSIGHTS}.dim_customers`, /Access Denied: Cannot (access catalog|select from table) insights/);
        });

        it("takes the analyst password the user set, quote, backslash and non-ASCII letter included, and nothing close to it", async () => {
            const { caCert, password } = await mesh.connection("analyst");
            expect(password).toBe(AWKWARD_PASSWORD);
            expect((await statementStatus(mesh.trinoUrl, caCert, { user: "analyst", password: AWKWARD_PASSWORD })).status).toBe(200);
            const nearMisses = [
                AWKWARD_PASSWORD.replace(/\\/g, "\\\\"),
                AWKWARD_PASSWORD.replace("ï", "i"),
                // The same password in UTF-8: Trino decodes credentials as ISO-8859-1, so a client that sends UTF-8 is refused.
                Buffer.from(AWKWARD_PASSWORD, "utf8").toString("latin1"),
            ];
            for (const wrong of nearMisses) {
                expect({ wrong, response: await statementStatus(mesh.trinoUrl, caCert, { user: "analyst", password: wrong }) }).toEqual({
                    wrong,
                    response: { status: 401, body: expect.stringContaining("Invalid credentials") },
                });
            }
        });

        it("never shows the email column to anyone but its owner", async () => {
            await denied("dbt", "SELECT email FROM customers.public.customers", /Access Denied: Cannot select from (columns \[email\]|table customers\.public\.customers)/);
            await denied("check", "SELECT count(email) FROM customers.public.customers", /Access Denied: Cannot select from (columns \[email\]|table customers\.public\.customers)/);
            expect((await queryAsText(mesh, "SELECT count(first_name) FROM customers.public.customers", "dbt")).rows).toEqual([["100"]]);
            const columns = await queryAsText(mesh, `SELECT column_name FROM insights.information_schema.columns WHERE column_name = 'email'`, "dbt");
            expect(columns.rows).toEqual([]);
        });

        it("does not let the dbt runner write a domain catalog", async () => {
            await denied("dbt", "INSERT INTO orders.orders.orders VALUES (1000, 1, DATE '2024-01-01', 'placed')", /Access Denied: Cannot insert into table orders\.orders\.orders/);
            await denied("dbt", "DELETE FROM payments.public.payments", /Access Denied: Cannot delete from table payments\.public\.payments/);
        });

        it("writes no password in clear: not in any file of the stack, the stored state or a command line", async () => {
            const secrets = [...(await allSecrets(mesh)), AWKWARD_PASSWORD];
            const outputs = await mesh.stack.outputs();
            const exported = [
                ...Object.values<{ password: string }>(outputs.users.value).map(u => u.password),
                ...Object.values<{ password: string }>(outputs.domains.value).map(d => d.password),
            ];
            expect(secrets).toEqual(expect.arrayContaining(exported));
            expect(secrets.length).toBeGreaterThan(exported.length);
            const { contents, vanished } = readFilesTolerantly(mesh.stateDir);
            expect(contents.size).toBeGreaterThan(100);
            // Only the database servers rewrite files of their own data folders while they run; the stack's files stay.
            expect(vanished.filter(file => !/\/data\//.test(file))).toEqual([]);
            const stored = mesh.storedState();
            const commandLines = pids.map(pid => fs.readFileSync(`/proc/${pid}/cmdline`, "latin1"));
            for (const secret of secrets.flatMap(writtenForms)) {
                for (const [file, text] of contents) {
                    expect({ file, leaks: text.includes(secret) }).toEqual({ file, leaks: false });
                }
                expect(stored.includes(secret)).toBe(false);
                expect(commandLines.some(line => line.includes(secret))).toBe(false);
            }
            // A bcrypt hash or salt in clear would let whoever reads the state test guesses.
            expect(stored).not.toMatch(/\$2[aby]\$\d\d\$[./A-Za-z0-9]{22}/);
        });
    });

    describe("the kubernetes platform's check Job script, run against this real Trino", () => {
        const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "datamesh-cluster-jobs-"));
        afterAll(() => fs.rmSync(workDir, { recursive: true, force: true }));

        const runScript = (name: string, text: string, env: Record<string, string>) => {
            const file = path.join(workDir, name);
            fs.writeFileSync(file, text);
            return spawnSync("/bin/sh", [file], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, encoding: "utf8", timeout: 120_000 });
        };

        it("gives the same verdict with the Trino CLI as in process, on right insights and on wrong ones", async () => {
            const toolchain = findLocalToolchain({ cacheDir: CACHE_DIR, trinoVersion: readVersions().TRINO_VERSION, projectDir: mesh.projectDir });
            const cliJar = path.join(path.dirname(toolchain.trinoHome), "trino-cli.jar");
            expect(fs.existsSync(cliJar)).toBe(true);
            const cli = path.join(workDir, "trino");
            fs.writeFileSync(cli, `#!/bin/sh\nexec "${toolchain.javaHome}/bin/java" -jar "${cliJar}" "$@"\n`, { mode: 0o755 });
            const check = await mesh.connection("check");
            fs.writeFileSync(path.join(workDir, "trino-ca.pem"), check.caCert!);
            const runJob = (targets: CheckTargets) => {
                fs.writeFileSync(path.join(workDir, "check.sql"), renderStatementFile(checkStatement(targets)));
                return runScript("check.sh", renderCheckScript({ queryFile: path.join(workDir, "check.sql"), caCertFile: path.join(workDir, "trino-ca.pem") }), {
                    [CHECK_ENV.cli]: cli,
                    [CHECK_ENV.server]: check.url,
                    [CHECK_ENV.user]: check.user,
                    [CHECK_ENV.password]: check.password!,
                });
            };
            const published: CheckTargets = { catalog: "insights", schema: "jaffle_shop", audits: readAudits(path.join(mesh.projectDir, "dbt"), DOMAINS) };
            const good = runJob(published);
            const inProcess = await runCheckStatement(check, published);
            // The CLI's own noise on stderr (JVM and terminal warnings) is shown only when the check fails.
            expect({ status: good.status, stdout: good.stdout.trim(), stderr: good.status === 0 ? "" : good.stderr }).toEqual({ status: 0, stdout: inProcess.summary, stderr: "" });
            expect(inProcess.summary).toMatch(CANONICAL_SUMMARY);

            // A run with a wrong count, a missing and an extra customer, and two payment methods swapped.
            const wrongRun = "jaffle_shop__00000000000f";
            await queryAsText(mesh, `CREATE SCHEMA insights.${wrongRun}`);
            await queryAsText(
                mesh,
                `CREATE TABLE insights.${wrongRun}.dim_customers AS SELECT customer_id, first_name, last_name, first_order, most_recent_order, ` +
                    `IF(customer_id = 3, number_of_orders + 1, number_of_orders) AS number_of_orders, customer_lifetime_value FROM ${INSIGHTS}.dim_customers WHERE customer_id <> 5 ` +
                    `UNION ALL SELECT 1000, 'X', 'Y', NULL, NULL, NULL, NULL`,
            );
            await queryAsText(
                mesh,
                `CREATE TABLE insights.${wrongRun}.fct_orders AS SELECT order_id, customer_id, order_date, status, coupon_amount AS credit_card_amount, credit_card_amount AS coupon_amount, ` +
                    `bank_transfer_amount, gift_card_amount, amount FROM ${INSIGHTS}.fct_orders`,
            );
            const wrong = { ...published, schema: wrongRun };
            const failed = runJob(wrong);
            const failedInProcess = await runCheckStatement(check, wrong);
            expect(failed.status).toBe(1);
            expect(failedInProcess.ok).toBe(false);
            expect(failedInProcess.problems).toHaveLength(2);
            for (const line of failedInProcess.problems) {
                expect(failed.stderr).toContain(line);
            }
            expect(failedInProcess.problems[0]).toBe(
                `insights.${wrongRun}.dim_customers: 3 rows differ (1 missing, 1 extra, 0 duplicated, 1 different); first keys: ` +
                    "customer_id=3 different: number_of_orders 4, expected 3; customer_id=5 missing: not built; customer_id=1000 extra: not expected",
            );
            expect(failedInProcess.problems[1]).toMatch(
                new RegExp(`^insights\\.${wrongRun}\\.fct_orders: \\d+ rows differ \\(0 missing, 0 extra, 0 duplicated, \\d+ different\\); first keys: order_id=1 different: credit_card_amount 0\\.00, expected 10\\.00, coupon_amount 10\\.00, expected 0\\.00;`),
            );
        });

        it("fails the gate, naming the key, when an audit repeats a key, and names a model built twice", async () => {
            const check = await mesh.connection("check");
            const audits = readAudits(path.join(mesh.projectDir, "dbt"), DOMAINS);
            const dim = audits.find(a => a.model === "dim_customers")!;
            // The audit gives customer 7 twice; the published model has each customer once.
            const repeating = { ...dim, query: `${dim.query}\nUNION ALL SELECT * FROM (${dim.query}) WHERE customer_id = 7` };
            const verdict = await runCheckStatement(check, { catalog: "insights", schema: "jaffle_shop", audits: [repeating] });
            expect(verdict.ok).toBe(false);
            expect(verdict.problems).toContain(
                "insights.jaffle_shop.dim_customers: its audit repeats a key (customer_id), so it proves nothing for that key; fix the audit: customer_id=7",
            );
            // The other way round: a model that holds customer 7 twice, against the right audit.
            const doubled = "jaffle_shop__00000000000d";
            await queryAsText(mesh, `CREATE SCHEMA insights.${doubled}`);
            await queryAsText(mesh, `CREATE TABLE insights.${doubled}.dim_customers AS SELECT * FROM ${INSIGHTS}.dim_customers UNION ALL SELECT * FROM ${INSIGHTS}.dim_customers WHERE customer_id = 7`);
            const twice = await runCheckStatement(check, { catalog: "insights", schema: doubled, audits: [dim] });
            expect(twice.problems).toEqual([`insights.${doubled}.dim_customers: 1 rows differ (0 missing, 0 extra, 1 duplicated, 0 different); first keys: customer_id=7 duplicated: built more than once`]);
        });
    });

    it("fails pulumi up when a domain renames a source column, naming the domain and the column, and keeps the insights", async () => {
        const before = await mesh.resourceOutputs();
        const orders = (await mesh.stack.outputs()).domains.value.orders;
        const mysql = require("mysql2/promise");
        const connection = await mysql.createConnection({ ...clientTlsOf(orders.engine, orders.tls), host: orders.host, port: orders.port, user: orders.user, password: orders.password, database: orders.database });
        await connection.query("ALTER TABLE orders RENAME COLUMN user_id TO customer_id");
        try {
            await expect(mesh.stack.up()).rejects.toThrow(/broke its source contract; nothing was built[\s\S]*domain orders, table orders: column user_id is missing/);
            await expectInsightsToEqual(mesh, canonicalExpected());
        } finally {
            await connection.query("ALTER TABLE orders RENAME COLUMN customer_id TO user_id");
            await connection.end();
        }
        // The sources read as before the rename, so the run that is published is the one that was: the
        // fingerprint and the plan (which finds that run published, and writes nothing) are updated.
        const repaired = await mesh.stack.up();
        expect(repaired.summary.resourceChanges).toMatchObject({ update: 2 });
        expect((await mesh.stack.outputs()).mesh.value.insights.refresh).toBe("full: the sources hold what the published run was built from, so nothing is built");
        const after = await mesh.resourceOutputs();
        expect(after["dbt-sources"].fingerprint).toBe(before["dbt-sources"].fingerprint);
        expect(after["dbt-run"].runId).toBe(before["dbt-run"].runId);
        expect(after["check-publication"].rebuiltAt).toBe(before["check-publication"].rebuiltAt);
    });

    it("changes nothing and does not re-run dbt on a second pulumi up", async () => {
        const before = await mesh.resourceOutputs();
        const result = await mesh.stack.up();
        const changes = result.summary.resourceChanges ?? {};
        expect(Object.keys(changes)).toEqual(["same"]);
        const after = await mesh.resourceOutputs();
        expect(after["dbt-run"].runId).toBe(before["dbt-run"].runId);
        expect(after["check-reconciliation"].summary).toBe(before["check-reconciliation"].summary);
        expect(after["check-publication"]).toEqual(before["check-publication"]);
        const outputs = await mesh.stack.outputs();
        expect(outputs.check.value).toMatch(/^OK: dim_customers 100 rows = audit 100, .*; published jaffle_shop__[0-9a-f]{12}, rebuilt \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(first deploy\)$/);
    });

    it("checks the published insights on every pulumi up, and fails a no-op up when they are wrong", async () => {
        const { runs } = await publishedInsights(mesh);
        const run = runs[0][1];
        await queryAsText(mesh, `UPDATE insights.${run}.fct_orders SET amount = amount + 0.01 WHERE order_id = 7`);
        try {
            await expect(mesh.stack.up()).rejects.toThrow(
                /the published insights \(jaffle_shop__[0-9a-f]{12}\) do not reconcile with the domains:\s+insights\.jaffle_shop\.fct_orders: 1 rows differ \(0 missing, 0 extra, 0 duplicated, 1 different\); first keys: order_id=7 different: amount 16\.01, expected 16\.00/,
            );
        } finally {
            await queryAsText(mesh, `UPDATE insights.${run}.fct_orders SET amount = amount - 0.01 WHERE order_id = 7`);
        }
        // Put right by hand: the table is a new snapshot, so the next up checks every row again, and passes.
        const recheck = await mesh.stack.up();
        expect(recheck.summary.resourceChanges).toMatchObject({ update: 1 });
        const after = await mesh.resourceOutputs();
        expect(after["check-publication"].publishedRun).toBe(run);
        const again = await mesh.stack.up();
        expect(Object.keys(again.summary.resourceChanges ?? {})).toEqual(["same"]);
    });

    it("heals every server killed with SIGKILL on the next pulumi up, with the domains' rows and the published insights unchanged", async () => {
        const before = await mesh.resourceOutputs();
        const rowsBefore = await domainTables(mesh);
        const insightsBefore = await publishedInsights(mesh);
        const servers = ["customers-server", "orders-server", "payments-server", "insights-metastore", "trino-server"];
        for (const server of servers) {
            const pid: number = before[server].pid;
            process.kill(-pid, "SIGKILL");
            for (let i = 0; i < 100 && isAlive(pid); i++) {
                await new Promise(r => setTimeout(r, 100));
            }
            expect({ server, alive: isAlive(pid) }).toEqual({ server, alive: false });
        }
        const result = await mesh.stack.up();
        expect(result.summary.resourceChanges).toMatchObject({ update: servers.length });
        const after = await mesh.resourceOutputs();
        for (const server of servers) {
            expect({ server, restarted: after[server].pid !== before[server].pid, alive: isAlive(after[server].pid) }).toEqual({ server, restarted: true, alive: true });
            pids.push(after[server].pid);
        }
        expect(after["dbt-run"].runId).toBe(before["dbt-run"].runId);
        expect(await domainTables(mesh)).toEqual(rowsBefore);
        expect(await publishedInsights(mesh)).toEqual(insightsBefore);
        await expectInsightsToEqual(mesh, canonicalExpected());
    });

    it("re-runs only the dbt job, the check and the docs when a model changes", async () => {
        const before = await mesh.resourceOutputs();
        const model = path.join(mesh.projectDir, "dbt", "models", "marts", "fct_orders.sql");
        fs.appendFileSync(model, "\n-- edited by the integration test\n");
        const result = await mesh.stack.up();
        // The run's plan, the run, the check, the publication and the docs.
        expect(result.summary.resourceChanges).toMatchObject({ update: 5 });
        const after = await mesh.resourceOutputs();
        expect(after["dbt-run"].runId).not.toBe(before["dbt-run"].runId);
        // The docs site documents the newly published run, generated after it was published, by the same server.
        expect(after["docs-site"]).toMatchObject({ publishedRun: after["check-publication"].publishedRun, pid: before["docs-site"].pid });
        expect(after["docs-site"].generatedAt > before["docs-site"].generatedAt).toBe(true);
        // The new run is published, the one before it is kept for rollback, and every other run is dropped.
        expect(after["check-publication"]).toMatchObject({ reason: "model change", previousRun: before["check-publication"].publishedRun });
        expect(after["check-publication"].publishedRun).not.toBe(before["check-publication"].publishedRun);
        // The planted wrong run goes, with the empty schema of the run a broken source contract refused.
        expect(after["check-publication"].dropped).toEqual(expect.arrayContaining(["jaffle_shop__00000000000f"]));
        const schemas = await queryAsText(mesh, "SELECT schema_name FROM insights.information_schema.schemata WHERE schema_name LIKE 'jaffle%' ORDER BY schema_name");
        // Beside the runs, the ledger of what the published run's sources held (docs/incremental.md).
        expect(schemas.rows.flat()).toEqual(["jaffle_shop", after["check-publication"].publishedRun, before["check-publication"].publishedRun, "jaffle_shop__ledger"].sort());
        expect((await publishedInsights(mesh)).runs).toEqual([
            ["dim_customers", after["check-publication"].publishedRun],
            ["fct_orders", after["check-publication"].publishedRun],
        ]);
        const analyst = await mesh.connection("analyst");
        await expect(queryTrino(analyst, `SELECT count(*) FROM insights.${after["check-publication"].publishedRun}.dim_customers`)).rejects.toThrow(/Access Denied/);
        expect(after["trino-server"].pid).toBe(before["trino-server"].pid);
        expect(after["customers-server"].pid).toBe(before["customers-server"].pid);
        await expectInsightsToEqual(mesh, canonicalExpected());

        // dbt built what the edit changed and took the other models from the run before, into a run that holds them all.
        const runBefore = before["check-publication"].publishedRun;
        expect(after["dbt-run"].built).toBe(`what changed since ${runBefore} (state:modified+), the other models copied from it`);
        const nodes = (summary: string) => Number(/TOTAL=(\d+)/.exec(summary)![1]);
        expect(nodes(after["dbt-run"].summary)).toBeLessThan(nodes(before["dbt-run"].summary) / 2);
        const models = async (run: string) =>
            (await queryAsText(mesh, `SELECT table_name, table_type FROM insights.information_schema.tables WHERE table_schema = '${run}' ORDER BY table_name`)).rows;
        expect(await models(after["check-publication"].publishedRun)).toEqual(await models(runBefore));
        expect((await models(runBefore)).length).toBe(5);

        // A second edit, upstream this time, defers to that run in turn; the run before it is dropped, and nothing breaks.
        const staging = path.join(mesh.projectDir, "dbt", "models", "staging", "stg_orders.sql");
        fs.appendFileSync(staging, "\n-- edited by the integration test\n");
        const second = await mesh.stack.up();
        // The plan, the run, the check, the publication and the docs of the new run.
        expect(second.summary.resourceChanges).toMatchObject({ update: 5 });
        const third = await mesh.resourceOutputs();
        expect(third["dbt-run"].built).toContain(`since ${after["check-publication"].publishedRun} `);
        expect(third["check-publication"].dropped).toEqual([runBefore]);
        expect((await models(third["check-publication"].publishedRun)).length).toBe(5);
        await expectInsightsToEqual(mesh, canonicalExpected());
    });

    it("fails pulumi up with dbt's own message on a broken model, and keeps the previous insights", async () => {
        const model = path.join(mesh.projectDir, "dbt", "models", "marts", "fct_orders.sql");
        const original = fs.readFileSync(model, "utf8");
        const before = await publishedInsights(mesh);
        fs.writeFileSync(model, original.replace(/select \* from final\s*$/m, "select * from final_that_does_not_exist"));
        try {
            await expect(mesh.stack.up()).rejects.toThrow(/dbt build of jaffle_shop__[0-9a-f]{12} failed[\s\S]*Failure in model fct_orders[\s\S]*final_that_does_not_exist/);
            expect(await publishedInsights(mesh)).toEqual(before);
            await expectInsightsToEqual(mesh, canonicalExpected());
        } finally {
            fs.writeFileSync(model, original);
        }
    });

    it("rejects a malformed CSV row naming the file and line, and loads nothing", async () => {
        const badDir = path.join(mesh.projectDir, "bad-data");
        fs.mkdirSync(badDir);
        for (const file of ["customers.csv", "orders.csv", "payments.csv"]) {
            fs.copyFileSync(path.join(CANONICAL_DATA_DIR, file), path.join(badDir, file));
        }
        fs.appendFileSync(path.join(badDir, "payments.csv"), "114,99,coupon,12.50\n");
        await mesh.stack.setConfig("datamesh:dataDir", { value: badDir });
        try {
            await expect(mesh.stack.up()).rejects.toThrow(`datamesh:dataDir: ${path.join(badDir, "payments.csv")}:115: column 'amount' must be an integer, got '12.50'`);
            const payments = await queryAsText(mesh, "SELECT count(*) FROM payments.public.payments");
            expect(payments.rows).toEqual([["113"]]);
        } finally {
            await mesh.stack.removeConfig("datamesh:dataDir");
        }
    });

    it("gives exact insights for the odd-cents data set, against its independently computed result", async () => {
        const fixture = path.join(__dirname, "..", "fixtures", "odd_cents");
        const dataDir = path.join(mesh.projectDir, "odd-cents");
        fs.cpSync(path.join(fixture, "data"), dataDir, { recursive: true });
        await mesh.stack.setConfig("datamesh:dataDir", { value: dataDir });
        const result = await mesh.stack.up();
        // Three reloads, which replace the tables' rows, the sources read anew, a run planned, built, checked and published, and its docs.
        expect(result.summary.resourceChanges).toMatchObject({ replace: 3, update: 6 });
        const expected = { dim_customers: readTextTable(path.join(fixture, "expected", "dim_customers.csv")), fct_orders: readTextTable(path.join(fixture, "expected", "fct_orders.csv")) };
        await expectInsightsToEqual(mesh, expected);
        const customers = expected.dim_customers.rows.length;
        const orders = expected.fct_orders.rows.length;
        const outputs = await mesh.stack.outputs();
        expect(outputs.check.value).toMatch(new RegExp(`^OK: dim_customers ${customers} rows = audit ${customers}, .*; fct_orders ${orders} rows = audit ${orders},`));
    });

    describe("the check as a gate, on the odd-cents data", () => {
        /*
         * Each bug is seeded into a copy of a model, as a careless edit would, and deployed for real.
         * The gate must stop it, name the table, and leave the published insights exactly as they
         * were: the same rows, read from the same run, with the same Iceberg snapshots.
         */
        // aggregateCheckPasses: what the old aggregate check says of the refused run; "not built" when dbt's tests stopped the run before its marts.
        const mutations: { bug: string; file: string; from: string | RegExp; to: string; table: string; aggregateCheckPasses: boolean | "not built" }[] = [
            {
                bug: "two payment methods swapped",
                file: "models/marts/fct_orders.sql",
                from: "when payment_method = '{{ payment_method }}'",
                to: "when payment_method = '{{ {'credit_card': 'coupon', 'coupon': 'credit_card'}.get(payment_method, payment_method) }}'",
                table: "fct_orders",
                aggregateCheckPasses: true,
            },
            {
                bug: "payments attributed to the wrong customer",
                file: "models/marts/dim_customers.sql",
                from: /orders\.customer_id,([\s\S]*)group by orders\.customer_id/,
                to: "case orders.customer_id when 3 then 6 when 6 then 3 else orders.customer_id end as customer_id,$1group by 1",
                table: "dim_customers",
                aggregateCheckPasses: true,
            },
            { bug: "first_order taken as the max", file: "models/marts/dim_customers.sql", from: "min(order_date) as first_order", to: "max(order_date) as first_order", table: "dim_customers", aggregateCheckPasses: true },
            {
                bug: "integer division",
                file: "macros/cents_to_dollars.sql",
                from: "cast(cast({{ column_name }} as decimal(18, 2)) / 100 as decimal(18, 2))",
                to: "cast({{ column_name }} / 100 as decimal(18, 2))",
                table: "fct_orders",
                aggregateCheckPasses: "not built",
            },
            {
                bug: "a dropped coalesce",
                file: "models/marts/fct_orders.sql",
                from: "cast(coalesce(order_payments.total_amount, 0) as decimal(18, 2)) as amount",
                to: "cast(order_payments.total_amount as decimal(18, 2)) as amount",
                table: "fct_orders",
                aggregateCheckPasses: true,
            },
        ];

        for (const mutation of mutations) {
            it(`stops ${mutation.bug}, naming ${mutation.table}, and keeps the published insights`, async () => {
                const file = path.join(mesh.projectDir, "dbt", mutation.file);
                const original = fs.readFileSync(file, "utf8");
                const mutated = original.replace(mutation.from, mutation.to);
                expect(mutated).not.toBe(original);
                const before = await publishedInsights(mesh);
                fs.writeFileSync(file, mutated);
                let message = "";
                try {
                    message = await mesh.stack.up().then(
                        () => "pulumi up succeeded",
                        (error: Error) => error.message,
                    );
                } finally {
                    fs.writeFileSync(file, original);
                }
                expect(message).toMatch(new RegExp(`(nothing was published|the published insights are unchanged)[\\s\\S]*${mutation.table}`));
                expect(await publishedInsights(mesh)).toEqual(before);
                // The refused run is still there, named in the message: what would the old aggregate check have said of it?
                const refusedRun = /(jaffle_shop__[0-9a-f]{12})/.exec(message)?.[1];
                expect(refusedRun).toBeDefined();
                if (mutation.aggregateCheckPasses === "not built") {
                    const built = await queryAsText(mesh, `SELECT table_name FROM insights.information_schema.tables WHERE table_schema = '${refusedRun}' AND table_name IN ('dim_customers', 'fct_orders')`);
                    expect(built.rows).toEqual([]);
                } else {
                    expect(await aggregateCheckPasses(mesh, refusedRun!)).toBe(mutation.aggregateCheckPasses);
                }
            });
        }
    });

    it("rebuilds when a domain owner writes to its own database, follows both changes, and keeps them when the code changes", async () => {
        const outputs = await mesh.stack.outputs();
        const { orders, payments } = outputs.domains.value;
        const mysql = require("mysql2/promise");
        const ordersDb = await mysql.createConnection({ ...clientTlsOf(orders.engine, orders.tls), host: orders.host, port: orders.port, user: orders.user, password: orders.password, database: orders.database });
        await ordersDb.query("INSERT INTO orders (id, user_id, order_date, status) VALUES (9001, 3, '2026-11-30', 'placed')");
        await ordersDb.end();
        const pg = require("pg");
        const paymentsDb = new pg.Client({ ...clientTlsOf(payments.engine, payments.tls), host: payments.host, port: payments.port, user: payments.user, password: payments.password, database: payments.database });
        await paymentsDb.connect();
        await paymentsDb.query("UPDATE payments SET amount = amount + 3 WHERE id = 1");
        await paymentsDb.end();

        const result = await mesh.stack.up();
        // The sources read anew, a run planned, built, checked and published, and its docs.
        expect(result.summary.resourceChanges).toMatchObject({ update: 6 });
        // Only rows changed since the published run, so only what they affect was rebuilt, and checked.
        expect((await mesh.stack.outputs()).mesh.value.insights.refresh).toMatch(/^incremental from jaffle_shop__[0-9a-f]+: only domain rows changed: orders\.orders\.orders 1 key, payments\.public\.payments 1 key$/);
        expect((await mesh.resourceOutputs())["check-publication"].reason).toBe("domain data change");
        // The outputs say what the tables hold now, the owner's row included, not what the stack once loaded.
        const after = await mesh.stack.outputs();
        expect(after.domains.value.orders.rows).toEqual({ orders: orders.rows.orders + 1 });
        expect(after.mesh.value.domains.orders.tables.orders).toEqual({ rows: orders.rows.orders + 1, columns: { id: "bigint", user_id: "bigint", order_date: "date", status: "varchar(1024)" } });

        // The same two changes applied to the CSVs, and the insights recomputed from them by the reference model.
        const changedDir = path.join(mesh.projectDir, "odd-cents-changed");
        fs.cpSync(path.join(mesh.projectDir, "odd-cents"), changedDir, { recursive: true });
        fs.appendFileSync(path.join(changedDir, "orders.csv"), "9001,3,2026-11-30,placed\n");
        const paymentsCsv = path.join(changedDir, "payments.csv");
        const [header, first, ...rest] = fs.readFileSync(paymentsCsv, "utf8").split("\n");
        const [id, orderId, method, cents] = first.split(",");
        expect(id).toBe("1");
        fs.writeFileSync(paymentsCsv, [header, [id, orderId, method, Number(cents) + 3].join(","), ...rest].join("\n"));
        await expectInsightsToEqual(mesh, referenceInsights(changedDir));

        const again = await mesh.stack.up();
        expect(Object.keys(again.summary.resourceChanges ?? {})).toEqual(["same"]);

        // A new version of the load step's code is no reason to reload the domains: the owners' writes stay.
        const loadCode = path.join(mesh.projectDir, "resources", "domainData.ts");
        const original = fs.readFileSync(loadCode, "utf8");
        const edited = original.replace("rows sent, but the engine took", "rows sent, yet the engine took");
        expect(edited).not.toBe(original);
        fs.writeFileSync(loadCode, edited);
        try {
            const afterCodeEdit = await mesh.stack.up();
            expect(Object.keys(afterCodeEdit.summary.resourceChanges ?? {})).toEqual(["same"]);
            const paymentsAfter = new pg.Client({ ...clientTlsOf(payments.engine, payments.tls), host: payments.host, port: payments.port, user: payments.user, password: payments.password, database: payments.database });
            await paymentsAfter.connect();
            const { rows } = await paymentsAfter.query("SELECT amount FROM payments WHERE id = 1");
            await paymentsAfter.end();
            expect(Number(rows[0].amount)).toBe(Number(cents) + 3);
            await expectInsightsToEqual(mesh, referenceInsights(changedDir));
        } finally {
            fs.writeFileSync(loadCode, original);
        }
    });

    it("fails pulumi up naming a domain table that disappeared, and keeps the published insights", async () => {
        const before = await publishedInsights(mesh);
        const payments = (await mesh.stack.outputs()).domains.value.payments;
        const pg = require("pg");
        const client = new pg.Client({ ...clientTlsOf(payments.engine, payments.tls), host: payments.host, port: payments.port, user: payments.user, password: payments.password, database: payments.database });
        await client.connect();
        await client.query("ALTER TABLE payments RENAME TO payments_elsewhere");
        try {
            await expect(mesh.stack.up()).rejects.toThrow(/dbt: the source table payments\.public\.payments is gone, or dbt may no longer read it \(Trino: .*Table 'payments\.public\.payments' does not exist\); the published insights are unchanged/);
            expect(await publishedInsights(mesh)).toEqual(before);
        } finally {
            await client.query("ALTER TABLE payments_elsewhere RENAME TO payments");
            await client.end();
        }
    });

    it("builds exact insights from the synthetic data set of datamesh:scale", async () => {
        const scale = 30;
        const csvDir = path.join(mesh.projectDir, "synthetic-as-csv");
        fs.mkdirSync(csvDir);
        for (const table of DOMAINS.flatMap(d => d.tables)) {
            writeCsv(path.join(csvDir, table.file), [table.columns.map(c => c.name), ...syntheticRows(table, scale)]);
        }
        await mesh.stack.removeConfig("datamesh:dataDir");
        await mesh.stack.setConfig("datamesh:scale", { value: String(scale) });
        await mesh.stack.up();
        await expectInsightsToEqual(mesh, referenceInsights(csvDir));
        const outputs = await mesh.stack.outputs();
        expect(outputs.check.value).toMatch(/^OK: dim_customers 3000 rows = audit 3000, .*; fct_orders 3000 rows = audit 3000,/);
    });

    it("moves the servers to new ports and restarts Trino with a new heap in place, with the data protected, losing no row", async () => {
        await mesh.stack.setConfig("datamesh:protectDomainData", { value: "true" });
        await mesh.stack.up();
        try {
            const before = await mesh.resourceOutputs();
            const rowsBefore = await domainTables(mesh);
            const insightsBefore = await publishedInsights(mesh);
            // Databases from basePort, Trino at basePort+10 and +11, the docs site at +12.
            const basePort = await freePortRange(13);
            const trinoPort = basePort + 10;
            await mesh.stack.setConfig("datamesh:basePort", { value: String(basePort) });
            await mesh.stack.setConfig("datamesh:trinoPort", { value: String(trinoPort) });
            await mesh.stack.setConfig("datamesh:trinoMaxHeap", { value: "1536M" });
            const preview = await mesh.stack.preview();
            expect(Object.keys(preview.changeSummary).sort()).toEqual(["same", "update"]);
            const result = await mesh.stack.up();
            expect(Object.keys(result.summary.resourceChanges ?? {}).sort()).toEqual(["same", "update"]);
            const after = await mesh.resourceOutputs();
            for (const [index, server] of ["customers-server", "orders-server", "payments-server", "insights-metastore"].entries()) {
                expect(after[server]).toMatchObject({ port: basePort + index, workDir: before[server].workDir });
                expect(after[server].pid).not.toBe(before[server].pid);
                pids.push(after[server].pid);
                ports.push(basePort + index);
            }
            expect(after["trino-server"]).toMatchObject({ port: trinoPort, url: `https://127.0.0.1:${trinoPort}` });
            expect(after["trino-server"].pid).not.toBe(before["trino-server"].pid);
            expect(fs.readFileSync(path.join(after["trino-server"].workDir, "etc", "jvm.config"), "utf8")).toMatch(/^-Xmx1536M$/m);
            pids.push(after["trino-server"].pid);
            ports.push(trinoPort, trinoPort + 1);
            expect(await domainTables(mesh)).toEqual(rowsBefore);
            expect(await publishedInsights(mesh)).toEqual(insightsBefore);
            expect(after["dbt-run"].runId).toBe(before["dbt-run"].runId);
        } finally {
            await mesh.stack.setConfig("datamesh:protectDomainData", { value: "false" });
        }
    });

    it("refuses to destroy domain data while datamesh:protectDomainData is on", async () => {
        await mesh.stack.setConfig("datamesh:protectDomainData", { value: "true" });
        await mesh.stack.up();
        await expect(mesh.stack.destroy()).rejects.toThrow(/protected/);
        const resources = await mesh.resourceOutputs();
        for (const domain of ["customers", "orders", "payments"]) {
            expect(isAlive(resources[`${domain}-server`].pid)).toBe(true);
        }
        const outputs = await mesh.stack.outputs();
        const pg = require("pg");
        const payments = outputs.domains.value.payments;
        const client = new pg.Client({ ...clientTlsOf(payments.engine, payments.tls), host: payments.host, port: payments.port, user: payments.user, password: payments.password, database: payments.database });
        await client.connect();
        const count = await client.query("SELECT count(*) AS n FROM payments");
        await client.end();
        expect(Number(count.rows[0].n)).toBeGreaterThan(0);
        // Lifted without an up of its own: the next test's up, which rebuilds what this destroy did delete, applies it.
        await mesh.stack.setConfig("datamesh:protectDomainData", { value: "false" });
    });

    it("leaves no process, port or state folder behind after pulumi destroy, even after an up that failed on a killed server", async () => {
        const resources = await mesh.resourceOutputs();
        process.kill(-resources["orders-server"].pid, "SIGKILL");
        // The up heals the server, lifts the protection and brings back what the refused destroy deleted,
        // then fails in dbt: the destroy that follows must still find every process.
        fs.appendFileSync(path.join(mesh.projectDir, "dbt", "models", "marts", "fct_orders.sql"), "\nthis is not sql\n");
        await expect(mesh.stack.up()).rejects.toThrow(/dbt build/);
        await mesh.stack.destroy();
        expect(processesOn(mesh.stateDir)).toEqual([]);
        for (const pid of pids) {
            expect({ pid, alive: isAlive(pid) }).toEqual({ pid, alive: false });
        }
        for (const port of ports) {
            expect({ port, listening: await isListening(port) }).toEqual({ port, listening: false });
        }
        expect(fs.existsSync(mesh.stateDir)).toBe(false);
    });
});
