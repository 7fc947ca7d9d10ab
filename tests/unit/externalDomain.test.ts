import { dependsOn, recordDependencies } from "./dependencies";
import { attachUrns, installMocks, isSecret, RecordedResource, valueOf } from "./mocks";
import type { DomainSpec } from "../../lib/domains";

// Pulumi serializes dynamic providers through the V8 inspector, which Jest's module sandbox breaks;
// the real serialization is exercised by the integration tests' `pulumi up`.
jest.mock("@pulumi/pulumi/runtime/closure/serializeClosure", () => ({ serializeFunction: async () => ({ text: "exports.handler = undefined;", exportName: "handler" }) }));

const LOYALTY: DomainSpec = {
    name: "loyalty",
    description: "Loyalty points, in the CRM team's own PostgreSQL.",
    owner: "loyalty_owner",
    engine: "postgresql",
    trinoSchema: "public",
    readers: [],
    file: "domains/loyalty.yaml",
    source: "external",
    tables: [{ name: "points", file: "points.csv", primaryKey: "customer_id", piiColumns: [], columns: [{ name: "customer_id", type: "integer" }, { name: "points", type: "integer" }] }],
    external: { host: "crm-db.internal", port: 5433, database: "loyalty", user: "trino_reader", admin: { user: "postgres", passwordKey: "loyaltyAdminPassword" } },
};

const CRM_TLS = { mode: "verify-full" as const, caPem: "-----BEGIN CERTIFICATE-----\nMIIBcrm\n-----END CERTIFICATE-----\n", caFile: "/repo/domains/certs/crm-ca.pem" };

let resources: RecordedResource[];
let dependencies: Map<string, string[]>;
let given: import("../../components/ExternalDomain").ExternalDomain;
let created: import("../../components/ExternalDomain").ExternalDomain;
let rendered: import("../../components/ExternalDomain").ExternalDomain;
let inCluster: import("../../components/ExternalDomain").ExternalDomain;

/** A platform whose deploying process connects to the database at the address Trino uses. */
const DIRECT = { live: true, tunnelTo: () => undefined };
/** A cluster's: a Service of the cluster is reached through a port-forward to it, anything else directly. */
const CLUSTER_TUNNEL = { kubeconfig: "/kube/config", context: "unit" };
const IN_CLUSTER = {
    live: true,
    tunnelTo: ({ host, port }: { host: string; port: number }) => (host.endsWith(".svc.cluster.local") ? { ...CLUSTER_TUNNEL, namespace: host.split(".")[1], service: host.split(".")[0], port } : undefined),
};

const named = (name: string) => {
    const found = resources.find(r => r.name === name);
    if (!found) {
        throw new Error(`no resource named ${name}; have ${resources.map(r => r.name).join(", ")}`);
    }
    return found;
};

beforeAll(async () => {
    resources = await installMocks();
    dependencies = recordDependencies();
    const { ExternalDomain } = await import("../../components/ExternalDomain");
    given = new ExternalDomain("crm", { domain: { ...LOYALTY, name: "crm", external: { ...LOYALTY.external!, admin: undefined, passwordKey: "crmPassword", tls: CRM_TLS } }, password: "team-reader-password", platform: DIRECT });
    created = new ExternalDomain("loyalty", { domain: LOYALTY, adminPassword: "admin-password", platform: DIRECT });
    new ExternalDomain("vault", { domain: { ...LOYALTY, name: "vault", external: { ...LOYALTY.external!, tls: { mode: "require" } } }, adminPassword: "admin-password", platform: DIRECT });
    rendered = new ExternalDomain("rendered", { domain: { ...LOYALTY, name: "rendered" }, adminPassword: "admin-password", platform: { ...DIRECT, live: false } });
    inCluster = new ExternalDomain("crmk8s", {
        domain: { ...LOYALTY, name: "crmk8s", external: { ...LOYALTY.external!, host: "crm-db.crm-team.svc.cluster.local", port: 5432 } },
        adminPassword: "admin-password",
        platform: IN_CLUSTER,
    });
    await valueOf(created.trinoCatalog);
    await valueOf(given.trinoCatalog);
    await valueOf(rendered.trinoCatalog);
    await valueOf(inCluster.trinoCatalog);
    attachUrns(resources);
});

