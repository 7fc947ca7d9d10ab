import { domainStackNames, loadConfig } from "../../config";
import { contractVersion, domainOfProduct, publishedTables, readDomainStacks, StackDomain } from "../../lib/dataProduct";
import { checkSourcesAgainstDomains } from "../../lib/dbtProject";
import { DOMAINS, domainByName } from "../../lib/domains";
import * as path from "path";
import { createPlatform } from "../../platforms";
import { installMocks } from "./mocks";

/*
 * Every way a domain stack, or the configuration naming one, is refused, and what the message names.
 * A stack that does not exist fails the engine's own read, which the mocks cannot stand for: the
 * integration test (domainStacks.test.ts) names one that does not exist.
 */

const customers = domainByName("customers");
const product = (overrides: Record<string, unknown> = {}) => ({
    name: "customers",
    description: customers.description,
    engine: "postgresql",
    owner: "customers_owner",
    readers: [],
    endpoint: { host: "127.0.0.1", port: 25500 },
    database: "customers",
    schema: "public",
    tables: publishedTables(customers.tables),
    reader: { user: "customers_trino", password: "reader-password" },
    contractVersion: contractVersion(publishedTables(customers.tables)),
    ...overrides,
});
const STACKS = {
    "organization/datamesh/customers-team": { dataProduct: product() },
    "organization/datamesh/not-a-domain": { trinoUrl: "https://127.0.0.1:18080" },
    "organization/datamesh/wrong-shape": { dataProduct: { name: "customers", engine: "oracle", tables: "customers" } },
};
const context = { stack: "mesh", projectDir: "/project", env: {} };

function refusal(run: () => unknown): string {
    try {
        run();
    } catch (e) {
        return (e as Error).message;
    }
    throw new Error("expected a refusal");
}

beforeAll(async () => {
    await installMocks(STACKS);
});

describe("reading domain stacks", () => {
    it("reads a domain stack's product as a domain", async () => {
        const [read] = await readDomainStacks(["organization/datamesh/customers-team"]);
        expect(read.domain).toMatchObject({ name: "customers", source: "stack:organization/datamesh/customers-team", external: { host: "127.0.0.1", port: 25500, user: "customers_trino" } });
        expect(read.readerPassword).toBe("reader-password");
    });

    it("refuses a stack that exports no dataProduct, naming it", async () => {
        await expect(readDomainStacks(["organization/datamesh/not-a-domain"])).rejects.toThrow("domain stack 'organization/datamesh/not-a-domain': exports no dataProduct");
    });

    it("refuses a product of an unknown shape, naming the stack and each field at fault", async () => {
        const reading = readDomainStacks(["organization/datamesh/wrong-shape"]);
        await expect(reading).rejects.toThrow("domain stack 'organization/datamesh/wrong-shape': dataProduct is not a data product:");
        await expect(reading).rejects.toThrow("dataProduct.engine: must be one of postgresql, mariadb");
        await expect(reading).rejects.toThrow("dataProduct.tables:");
        await expect(reading).rejects.toThrow("dataProduct.reader:");
    });
});

