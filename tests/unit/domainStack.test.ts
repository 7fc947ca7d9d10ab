import * as pulumi from "@pulumi/pulumi";
import { contractVersion, domainOfProduct, publishedTables } from "../../lib/dataProduct";
import { domainByName } from "../../lib/domains";
import { attachUrns, installMocks, isSecret, RecordedResource, UNIT_TEST_CA, valueOf } from "./mocks";

jest.mock("../../platforms/local/toolchain", () => ({ findLocalToolchain: () => require("./mocks").FAKE_TOOLCHAIN }));
// Pulumi serializes dynamic providers through the V8 inspector, which Jest's module sandbox breaks;
// the real serialization is exercised by the integration tests' `pulumi up`.
jest.mock("@pulumi/pulumi/runtime/closure/serializeClosure", () => ({ serializeFunction: async () => ({ text: "exports.handler = undefined;", exportName: "handler" }) }));

/* The program as the customers team's stack: datamesh:role=domain, datamesh:domain=customers. */

let resources: RecordedResource[];
let stack: Record<string, any>;

/** Every plain value in an output tree, secrets included, as text. */
async function deepText(value: unknown): Promise<string> {
    if (pulumi.Output.isInstance(value)) {
        return deepText(await valueOf(value));
    }
    if (Array.isArray(value)) {
        return (await Promise.all(value.map(deepText))).join("\n");
    }
    if (value && typeof value === "object") {
        return (await Promise.all(Object.values(value).map(deepText))).join("\n");
    }
    return String(value);
}

beforeAll(async () => {
    resources = await installMocks();
    pulumi.runtime.setAllConfig({ "datamesh:role": "domain", "datamesh:domain": "customers", "datamesh:stateDir": "/var/lib/datamesh-unit", "datamesh:basePort": "25430" });
    stack = await import("../../index");
    await valueOf(pulumi.output(stack.dataProduct));
    attachUrns(resources);
});

describe("a domain stack", () => {
    it("deploys its domain's server, users and load, and nothing of the mesh or of another domain", () => {
        const components = resources.filter(r => r.type.startsWith("datamesh:index:")).map(r => `${r.type} ${r.name}`);
        expect(components).toEqual(["datamesh:index:DomainDatabase customers"]);
        const others = resources.filter(r => !r.type.startsWith("datamesh:index:") && r.name !== "state-dir" && r.name !== "stack-ca");
        expect(others.length).toBeGreaterThan(3);
        for (const resource of others) {
            expect(resource.name).toMatch(/^customers-/);
        }
        expect(resources.map(r => r.type)).not.toContain("pulumi:pulumi:StackReference");
        expect(resources.find(r => r.name === "customers-server")?.inputs).toMatchObject({ engine: "postgresql", port: 25430 });
    });

    it("exports the data product and nothing else", () => {
        expect(Object.keys(stack)).toEqual(["dataProduct"]);
    });

    it("publishes where Trino reaches the domain, its tables and owner, and a reader whose password alone is secret", async () => {
        const product = stack.dataProduct;
        const plain = {
            ...product,
            endpoint: await valueOf(product.endpoint),
            database: await valueOf(product.database),
            reader: { user: await valueOf(product.reader.user), password: await valueOf(product.reader.password) },
            tls: await valueOf(pulumi.output(product.tls)),
        };
        const declared = domainByName("customers");
        expect(plain).toEqual({
            name: "customers",
            description: declared.description,
            engine: "postgresql",
            owner: "customers_owner",
            readers: [],
            endpoint: { host: "127.0.0.1", port: 25430 },
            database: "customers",
            schema: "public",
            tables: [
                {
                    name: "customers",
                    primaryKey: "id",
                    pii: { email: "deny" },
                    columns: [
                        { name: "id", type: "integer" },
                        { name: "first_name", type: "text" },
                        { name: "last_name", type: "text" },
                        { name: "email", type: "text" },
                    ],
                },
            ],
            reader: { user: "customers_trino", password: "generated-customers-reader-password" },
            // The stack's CA, which the server's certificate chains to: the mesh checks the server against it.
            tls: { mode: "verify-full", caCert: UNIT_TEST_CA },
            contractVersion: contractVersion(publishedTables(declared.tables)),
        });
        expect(await isSecret(product.reader.password)).toBe(true);
        expect(await isSecret(product.endpoint)).toBe(false);
    });

    it("holds no administrator's or owner's password in its product", async () => {
        const text = await deepText(stack.dataProduct);
        expect(text).toContain("generated-customers-reader-password");
        expect(text).not.toContain("generated-customers-admin-password");
        expect(text).not.toContain("generated-customers-owner-password");
    });

    it("is read back by the mesh as the very domain it declares", async () => {
        const product = await valueOf(pulumi.output(stack.dataProduct));
        const { domain, readerPassword } = domainOfProduct("organization/datamesh/customers", product);
        const declared = domainByName("customers");
        expect(domain).toEqual({
            ...declared,
            external: {
                host: "127.0.0.1",
                port: 25430,
                database: "customers",
                user: "customers_trino",
                tls: { mode: "verify-full", caPem: UNIT_TEST_CA, caFile: "dataProduct.tls.caCert of stack organization/datamesh/customers" },
            },
            file: "stack organization/datamesh/customers",
            source: "stack:organization/datamesh/customers",
            tables: declared.tables.map(table => ({ ...table, piiMasks: { email: "deny" } })),
        });
        expect(readerPassword).toBe("generated-customers-reader-password");
    });
});

describe("a contract version", () => {
    const tables = publishedTables(domainByName("customers").tables);
    it("changes with a column's type, a new column, a primary key or a PII mark, and not with the order a mask map was written in", () => {
        const version = contractVersion(tables);
        const changed = (edit: (t: (typeof tables)[number]) => void) => {
            const copy = JSON.parse(JSON.stringify(tables));
            edit(copy[0]);
            return contractVersion(copy);
        };
        expect(changed(t => (t.columns[1].type = "date"))).not.toBe(version);
        expect(changed(t => t.columns.push({ name: "phone", type: "text" }))).not.toBe(version);
        expect(changed(t => (t.primaryKey = "email"))).not.toBe(version);
        expect(changed(t => (t.pii = { email: "hash" }))).not.toBe(version);
        expect(changed(t => (t.pii = {}))).not.toBe(version);
        const twoMasks = (pii: Record<string, "deny" | "null">) => contractVersion([{ ...tables[0], pii }]);
        expect(twoMasks({ email: "deny", last_name: "null" })).toBe(twoMasks({ last_name: "null", email: "deny" }));
    });
});
