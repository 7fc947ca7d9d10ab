import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { digestDirectory } from "../../lib/digest";
import { readAudits } from "../../lib/audits";
import { DOMAINS } from "../../lib/domains";
import { dependsOn, recordDependencies } from "./dependencies";
import { attachUrns, FAKE_TOOLCHAIN, installMocks, isSecret, RecordedResource, UNIT_TEST_CA, valueOf } from "./mocks";

jest.mock("../../platforms/local/toolchain", () => ({ findLocalToolchain: () => require("./mocks").FAKE_TOOLCHAIN }));
// Pulumi serializes dynamic providers through the V8 inspector, which Jest's module sandbox breaks;
// the real serialization is exercised by the integration tests' `pulumi up`.
jest.mock("@pulumi/pulumi/runtime/closure/serializeClosure", () => ({ serializeFunction: async () => ({ text: "exports.handler = undefined;", exportName: "handler" }) }));

const STATE_DIR = "/var/lib/datamesh-unit";
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
let resources: RecordedResource[];
let dependencies: Map<string, string[]>;
let stack: Awaited<typeof import("../../index")>;

const dynamic = (kind: string) => `pulumi-nodejs:dynamic/datamesh:${kind}`;
const byName = (name: string) => {
    const found = resources.find(r => r.name === name);
    if (!found) {
        throw new Error(`no resource named ${name}; have ${resources.map(r => r.name).join(", ")}`);
    }
    return found;
};

beforeAll(async () => {
    resources = await installMocks();
    dependencies = recordDependencies();
    pulumi.runtime.setAllConfig({ "datamesh:stateDir": STATE_DIR, "datamesh:basePort": "25430", "datamesh:trinoPort": "28080" });
    stack = await import("../../index");
    await valueOf(stack.check);
    await valueOf(stack.trinoUrl);
    await valueOf(stack.docsUrl);
    attachUrns(resources);
});

describe("the mesh's inventory", () => {
    it("declares the components in the documented shape", () => {
        const components = resources.filter(r => r.type.startsWith("datamesh:index:")).map(r => `${r.type} ${r.name}`);
        expect(components.sort()).toEqual([
            "datamesh:index:DbtJob dbt",
            "datamesh:index:DocsSite docs",
            "datamesh:index:DomainDatabase customers",
            "datamesh:index:DomainDatabase orders",
            "datamesh:index:DomainDatabase payments",
            "datamesh:index:InsightsCatalog insights",
            "datamesh:index:InsightsCheck check",
            "datamesh:index:TrinoCoordinator trino",
        ]);
    });

    it("parents every child to its component and names it <component>-<role>", () => {
        const components = new Map(resources.filter(r => r.type.startsWith("datamesh:index:")).map(r => [r.name, r.type]));
        // The state folder and the CA belong to the stack, not to one component.
        const children = resources.filter(r => !r.type.startsWith("datamesh:index:") && r.name !== "state-dir" && r.name !== "stack-ca");
        expect(children.length).toBeGreaterThan(15);
        for (const child of children) {
            const owner = child.name.split("-")[0];
            expect(components.has(owner)).toBe(true);
            expect(child.urn).toContain(`::${components.get(owner)}$${child.type}::${child.name}`);
        }
    });

    it("gives each domain its own server, database, users, table and data load", () => {
        for (const [index, domain, engine] of [[0, "customers", "postgresql"], [1, "orders", "mariadb"], [2, "payments", "postgresql"]] as const) {
            const server = byName(`${domain}-server`);
            expect(server.type).toBe(dynamic("LocalDatabaseServer"));
            expect(server.inputs).toMatchObject({ engine, port: 25430 + index, workDir: path.join(STATE_DIR, `${domain}-server`) });
            expect(server.inputs.adminPassword).toBe(`generated-${domain}-admin-password`);
            const access = byName(`${domain}-access`);
            expect(access.inputs).toMatchObject({ engine, port: 25430 + index, database: domain, owner: { user: `${domain}_owner` }, reader: { user: `${domain}_trino` } });
            const load = byName(`${domain}-data`);
            expect(load.inputs).toMatchObject({ owner: { user: `${domain}_owner`, password: `generated-${domain}-owner-password` }, database: domain });
            expect(load.inputs.fingerprint).toMatch(/^files:/);
        }
        expect(new Set(resources.filter(r => r.type === dynamic("LocalDatabaseServer")).map(r => r.inputs.port)).size).toBe(4);
    });

    it("keeps the insights in an Iceberg JDBC catalog with its own metastore server and warehouse", () => {
        expect(byName("insights-metastore").inputs).toMatchObject({ engine: "postgresql", port: 25433 });
        expect(byName("insights-jdbc-catalog").inputs).toMatchObject({ database: "iceberg_catalog", connector: { user: "iceberg_trino" } });
        expect(byName("insights-warehouse").inputs).toMatchObject({ path: path.join(STATE_DIR, "insights-warehouse") });
    });
});