describe("an external domain", () => {
    it("creates no server, database, table or data load: only a probe, and a reader when given an administrator", () => {
        const kinds = (component: string) => resources.filter(r => r.urn.includes(`datamesh:index:ExternalDomain$`) && r.name.startsWith(`${component}-`)).map(r => `${r.type.split(":").pop()} ${r.name}`);
        expect(kinds("crm").sort()).toEqual(["ExternalDatabaseProbe crm-probe"]);
        expect(kinds("loyalty").sort()).toEqual(["ExternalDatabaseProbe loyalty-probe", "ExternalReader loyalty-reader", "GeneratedPassword loyalty-reader-password"]);
    });

    it("probes the database as the reader the stack made, after making it, and gives Trino a catalog only then", async () => {
        expect(dependsOn(dependencies, named("loyalty-probe").urn, named("loyalty-reader").urn)).toBe(true);
        expect(named("loyalty-reader").inputs).toMatchObject({ host: "crm-db.internal", port: 5433, database: "loyalty", schema: "public", tables: ["points"] });
        expect(named("loyalty-probe").inputs.reader.value).toEqual({ user: "trino_reader", password: "generated-loyalty-reader-password" });
        expect(await valueOf(created.trinoCatalog)).toEqual({
            kind: "postgresql",
            name: "loyalty",
            host: "crm-db.internal",
            port: 5433,
            database: "loyalty",
            user: "trino_reader",
            passwordEnv: "LOYALTY_DB_PASSWORD",
        });
        expect(await valueOf(created.rowCounts)).toEqual({ points: 7 });
    });

    it("reaches a database declared with TLS over TLS: the probe with the declared CA, Trino's catalog with the CA but not the file's path", async () => {
        expect(named("crm-probe").inputs.tls).toEqual(CRM_TLS);
        expect(await valueOf(given.trinoCatalog)).toEqual({
            kind: "postgresql",
            name: "crm",
            host: "crm-db.internal",
            port: 5433,
            database: "loyalty",
            user: "trino_reader",
            passwordEnv: "CRM_DB_PASSWORD",
            tls: { mode: "verify-full", caPem: CRM_TLS.caPem },
        });
        // Declared without TLS, in clear, and said so to the probe's diff (see ExternalDomain).
        expect(named("loyalty-probe").inputs.tls).toBeNull();
        expect(named("loyalty-reader").inputs.tls).toBeUndefined();
        // The administrator's connection, which makes the reader and sends both passwords, is encrypted too.
        expect(named("vault-reader").inputs.tls).toEqual({ mode: "require" });
        expect(named("vault-probe").inputs.tls).toEqual({ mode: "require" });
    });

    it("keeps both passwords secret, and hands Trino the reader's through its environment", async () => {
        expect(await isSecret(created.password)).toBe(true);
        expect(await isSecret(given.password)).toBe(true);
        expect(await isSecret(created.trinoEnv)).toBe(true);
        expect(await valueOf(given.trinoEnv)).toEqual({ CRM_DB_PASSWORD: "team-reader-password" });
        expect(named("loyalty-reader").inputs.admin.value).toEqual({ user: "postgres", password: "admin-password" });
    });

    it("neither probes the database nor makes its reader when the platform only writes manifests", async () => {
        const kinds = resources.filter(r => r.urn.includes(`datamesh:index:ExternalDomain$`) && r.name.startsWith("rendered-")).map(r => `${r.type.split(":").pop()} ${r.name}`);
        expect(kinds).toEqual(["GeneratedPassword rendered-reader-password"]);
        expect(await valueOf(rendered.trinoCatalog)).toMatchObject({ name: "rendered", host: "crm-db.internal", port: 5433 });
        expect(await valueOf(rendered.rowCounts)).toEqual({});
    });

    it("reaches a database that is a Service of the cluster through a port-forward to it, and gives Trino the Service's own name", async () => {
        const tunnel = { ...CLUSTER_TUNNEL, namespace: "crm-team", service: "crm-db", port: 5432 };
        expect(named("crmk8s-reader").inputs.tunnel).toEqual(tunnel);
        expect(named("crmk8s-probe").inputs.tunnel).toEqual(tunnel);
        expect(await valueOf(inCluster.trinoCatalog)).toMatchObject({ host: "crm-db.crm-team.svc.cluster.local", port: 5432 });
        expect(named("loyalty-probe").inputs.tunnel).toBeUndefined();
        expect(named("loyalty-reader").inputs.tunnel).toBeUndefined();
    });
});
