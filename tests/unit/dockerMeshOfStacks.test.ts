import * as pulumi from "@pulumi/pulumi";
import { contractVersion, publishedTables } from "../../lib/dataProduct";
import { domainByName } from "../../lib/domains";
import { installMocks, RecordedResource, resourceNamed, UNIT_TEST_CA, valueOf } from "./mocks";

// Pulumi serializes dynamic providers through the V8 inspector, which Jest's module sandbox breaks;
// the real serialization is exercised by the integration tests' `pulumi up`.
jest.mock("@pulumi/pulumi/runtime/closure/serializeClosure", () => ({ serializeFunction: async () => ({ text: "exports.handler = undefined;", exportName: "handler" }) }));
// The customers team moved its declaration to its own repository: the mesh's domains/ no longer holds it.
jest.mock("../../lib/domains", () => {
    const actual = jest.requireActual("../../lib/domains");
    return { ...actual, DOMAINS: actual.DOMAINS.filter((d: { name: string }) => d.name !== "customers") };
});

/* The mesh on docker federating the customers team's domain stack on docker, whose server is on the team's own network. */

const CUSTOMERS_STACK = "organization/datamesh/customers-team";
const DOMAIN_NETWORK = "datamesh-customers-team";
const DOMAIN_SERVER = "datamesh-customers-team-customers-server";
const customers = domainByName("customers");
const TABLES = publishedTables(customers.tables);
const PRODUCT = {
    name: "customers",
    description: customers.description,
    engine: "postgresql",
    owner: "customers_owner",
    readers: [],
    endpoint: { host: DOMAIN_SERVER, port: 5432 },
    network: DOMAIN_NETWORK,
    published: { host: "127.0.0.1", port: 26430 },
    database: "customers",
    schema: "public",
    tables: TABLES,
    reader: { user: "customers_trino", password: "reader-password-of-the-customers-team" },
    contractVersion: contractVersion(TABLES),
    // A domain stack on docker serves TLS alone, with a certificate from its own stack's CA.
    tls: { mode: "verify-full", caCert: UNIT_TEST_CA },
};
const CONTAINER = "docker:index/container:Container";

let resources: RecordedResource[];
let stack: Record<string, any>;

const containers = () => resources.filter(r => r.type === CONTAINER);
const networksOf = (name: string): string[] => resourceNamed(resources, name).inputs.networksAdvanced.map((n: { name: string }) => n.name);
/** A recorded input with every secret wrapper taken off. */
const reveal = (value: any): any => {
    if (value && typeof value === "object" && "4dabf18193072939515e22adb298388d" in value) {
        return reveal(value.value);
    }
    if (Array.isArray(value)) {
        return value.map(reveal);
    }
    return value && typeof value === "object" ? Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, reveal(inner)])) : value;
};

beforeAll(async () => {
    resources = await installMocks({ [CUSTOMERS_STACK]: { dataProduct: PRODUCT } });
    pulumi.runtime.setAllConfig({ "datamesh:platform": "docker", "datamesh:workers": "2", "datamesh:domainStacks": JSON.stringify([CUSTOMERS_STACK]) });
    stack = await import("../../index");
    await valueOf(stack.check);
}, 60_000);

describe("a mesh on docker that federates a domain stack on docker", () => {
    it("runs no server of the domain and creates no network for it: the network is the domain stack's", () => {
        expect(containers().map(r => r.name)).not.toContain("customers-server");
        expect(resources.filter(r => r.type === "docker:index/network:Network").map(r => r.inputs.name)).toEqual(["datamesh-unit"]);
    });

    it("attaches Trino's coordinator and every worker to the domain's network, besides the mesh's own", () => {
        for (const node of ["trino-server", "trino-server-worker-1", "trino-server-worker-2"]) {
            expect({ node, networks: networksOf(node) }).toEqual({ node, networks: ["datamesh-unit", DOMAIN_NETWORK] });
        }
        // The alias the certificate names is the mesh's network's only.
        expect(resourceNamed(resources, "trino-server").inputs.networksAdvanced).toEqual([{ name: "datamesh-unit", aliases: ["trino"] }, { name: DOMAIN_NETWORK }]);
    });

    it("attaches nothing else to it: the domains it runs, dbt, the docs site and the warehouse stay on the mesh's network", () => {
        const others = containers().filter(r => !r.name.startsWith("trino-server") && r.inputs.networksAdvanced);
        expect(others.map(r => r.name)).toEqual(expect.arrayContaining(["orders-server", "payments-server", "insights-metastore", "dbt-run"]));
        for (const container of others) {
            expect({ container: container.name, networks: networksOf(container.name) }).toEqual({ container: container.name, networks: ["datamesh-unit"] });
        }
    });

    it("points every Trino node's catalog at the domain server's container name and port, checking its certificate against the domain stack's CA", () => {
        for (const node of ["trino-server", "trino-server-worker-1", "trino-server-worker-2"]) {
            const uploads: { file: string; content?: string }[] = reveal(resourceNamed(resources, node).inputs.uploads);
            const catalog = uploads.find(u => u.file === "/etc/trino/catalog/customers.properties")!.content!;
            expect(catalog).toContain(`connection-url=jdbc:postgresql://${DOMAIN_SERVER}:5432/customers?sslmode=verify-full&sslrootcert=/etc/trino/catalog/customers-ca.pem\n`);
            expect(uploads.find(u => u.file === "/etc/trino/catalog/customers-ca.pem")?.content).toBe(UNIT_TEST_CA);
        }
    });

    it("probes the domain's tables from the deploying process at its published port, and names it so in the domains output", async () => {
        expect(reveal(resourceNamed(resources, "customers-probe").inputs)).toMatchObject({
            host: "127.0.0.1",
            port: 26430,
            database: "customers",
            reader: { user: "customers_trino" },
            tls: { mode: "verify-full", caPem: UNIT_TEST_CA },
        });
        expect(resourceNamed(resources, "customers-probe").inputs.tunnel).toBeUndefined();
        const domains = await valueOf(pulumi.output(stack.domains));
        expect(domains.customers).toMatchObject({ host: "127.0.0.1", port: 26430 });
    });

    it("says where the domain came from", async () => {
        const mesh = await valueOf(pulumi.output(stack.mesh));
        expect(JSON.stringify(mesh)).toContain(`stack:${CUSTOMERS_STACK}`);
    });
});