describe("Trino", () => {
    it("gets exactly one generated catalog per domain plus the insights catalog", () => {
        const files: Record<string, string> = byName("trino-server").inputs.files;
        const catalogFiles = Object.keys(files).filter(f => f.startsWith("catalog/"));
        expect(catalogFiles.filter(f => f.endsWith(".properties"))).toEqual(["catalog/customers.properties", "catalog/insights.properties", "catalog/orders.properties", "catalog/payments.properties"]);
        // Each domain's server serves TLS alone, so its catalog checks the server against the stack's CA; the metastore speaks in clear.
        expect(catalogFiles.filter(f => !f.endsWith(".properties"))).toEqual(["catalog/customers-ca.pem", "catalog/orders-ca.pem", "catalog/payments-ca.pem"]);
        for (const domain of ["customers", "orders", "payments"]) {
            expect(files[`catalog/${domain}-ca.pem`]).toBe(UNIT_TEST_CA);
        }
        expect(files["catalog/orders.properties"]).toContain(`connection-url=jdbc:mariadb://127.0.0.1:25431?sslMode=verify-full&serverSslCert=${path.join(STATE_DIR, "trino-server", "etc", "catalog", "orders-ca.pem")}\n`);
        expect(files["catalog/insights.properties"]).toContain(`local.location=${path.join(STATE_DIR, "insights-warehouse")}\n`);
        expect(files["config.properties"]).toContain("http-server.https.port=28080\n");
        expect(files["config.properties"]).toContain("http-server.http.port=28081\n");
        expect(files["node.properties"]).toContain(`plugin.dir=${FAKE_TOOLCHAIN.trinoHome}/plugin\n`);
    });

    it("receives passwords only through its environment, as a secret, never in a file", () => {
        const trino = byName("trino-server");
        const passwords = resources.filter(r => r.type === dynamic("GeneratedPassword")).map(r => `generated-${r.name}`);
        const files = JSON.stringify(trino.inputs.files);
        for (const password of passwords) {
            expect(files).not.toContain(password);
        }
        expect(trino.inputs.env[SECRET_SIG]).toBeDefined();
        expect(trino.inputs.env.value).toEqual({
            CUSTOMERS_DB_PASSWORD: "generated-customers-reader-password",
            ORDERS_DB_PASSWORD: "generated-orders-reader-password",
            PAYMENTS_DB_PASSWORD: "generated-payments-reader-password",
            INSIGHTS_DB_PASSWORD: "generated-insights-connector-password",
            TRINO_KEYSTORE_PASSWORD: "generated-trino-keystore-password",
            TRINO_SHARED_SECRET: "generated-trino-shared-secret",
        });
        expect(trino.inputs.secretFiles[SECRET_SIG]).toBeDefined();
        expect(trino.inputs.probe[SECRET_SIG]).toBeDefined();
    });
});

