import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { CANONICAL_DATA_DIR } from "../../lib/dataset";
import { referenceInsights, TextTable } from "../reference";
import { allSecrets, createMesh, createSharedBackend, MeshUnderTest, qualifiedStackName, queryAsText, SharedBackend } from "./harness";
import { clientTlsOf } from "../../resources/domainData";

// Deployments take minutes; every step here waits for a real `pulumi up`.
jest.setTimeout(900_000);

/*
 * Domain teams own their stacks. Three stacks of the same program share one file backend, as teams
 * share a bucket: the customers team's and the payments team's domain stacks
 * (datamesh:role=domain), and the platform team's mesh, which declares orders itself and reads the
 * other two through datamesh:domainStacks. Each stack deploys from its own copy of the project, as
 * each team from its own repository: the mesh's copy holds no declaration of customers or payments.
 * The steps share the deployments and run in order.
 */

const CUSTOMERS = qualifiedStackName("customers");
const PAYMENTS = qualifiedStackName("payments");
const NEW_CUSTOMER = ["101", "Ada", "Lovelace", "ada@example.com"];

let backend: SharedBackend;
let customers: MeshUnderTest;
let payments: MeshUnderTest;
let mesh: MeshUnderTest;
const started = Date.now();

/** A domain stack of the team that owns `domain`, from the team's own copy of the project. */
function domainStack(domain: string): Promise<MeshUnderTest> {
    return createMesh(domain, { role: "domain", domain }, { backend });
}

async function insights(): Promise<{ dim_customers: TextTable; fct_orders: TextTable }> {
    return {
        dim_customers: await queryAsText(mesh, "SELECT * FROM insights.jaffle_shop.dim_customers ORDER BY customer_id", "analyst"),
        fct_orders: await queryAsText(mesh, "SELECT * FROM insights.jaffle_shop.fct_orders ORDER BY order_id", "analyst"),
    };
}

/** The mesh's resources as its state holds them, by URN. */
async function meshResources(): Promise<Record<string, unknown>> {
    const deployment = await mesh.stack.exportStack();
    return Object.fromEntries((deployment.deployment.resources ?? []).map((r: { urn: string }) => [r.urn, r]));
}

/** The mesh's resources but its stack references, which record what each `up` read of the domain stacks, even one that fails. */
async function meshResourcesButReferences(): Promise<Record<string, unknown>> {
    return Object.fromEntries(Object.entries(await meshResources()).filter(([, r]) => (r as { type: string }).type !== "pulumi:pulumi:StackReference"));
}

/** Rows of a domain's table, read as the reader its stack publishes, straight from its server. */
async function rowsInDomain(team: MeshUnderTest, table: string): Promise<number> {
    const product = (await team.stack.outputs()).dataProduct.value;
    const pg = require("pg");
    const client = new pg.Client({ host: "127.0.0.1", port: product.endpoint.port, user: product.reader.user, password: product.reader.password, database: product.database, ...clientTlsOf("postgresql", product.tls) });
    await client.connect();
    try {
        return Number((await client.query(`SELECT count(*) AS n FROM ${product.schema}.${table}`)).rows[0].n);
    } finally {
        await client.end();
    }
}

/** A domain table's columns as its server lists them, [name, type] in order, read as the reader its stack publishes. */
async function columnsInDomain(team: MeshUnderTest, table: string): Promise<string[][]> {
    const product = (await team.stack.outputs()).dataProduct.value;
    const pg = require("pg");
    const client = new pg.Client({ host: "127.0.0.1", port: product.endpoint.port, user: product.reader.user, password: product.reader.password, database: product.database, ...clientTlsOf("postgresql", product.tls) });
    await client.connect();
    try {
        const sql = "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position";
        return (await client.query(sql, [product.schema, table])).rows.map((row: { column_name: string; data_type: string }) => [row.column_name, row.data_type]);
    } finally {
        await client.end();
    }
}

/**
 * The customers team's next declaration of its table and the CSV that goes with it, in its copy of
 * the project: `declare` edits the table's declaration, `row` each line's fields (the header's
 * first). Returns what puts both files back as they were.
 */
function changeCustomersTable(declare: (table: { columns: { name: string; type: string }[]; pii: string[] }) => void, row: (fields: string[], line: number) => string[]): () => void {
    const declarationFile = path.join(customers.projectDir, "domains", "customers.yaml");
    const dataFile = path.join(customers.projectDir, "data", "jaffle_shop", "customers.csv");
    const [declaration, data] = [fs.readFileSync(declarationFile, "utf8"), fs.readFileSync(dataFile, "utf8")];
    const document = parseYaml(declaration);
    declare(document.tables[0]);
    fs.writeFileSync(declarationFile, stringifyYaml(document));
    fs.writeFileSync(dataFile, `${data.trimEnd().split("\n").map((line, i) => row(line.split(","), i).join(",")).join("\n")}\n`);
    return () => {
        fs.writeFileSync(declarationFile, declaration);
        fs.writeFileSync(dataFile, data);
    };
}