describe("a data product", () => {
    const stack = "organization/datamesh/customers-team";
    it("is refused when a table is not a valid declaration, naming the field", () => {
        const tables = publishedTables(customers.tables).map(t => ({ ...t, columns: [...t.columns, { name: "age", type: "float" }] }));
        expect(refusal(() => domainOfProduct(stack, product({ tables, contractVersion: contractVersion(tables as never) })))).toContain("dataProduct.tables[0].columns[4].type: must be one of integer, text, date");
    });

    it("is refused, saying so, when the reader's password could not be decrypted", () => {
        // The engine elides a secret it cannot decrypt to an object of its ciphertext.
        const elided = product({ reader: { user: "customers_trino", password: { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", ciphertext: "v1:abc" } } });
        expect(refusal(() => domainOfProduct(stack, elided))).toBe(
            `domain stack '${stack}': dataProduct.reader.password cannot be decrypted with the secrets provider at hand: give this deployment the domain stack's passphrase, or rights on its KMS key, or read access to it on Pulumi Cloud`,
        );
    });

    it("is refused when its contract version is not its tables' digest", () => {
        expect(refusal(() => domainOfProduct(stack, product({ contractVersion: "sha256:0" })))).toMatch(/^domain stack 'organization\/datamesh\/customers-team': dataProduct.contractVersion: 'sha256:0' is not the digest of its tables/);
    });

    it("is refused when its endpoint is not a host name, which would go into Trino's JDBC URL", () => {
        expect(refusal(() => domainOfProduct(stack, product({ endpoint: { host: "db?socketFactory=x", port: 5432 } })))).toContain("dataProduct.endpoint.host: must be a host name or an IP address");
    });

    it("is refused when its owner is one of the mesh's own Trino users", () => {
        expect(refusal(() => domainOfProduct(stack, product({ owner: "dbt" })))).toContain("dataProduct.owner: must not be one of the stack's own Trino users");
    });
});

describe("a data product against the mesh's dbt sources", () => {
    const stack = "organization/datamesh/customers-team";
    const dbtDir = path.join(__dirname, "..", "..", "dbt");
    const others = DOMAINS.filter(d => d.name !== "customers");
    const withColumns = (edit: (columns: { name: string; type: string }[]) => { name: string; type: string }[]) => {
        const tables = publishedTables(customers.tables).map(t => ({ ...t, columns: edit(t.columns) }));
        return domainOfProduct(stack, product({ tables, contractVersion: contractVersion(tables as never) })).domain;
    };

    it("takes a product whose tables are the sources'", () => {
        expect(() => checkSourcesAgainstDomains(dbtDir, [...others, withColumns(columns => columns)])).not.toThrow();
    });

    it("takes a product with a column the sources do not list: dbt reads a subset of it", () => {
        const added = withColumns(columns => [...columns, { name: "loyalty_points", type: "integer" }]);
        expect(() => checkSourcesAgainstDomains(dbtDir, [...others, added])).not.toThrow();
    });

    it("refuses, before anything is deployed, a retyped or dropped column, naming the stack, the domain, the table and the column", () => {
        const retyped = withColumns(columns => columns.map(c => (c.name === "first_name" ? { ...c, type: "date" } : c)));
        expect(refusal(() => checkSourcesAgainstDomains(dbtDir, [...others, retyped]))).toContain(`but stack ${stack} declares customers.customers.first_name as date`);
        const dropped = withColumns(columns => columns.filter(c => c.name !== "last_name"));
        expect(refusal(() => checkSourcesAgainstDomains(dbtDir, [...others, dropped]))).toContain(`'last_name' is not a column of customers.customers in stack ${stack}`);
    });

    it("refuses a column the sources read that the product now marks PII, naming it", () => {
        const tables = publishedTables(customers.tables).map(t => ({ ...t, pii: { ...t.pii, last_name: "deny" as const } }));
        const marked = domainOfProduct(stack, product({ tables, contractVersion: contractVersion(tables) })).domain;
        expect(refusal(() => checkSourcesAgainstDomains(dbtDir, [...others, marked]))).toContain(`.meta.contains_pii: false, but stack ${stack} declares customers.customers.last_name as PII`);
    });
});

describe("the configuration of domain stacks", () => {
    const fromStack = (name: string, stack: string): StackDomain => ({ ...domainOfProduct(stack, product({ name })), readerPassword: "p" });
    const withoutCustomers = DOMAINS.filter(d => d.name !== "customers");

    it("refuses a domain both declared in a file and read from a stack, naming both", () => {
        const message = refusal(() => loadConfig({}, { ...context, stackDomains: [fromStack("customers", "organization/datamesh/customers-team")] }));
        expect(message).toContain("datamesh:domainStacks: stack organization/datamesh/customers-team: name: duplicate domain name 'customers'");
        expect(message).toContain(`(already declared in ${customers.file})`);
    });

    it("refuses a domain read from two stacks, naming both", () => {
        const message = refusal(() =>
            loadConfig({}, { ...context, domains: withoutCustomers, stackDomains: [fromStack("customers", "organization/datamesh/a"), fromStack("customers", "organization/datamesh/b")] }),
        );
        expect(message).toContain("stack organization/datamesh/b: name: duplicate domain name 'customers' (already declared in stack organization/datamesh/a)");
    });

    it("takes a stack's domain beside the declared ones, its reader's password among the external ones", () => {
        const config = loadConfig({}, { ...context, domains: withoutCustomers, stackDomains: [fromStack("customers", "organization/datamesh/customers-team")] });
        expect(config.domains.map(d => `${d.name} ${d.source}`)).toEqual(["orders declaration", "payments declaration", "customers stack:organization/datamesh/customers-team"]);
        expect(config.externalPasswords).toEqual({ customers: "p" });
        // Its rows are the team's: the mesh fingerprints and loads only the domains it runs.
        expect(Object.keys(config.domainFingerprints)).toEqual(["orders", "payments"]);
    });

    it("refuses role=domain without a domain, or with one that has no declaration, naming the key", () => {
        expect(refusal(() => loadConfig({ role: "domain" }, context))).toContain("datamesh:domain: not set; a domain stack (datamesh:role=domain) deploys the declaration it names, one of customers, orders, payments");
        expect(refusal(() => loadConfig({ role: "domain", domain: "shipping" }, context))).toContain("datamesh:domain: no declaration of 'shipping' under domains/; declared domains: customers, orders, payments");
        expect(refusal(() => loadConfig({ role: "elsewhere" }, context))).toContain("datamesh:role: must be mesh");
        expect(refusal(() => loadConfig({ domain: "customers" }, context))).toContain("datamesh:domain: only a domain stack (datamesh:role=domain) deploys a single domain");
    });

    it("refuses a domain stack on kubernetes that does not name the mesh's namespace, or names its own, naming the key", () => {
        const onKubernetes = { role: "domain", domain: "customers", platform: "kubernetes" };
        expect(refusal(() => loadConfig(onKubernetes, context))).toContain(
            "datamesh:meshNamespace: not set; a domain stack on kubernetes lets only the mesh's Trino reach its database, and needs the namespace the mesh runs in",
        );
        expect(refusal(() => loadConfig({ ...onKubernetes, meshNamespace: "datamesh-mesh" }, context))).toContain("datamesh:meshNamespace: 'datamesh-mesh' is this domain stack's own namespace");
        expect(refusal(() => loadConfig({ ...onKubernetes, namespace: "customers", meshNamespace: "customers" }, context))).toContain("datamesh:meshNamespace: 'customers' is this domain stack's own namespace");
        expect(refusal(() => loadConfig({ ...onKubernetes, meshNamespace: "Mesh_NS" }, context))).toContain("datamesh:meshNamespace: must be a DNS label");
        expect(loadConfig({ ...onKubernetes, namespace: "customers", meshNamespace: "analytics" }, context)).toMatchObject({ namespace: "customers", meshNamespace: "analytics" });
    });

    it("refuses meshNamespace anywhere but a domain stack on kubernetes, naming the key", () => {
        expect(refusal(() => loadConfig({ platform: "kubernetes", meshNamespace: "analytics" }, context))).toContain("datamesh:meshNamespace: only a domain stack (datamesh:role=domain) names the mesh's namespace");
        expect(refusal(() => loadConfig({ role: "domain", domain: "customers", meshNamespace: "analytics" }, context))).toContain("datamesh:platform: renderYamlTo, namespace, meshNamespace,");
        expect(refusal(() => loadConfig({ role: "domain", domain: "customers", platform: "docker", meshNamespace: "analytics" }, context))).toContain("datamesh:platform: renderYamlTo, namespace, meshNamespace,");
    });

    it("takes a domain stack on docker", () => {
        expect(loadConfig({ role: "domain", domain: "customers", platform: "docker" }, context)).toMatchObject({ role: "domain", platform: "docker", domains: [{ name: "customers" }] });
    });

    describe("a domain stack's platform against the mesh's", () => {
        const onDocker = { network: "datamesh-customers-team", published: { host: "127.0.0.1", port: 26430 } };
        const meshOf = (raw: Record<string, string>, stackDomain: StackDomain) => loadConfig(raw, { ...context, domains: withoutCustomers, stackDomains: [stackDomain] });
        const platformOf = (raw: Record<string, string>, stackDomain: StackDomain) => createPlatform({ config: meshOf(raw, stackDomain), projectDir: path.join(__dirname, "..", ".."), trinoVersion: "476" });
        const dockerStack = () => ({ ...domainOfProduct("organization/datamesh/customers-team", product({ endpoint: { host: "datamesh-customers-team-customers-server", port: 5432 }, ...onDocker })), readerPassword: "p" });

        it("refuses a mesh on docker that names a domain stack of another platform, naming the key and the stack", () => {
            expect(refusal(() => platformOf({ platform: "docker" }, fromStack("customers", "organization/datamesh/customers-team")))).toBe(
                "invalid configuration:\ndatamesh:domainStacks: domain stack 'organization/datamesh/customers-team' is not on docker (its dataProduct names no Docker network), and a mesh on docker reaches a domain stack's server only on the network of its own that a docker domain stack publishes",
            );
        });

        it("refuses a mesh on local or kubernetes that names a domain stack on docker, naming the key, the stack and its network", () => {
            for (const platform of ["local", "kubernetes"]) {
                expect(refusal(() => platformOf({ platform, renderYamlTo: platform === "kubernetes" ? "/tmp/unused" : undefined } as Record<string, string>, dockerStack()))).toBe(
                    `invalid configuration:\ndatamesh:domainStacks: domain stack 'organization/datamesh/customers-team' runs its server on docker, on the network datamesh-customers-team, which only a mesh on docker can join; this mesh is on ${platform}`,
                );
            }
        });

        it("refuses a product with a network but no published port, or the other way round, naming the stack and the field", () => {
            const stack = "organization/datamesh/customers-team";
            expect(refusal(() => domainOfProduct(stack, product({ network: "datamesh-customers-team" })))).toBe(
                `domain stack '${stack}': dataProduct is not a data product: dataProduct.published: network and published go together: a server on a network of its own is reached by Trino on that network and by the deploying machine at its published port`,
            );
            expect(refusal(() => domainOfProduct(stack, product({ published: onDocker.published })))).toContain("dataProduct.published: network and published go together");
            expect(refusal(() => domainOfProduct(stack, product({ ...onDocker, network: "--net=host" })))).toContain("dataProduct.network: must be a Docker network's name");
        });
    });

    it("gives a domain stack its one domain, on the first database port", () => {
        const config = loadConfig({ role: "domain", domain: "payments", basePort: "26000" }, context);
        expect(config.role).toBe("domain");
        expect(config.domains.map(d => d.name)).toEqual(["payments"]);
        expect(config.domainPorts).toEqual({ payments: 26000 });
    });

    it("reads domainStacks as a JSON list or names separated by commas, and refuses anything else naming the key", () => {
        expect(domainStackNames({})).toEqual([]);
        expect(domainStackNames({ domainStacks: '["organization/datamesh/a", "acme/mesh/b"]' })).toEqual(["organization/datamesh/a", "acme/mesh/b"]);
        expect(domainStackNames({ domainStacks: "organization/datamesh/a, acme/mesh/b" })).toEqual(["organization/datamesh/a", "acme/mesh/b"]);
        expect(refusal(() => domainStackNames({ domainStacks: "customers" }))).toContain('datamesh:domainStacks: "customers" (item 0) is not a fully qualified stack name');
        expect(refusal(() => domainStackNames({ domainStacks: "a/b/c,a/b/c" }))).toContain("datamesh:domainStacks: 'a/b/c' is listed twice");
        expect(refusal(() => domainStackNames({ domainStacks: "[" }))).toContain("datamesh:domainStacks: is neither a JSON list");
        expect(refusal(() => domainStackNames({ domainStacks: "a/b/c", role: "domain" }))).toContain("datamesh:domainStacks: a domain stack (datamesh:role=domain) federates no other stack");
    });
});