describe("Trino security", () => {
    it("lists every user in password.db with a hash, never a password, in a secret file", () => {
        const trino = byName("trino-server");
        expect(trino.inputs.secretFiles[SECRET_SIG]).toBeDefined();
        const passwordDb = Buffer.from(trino.inputs.secretFiles.value["password.db"], "base64").toString("utf8");
        expect(passwordDb.split("\n").filter(Boolean).map(line => line.split(":")[0])).toEqual(["analyst", "customers_owner", "datamesh_check", "dbt", "orders_owner", "payments_owner"]);
        expect(passwordDb).toMatch(/^analyst:\$2y\$10\$/);
        expect(passwordDb).not.toContain("generated-");
        // The other files hold no secret, so they stay plain and a diff shows them.
        expect(trino.inputs.files[SECRET_SIG]).toBeUndefined();
        expect(trino.inputs.files["password.db"]).toBeUndefined();
    });

    it("enables the generated access rules and password authentication", () => {
        const files: Record<string, string> = byName("trino-server").inputs.files;
        // The rules hold the PII mask key: they travel with password.db, as a secret file.
        expect(files["rules.json"]).toBeUndefined();
        const rules = JSON.parse(Buffer.from(byName("trino-server").inputs.secretFiles.value["rules.json"], "base64").toString("utf8"));
        expect(rules.tables).toContainEqual({ user: "analyst", catalog: "insights", schema: "jaffle_shop", table: "(dim_customers|fct_orders)", privileges: ["SELECT"] });
        expect(files["access-control.properties"]).toContain(`security.config-file=${path.join(STATE_DIR, "trino-server", "etc")}/rules.json\n`);
        expect(files["password-authenticator.properties"]).toContain("password-authenticator.name=file\n");
    });

    it("makes a certificate for localhost and 127.0.0.1 with a generated keystore password", () => {
        const tls = byName("trino-tls");
        expect(tls.inputs).toMatchObject({ hostnames: ["localhost"], ipAddresses: ["127.0.0.1"], keytool: `${FAKE_TOOLCHAIN.javaHome}/bin/keytool` });
        expect(tls.inputs.keystorePassword[SECRET_SIG]).toBeDefined();
    });
});

describe("dbt and the check", () => {
    it("runs dbt against the coordinator with a generated profile and the domain catalogs as vars", () => {
        const run = byName("dbt-run");
        expect(run.inputs.profile).toContain("port: 28080");
        expect(run.inputs.profile).toContain("database: insights");
        expect(run.inputs.profile).toContain("http_scheme: https");
        expect(run.inputs.profile).not.toContain("generated-");
        expect(run.inputs.env.value).toEqual({ DATAMESH_DBT_PASSWORD: "generated-trino-dbt-password" });
        expect(run.inputs.vars).toEqual({ customers_catalog: "customers", customers_schema: "public", orders_catalog: "orders", orders_schema: "orders", payments_catalog: "payments", payments_schema: "public" });
        expect(run.inputs.projectDigest).toBe(digestDirectory(path.join(__dirname, "..", "..", "dbt")));
        expect(run.inputs.runSchema).toMatch(/^jaffle_shop__[0-9a-f]{12}$/);
        expect(run.inputs.profile).toContain(`schema: ${run.inputs.runSchema}`);
    });

    it("reads the sources through Trino as dbt, after every load, and builds a run named after what it read", () => {
        const sources = byName("dbt-sources");
        // Each domain reloads on its own data's fingerprint; what dbt read follows all of them.
        const loads = ["customers", "orders", "payments"].map(domain => byName(`${domain}-data`).inputs.fingerprint);
        loads.forEach(fingerprint => expect(fingerprint).toMatch(/^files:[0-9a-f]{64}$/));
        expect(new Set(loads).size).toBe(3);
        expect(sources.inputs.loaded).toMatch(/^[0-9a-f]{64}$/);
        expect(sources.inputs.access.value.connection).toMatchObject({ url: "https://127.0.0.1:28080", user: "dbt", password: "generated-trino-dbt-password" });
        expect(sources.inputs.sources).toEqual([
            { catalog: "customers", schema: "public", table: "customers", primaryKey: "id" },
            { catalog: "orders", schema: "orders", table: "orders", primaryKey: "id" },
            { catalog: "payments", schema: "public", table: "payments", primaryKey: "id" },
        ]);
        expect(dependsOn(dependencies, byName("dbt-run").urn, sources.urn)).toBe(true);
        expect(dependsOn(dependencies, sources.urn, byName("payments-data").urn)).toBe(true);
    });

    it("checks the dbt run it follows, through the coordinator", () => {
        const check = byName("check-reconciliation");
        expect(check.inputs.dbtRunId).toBe("run-1");
        expect(check.inputs.trino[SECRET_SIG]).toBeDefined();
        expect(check.inputs.trino.value).toMatchObject({ url: "https://127.0.0.1:28080", user: "datamesh_check", password: "generated-trino-check-password" });
        const runSchema = byName("dbt-run").inputs.runSchema;
        // Every public model, in the run's schema, against the audit the dbt project declares beside it.
        expect(check.inputs.targets).toEqual({ catalog: "insights", schema: runSchema, audits: readAudits(path.join(__dirname, "..", "..", "dbt"), DOMAINS) });
        expect(check.inputs.targets.audits.map((a: { model: string }) => a.model)).toEqual(["dim_customers", "fct_orders"]);
    });
});