beforeAll(async () => {
    backend = createSharedBackend("domain-stacks");
    customers = await domainStack("customers");
    payments = await domainStack("payments");
    mesh = await createMesh(
        "mesh",
        { domainStacks: JSON.stringify([CUSTOMERS, PAYMENTS]) },
        {
            backend,
            // The two teams' declarations moved to their repositories.
            prepare: projectDir => ["customers", "payments"].forEach(domain => fs.rmSync(path.join(projectDir, "domains", `${domain}.yaml`))),
        },
    );
});

afterAll(async () => {
    for (const stack of [mesh, payments, customers]) {
        await stack?.remove().catch(() => undefined);
    }
    if (backend) {
        fs.rmSync(backend.dir, { recursive: true, force: true });
    }
    console.log(`domain stacks: ${Math.round((Date.now() - started) / 1000)} s in all`);
});

describe("two domain stacks and the mesh, in one backend", () => {
    it("deploys each domain on its own, publishing its data product and nothing else", async () => {
        // Two teams, each on its own: their `up`s run side by side in the one backend.
        const results = await Promise.all([customers.stack.up(), payments.stack.up()]);
        for (const [team, result] of [["customers", results[0]], ["payments", results[1]]] as const) {
            expect(Object.keys(result.outputs)).toEqual(["dataProduct"]);
            const product = result.outputs.dataProduct;
            // A nested secret makes the whole output secret as the Automation API reports it; the state marks the password alone.
            expect(product.value).toMatchObject({ name: team, engine: "postgresql", owner: `${team}_owner`, reader: { user: `${team}_trino` }, contractVersion: expect.stringMatching(/^sha256:/) });
            expect(product.value.tables.map((t: { name: string }) => t.name)).toEqual([team]);
        }
        expect(await rowsInDomain(customers, "customers")).toBe(100);
        const deployment = await customers.stack.exportStack();
        const components = (deployment.deployment.resources ?? []).filter((r: { type: string }) => r.type.startsWith("datamesh:index:")).map((r: { urn: string }) => r.urn.split("::").slice(-2).join(" "));
        expect(components).toEqual(["datamesh:index:DomainDatabase customers"]);
    });

    it("refuses a domain stack that does not exist, naming it, before any resource", async () => {
        const nobody = qualifiedStackName("nobody");
        await mesh.stack.setConfig("datamesh:domainStacks", { value: JSON.stringify([CUSTOMERS, PAYMENTS, nobody]) });
        await expect(mesh.stack.up()).rejects.toThrow(new RegExp(`${nobody.replace(/\//g, "\\/")}`));
        const created = Object.values(await meshResources()).filter((r: any) => r.type.startsWith("datamesh:") || r.type.startsWith("pulumi-nodejs:dynamic"));
        expect(created).toEqual([]);
        await mesh.stack.setConfig("datamesh:domainStacks", { value: JSON.stringify([CUSTOMERS, PAYMENTS]) });
    });

    it("federates both through stack references: the insights pass the check and equal the reference", async () => {
        const result = await mesh.stack.up();
        expect(result.outputs.check.value).toMatch(/^OK: dim_customers 100 rows = audit 100/);
        const domains = result.outputs.mesh.value.domains;
        expect(Object.fromEntries(Object.entries(domains).map(([name, d]: [string, any]) => [name, d.source]))).toEqual({
            orders: "declaration",
            customers: `stack:${CUSTOMERS}`,
            payments: `stack:${PAYMENTS}`,
        });
        expect(await insights()).toEqual(referenceInsights(CANONICAL_DATA_DIR));
    });

    it("holds the domains' reader credentials only: no administrator's or owner's password of a domain stack is in the mesh's state", async () => {
        const meshState = JSON.stringify((await mesh.stack.exportStack()).deployment);
        for (const team of [customers, payments]) {
            const outputs = await team.resourceOutputs();
            const reader = (await team.stack.outputs()).dataProduct.value.reader.password;
            expect(meshState).toContain(reader);
            const others = (await allSecrets(team)).filter(secret => secret !== reader);
            // The server's administrator and the domain's owner, at least.
            const name = (await team.stack.outputs()).dataProduct.value.name;
            expect(others).toEqual(expect.arrayContaining([JSON.parse(outputs[`${name}-admin-password`].value.plaintext), JSON.parse(outputs[`${name}-owner-password`].value.plaintext)]));
            for (const secret of others) {
                expect(meshState).not.toContain(secret);
            }
        }
    });

    it("fails the mesh's next up before dbt when a team retypes or drops a column the insights read, naming the domain, table and column, and keeps the published insights", async () => {
        const published = await insights();
        const before = await meshResourcesButReferences();
        // Customer ids become text and last names go: dim_customers reads both.
        const restore = changeCustomersTable(
            table => (table.columns = table.columns.filter(c => c.name !== "last_name").map(c => (c.name === "id" ? { ...c, type: "text" } : c))),
            fields => fields.filter((_, i) => i !== 2),
        );
        try {
            await customers.stack.up();
            expect(await columnsInDomain(customers, "customers")).toEqual([["id", "text"], ["first_name", "text"], ["email", "text"]]);
            const failure = mesh.stack.up();
            await expect(failure).rejects.toThrow(`stack ${CUSTOMERS} declares customers.customers.id as text`);
            await expect(failure).rejects.toThrow(`'last_name' is not a column of customers.customers in stack ${CUSTOMERS}`);
            // Nothing of the mesh's ran, dbt included.
            expect(await meshResourcesButReferences()).toEqual(before);
            expect(await insights()).toEqual(published);
        } finally {
            restore();
            // The next steps start from the table the mesh last published.
            await customers.stack.up();
        }
    });

    it("lets a team load new rows and add columns without touching the mesh, whose next up takes them through the gate", async () => {
        const before = await meshResources();
        fs.appendFileSync(path.join(customers.projectDir, "data", "jaffle_shop", "customers.csv"), `${NEW_CUSTOMER.join(",")}\n`);
        // One up for the row and the columns: each mesh up costs CI most of a minute.
        changeCustomersTable(
            table => {
                table.columns.push({ name: "loyalty_points", type: "integer" }, { name: "phone", type: "text" });
                table.pii.push("phone");
            },
            (fields, line) => [...fields, ...(line === 0 ? ["loyalty_points", "phone"] : [String(Number(fields[0]) * 10), `555-01${fields[0]}`])],
        );
        await customers.stack.up();
        expect(await rowsInDomain(customers, "customers")).toBe(101);
        expect(await columnsInDomain(customers, "customers")).toEqual([["id", "bigint"], ["first_name", "text"], ["last_name", "text"], ["email", "text"], ["loyalty_points", "bigint"], ["phone", "text"]]);
        expect(await meshResources()).toEqual(before);

        const result = await mesh.stack.up();
        // dbt reads neither new column but sees loyalty_points (phone is denied to it), so the run is a full one, which the gate checks row by row.
        expect(result.outputs.mesh.value.insights.refresh).toBe("full: a source's columns changed (customers.public.customers: id, first_name, last_name, loyalty_points)");
        expect(result.outputs.check.value).toMatch(/^OK: dim_customers 101 rows = audit 101, .*\(domain data change\)$/);
        const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "datamesh-it-domain-stacks-data-"));
        try {
            // The reference model reads the columns the repository's declaration has.
            const rows = fs.readFileSync(path.join(customers.projectDir, "data", "jaffle_shop", "customers.csv"), "utf8").trimEnd().split("\n");
            fs.writeFileSync(path.join(dataDir, "customers.csv"), `${rows.map(row => row.split(",").slice(0, 4).join(",")).join("\n")}\n`);
            for (const file of ["orders.csv", "payments.csv"]) {
                fs.copyFileSync(path.join(CANONICAL_DATA_DIR, file), path.join(dataDir, file));
            }
            const now = await insights();
            expect(now).toEqual(referenceInsights(dataDir));
            expect(now.dim_customers.rows.find(row => row[0] === "101")).toEqual(expect.arrayContaining(["101", "Ada", "Lovelace"]));
        } finally {
            fs.rmSync(dataDir, { recursive: true, force: true });
        }
    });

    it("shows a team's new columns in Trino once the mesh has taken them: a plain one to whoever reads the table, a PII one to its owner alone", async () => {
        const tables = (await mesh.stack.outputs()).mesh.value.domains.customers.tables;
        // As dbt read the table: phone is hidden from it like email.
        expect(tables.customers.columns).toEqual({ id: "bigint", first_name: "varchar", last_name: "varchar", loyalty_points: "bigint" });
        expect((await queryAsText(mesh, "SELECT loyalty_points FROM customers.public.customers WHERE id = 101", "dbt")).rows).toEqual([["1010"]]);
        expect((await queryAsText(mesh, "SELECT loyalty_points FROM customers.public.customers WHERE id = 7", "check")).rows).toEqual([["70"]]);
        await expect(queryAsText(mesh, "SELECT phone FROM customers.public.customers WHERE id = 7", "dbt")).rejects.toThrow(/Access Denied: Cannot select from (columns \[phone\]|table customers\.public\.customers)/);
        expect((await queryAsText(mesh, "SELECT phone, loyalty_points FROM customers.public.customers WHERE id = 7", "customers_owner")).rows).toEqual([["555-017", "70"]]);
    });

    it("fails the mesh's next up naming a domain stack destroyed while it is referenced, and keeps the published insights", async () => {
        const published = await insights();
        const run = (await mesh.stack.outputs()).publishedRun.value;
        await payments.stack.destroy();
        await expect(mesh.stack.up()).rejects.toThrow(`domain stack '${PAYMENTS}': exports no dataProduct`);
        expect(await insights()).toEqual(published);
        expect((await mesh.stack.outputs()).publishedRun.value).toBe(run);
    });

    it("leaves a domain stack's database and rows when the mesh is destroyed", async () => {
        await mesh.stack.destroy();
        expect(await rowsInDomain(customers, "customers")).toBe(101);
    });
});
