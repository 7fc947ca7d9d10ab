import * as pulumi from "@pulumi/pulumi";
import { contractVersion, publishedTables } from "../../lib/dataProduct";
import { domainByName } from "../../lib/domains";
import { attachUrns, installMocks, isSecret, RecordedResource, resourceNamed, valueOf } from "./mocks";

jest.mock("../../platforms/local/toolchain", () => ({ findLocalToolchain: () => require("./mocks").FAKE_TOOLCHAIN }));
// Pulumi serializes dynamic providers through the V8 inspector, which Jest's module sandbox breaks;
// the real serialization is exercised by the integration tests' `pulumi up`.
jest.mock("@pulumi/pulumi/runtime/closure/serializeClosure", () => ({ serializeFunction: async () => ({ text: "exports.handler = undefined;", exportName: "handler" }) }));
// The customers team moved its declaration to its own repository: the mesh's domains/ no longer holds it.
jest.mock("../../lib/domains", () => {
    const actual = jest.requireActual("../../lib/domains");
    return { ...actual, DOMAINS: actual.DOMAINS.filter((d: { name: string }) => d.name !== "customers") };
});

/* The mesh stack federating the customers domain from the customers team's stack. */

const CUSTOMERS_STACK = "organization/datamesh/customers-team";
const READER_PASSWORD = "reader-password-of-the-customers-team";
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const customers = domainByName("customers");
// The team has added two columns that no dbt source lists: a plain one and a PII one.
const TABLES = publishedTables(customers.tables).map(table => ({
    ...table,
    pii: { ...table.pii, phone: "deny" as const },
    columns: [...table.columns, { name: "loyalty_points", type: "integer" as const }, { name: "phone", type: "text" as const }],
}));
const PRODUCT = {
    name: "customers",
    description: customers.description,
    engine: "postgresql",
    owner: "customers_owner",
    readers: ["marketing"],
    endpoint: { host: "127.0.0.1", port: 25500 },
    database: "customers",
    schema: "public",
    tables: TABLES,
    reader: { user: "customers_trino", password: READER_PASSWORD },
    contractVersion: contractVersion(TABLES),
};

let resources: RecordedResource[];
let stack: Record<string, any>;
const byName = (name: string) => resourceNamed(resources, name);

beforeAll(async () => {
    resources = await installMocks({ [CUSTOMERS_STACK]: { dataProduct: PRODUCT } });
    pulumi.runtime.setAllConfig({ "datamesh:stateDir": "/var/lib/datamesh-unit", "datamesh:basePort": "25430", "datamesh:trinoPort": "28080", "datamesh:domainStacks": JSON.stringify([CUSTOMERS_STACK]) });
    stack = await import("../../index");
    await valueOf(stack.check);
    attachUrns(resources);
});

describe("a mesh that federates a domain stack", () => {
    it("reads the stack before it declares anything", () => {
        expect(resources[0]).toMatchObject({ type: "pulumi:pulumi:StackReference", name: CUSTOMERS_STACK });
        expect(resources.filter(r => r.type === "pulumi:pulumi:StackReference")).toHaveLength(1);
    });

    it("runs no server of the domain: it reads the product's endpoint as its reader, like any database its team runs", async () => {
        const components = resources.filter(r => r.type.startsWith("datamesh:index:")).map(r => `${r.type} ${r.name}`);
        expect(components).toContain("datamesh:index:ExternalDomain customers");
        expect(components).not.toContain("datamesh:index:DomainDatabase customers");
        expect(resources.map(r => r.name)).not.toContain("customers-server");
        const probe = byName("customers-probe");
        expect(probe.inputs).toMatchObject({ domainName: "customers", engine: "postgresql", host: "127.0.0.1", port: 25500, database: "customers", schema: "public" });
        expect(probe.inputs.tables).toEqual(
            customers.tables.map(table => ({
                ...table,
                columns: [...table.columns, { name: "loyalty_points", type: "integer" }, { name: "phone", type: "text" }],
                piiColumns: ["email", "phone"],
                piiMasks: { email: "deny", phone: "deny" },
            })),
        );
        // The reader's password reaches the probe as a secret, and so it is stored.
        expect(probe.inputs.reader[SECRET_SIG]).toBeDefined();
        expect(probe.inputs.reader.value).toEqual({ user: "customers_trino", password: READER_PASSWORD });
    });

    it("federates it as the declared domains are: Trino's users, the dbt sources, the domains output", async () => {
        expect(Object.keys(stack.users)).toEqual(expect.arrayContaining(["customers_owner", "orders_owner", "payments_owner", "marketing"]));
        const sources = byName("dbt-sources").inputs.sources.map((s: { catalog: string; schema: string; table: string }) => `${s.catalog}.${s.schema}.${s.table}`);
        expect(sources).toEqual(expect.arrayContaining(["customers.public.customers", "orders.orders.orders", "payments.public.payments"]));
        expect(await valueOf(stack.domains.customers.user)).toBe("customers_trino");
        expect(await isSecret(stack.domains.customers.password)).toBe(true);
    });

    it("gives Trino a catalog at the product's endpoint, the reader's password through its secret environment, and the product's PII rules", () => {
        const trino = byName("trino-server");
        expect(trino.inputs.files["catalog/customers.properties"]).toContain("connection-url=jdbc:postgresql://127.0.0.1:25500/customers\n");
        expect(trino.inputs.files["catalog/customers.properties"]).toContain("connection-user=customers_trino\n");
        expect(trino.inputs.env[SECRET_SIG]).toBeDefined();
        expect(trino.inputs.env.value.CUSTOMERS_DB_PASSWORD).toBe(READER_PASSWORD);
        const rules = JSON.parse(Buffer.from(trino.inputs.secretFiles.value["rules.json"], "base64").toString("utf8"));
        const emailRules = rules.tables.filter((rule: { catalog?: string; table?: string; columns?: { name: string }[] }) => rule.catalog === "customers" && rule.columns?.some(c => c.name === "email"));
        expect(emailRules.length).toBeGreaterThan(0);
        expect(JSON.stringify(rules)).toContain("marketing");
    });

    it("federates columns the dbt sources do not read: the new PII one denied to all but the owner like the declared one, the plain one readable like the rest", () => {
        const rules = JSON.parse(Buffer.from(byName("trino-server").inputs.secretFiles.value["rules.json"], "base64").toString("utf8"));
        const columnRules = rules.tables.filter((rule: { catalog?: string; columns?: unknown[] }) => rule.catalog === "customers" && rule.columns);
        expect(columnRules.map((rule: { user: string }) => rule.user).sort()).toEqual(["datamesh_check", "dbt", "marketing"]);
        for (const rule of columnRules) {
            expect(rule).toMatchObject({ table: "customers", columns: [{ name: "email", allow: false }, { name: "phone", allow: false }] });
        }
    });

    it("says where each domain came from in the mesh output", () => {
        expect(stack.mesh.domains.customers).toMatchObject({ source: `stack:${CUSTOMERS_STACK}`, external: true, owner: "customers_owner", catalog: "customers" });
        expect(stack.mesh.domains.orders.source).toBe("declaration");
        expect(stack.mesh.domains.payments.source).toBe("declaration");
    });

    it("gives the managed domains the ports they would have without the federated one", () => {
        expect(byName("orders-server").inputs.port).toBe(25430);
        expect(byName("payments-server").inputs.port).toBe(25431);
    });
});