describe("stack outputs", () => {
    it("exports the interface names", async () => {
        expect(await valueOf(stack.trinoUrl)).toBe("https://127.0.0.1:28080");
        expect(await valueOf(stack.trinoCaCert)).toMatch(/^-----BEGIN CERTIFICATE-----/);
        expect(Object.keys(stack.users).sort()).toEqual(["analyst", "check", "customers_owner", "dbt", "orders_owner", "payments_owner"]);
        expect(stack.users.analyst.user).toBe("analyst");
        expect(await valueOf(stack.users.analyst.password)).toBe("generated-trino-analyst-password");
        expect(await isSecret(stack.users.analyst.password)).toBe(true);
        expect(stack.insights).toEqual({ catalog: "insights", schema: "jaffle_shop" });
        // The check's output is what the publication reported, and the publication is handed the reconciliation's own summary.
        const publication = byName("check-publication");
        expect(await valueOf(stack.check)).toBe(publication.state.summary);
        expect(publication.inputs.audit).toBe(byName("check-reconciliation").state.summary);
        expect(await valueOf(stack.publishedRun)).toBe(byName("dbt-run").inputs.runSchema);
        expect(stack.exampleQuery).toMatch(/^SELECT .* FROM insights\.jaffle_shop\.dim_customers/);
        const orders = stack.domains.orders;
        expect(await valueOf(orders.engine)).toBe("mariadb");
        expect(await valueOf(orders.port)).toBe(25431);
        expect(await valueOf(orders.user)).toBe("orders_owner");
        expect(await valueOf(orders.password)).toBe("generated-orders-owner-password");
    });

    it("serves the docs of the published run, generated after its publication, with dbt's profile and password", async () => {
        const site = byName("docs-site");
        expect(site.inputs.port).toBe(28082);
        expect(site.inputs.publishedRun).toBe(byName("check-publication").state.publishedRun);
        expect(dependsOn(dependencies, site.urn, byName("check-publication").urn)).toBe(true);
        expect(site.inputs.profile).toContain(`schema: ${site.inputs.publishedRun}`);
        expect(site.inputs.env[SECRET_SIG]).toBeDefined();
        expect(await valueOf(stack.trinoUiUrl)).toBe("https://127.0.0.1:28080/ui/");
    });

    it("summarizes the mesh: each domain's engine, owner, catalog, tables and rows, and the insights' last rebuild", async () => {
        const domain = stack.mesh.domains.orders;
        expect({ ...domain, tables: await valueOf(domain.tables), rows: await valueOf(domain.rows) }).toEqual({
            engine: "mariadb",
            owner: "orders_owner",
            external: false,
            source: "declaration",
            catalog: "orders",
            schema: "orders",
            // What this `up` read through Trino, not the declaration or the load's count.
            tables: { orders: { rows: 123, columns: { id: "bigint" } } },
            rows: { orders: 123 },
        });
        expect(byName("orders-data").state.rowCounts).toEqual({ orders: 100 });
        expect(await valueOf(stack.domains.orders.rows)).toEqual({ orders: 123 });
        expect(Object.keys(stack.mesh.domains)).toEqual(["customers", "orders", "payments"]);
        const insights = stack.mesh.insights;
        expect(insights.publicTables).toEqual(["dim_customers", "fct_orders"]);
        const publication = byName("check-publication").state;
        expect([await valueOf(insights.run), await valueOf(insights.rebuiltAt), await valueOf(insights.reason)]).toEqual([publication.publishedRun, publication.rebuiltAt, publication.reason]);
    });

    it("publishes only after the check of the run, to the schema analysts read", () => {
        const publication = byName("check-publication");
        expect(dependsOn(dependencies, publication.urn, byName("check-reconciliation").urn)).toBe(true);
        expect(publication.inputs).toMatchObject({ catalog: "insights", schema: "jaffle_shop", runSchema: byName("dbt-run").inputs.runSchema });
        expect(publication.inputs.audits).toEqual(byName("check-reconciliation").inputs.targets.audits);
        expect(publication.inputs.publisher.value.connection.user).toBe("dbt");
        expect(publication.inputs.checker.value.connection.user).toBe("datamesh_check");
    });

    it("marks every domain password secret", async () => {
        for (const domain of Object.values(stack.domains as Record<string, { password: pulumi.Output<string> }>)) {
            expect(await isSecret(domain.password)).toBe(true);
        }
    });
});
