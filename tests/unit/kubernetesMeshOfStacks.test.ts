import * as pulumi from "@pulumi/pulumi";
import { contractVersion, publishedTables } from "../../lib/dataProduct";
import { domainByName } from "../../lib/domains";
import { installFakeKubectl } from "./fakeKubectl";
import { installMocks, RecordedResource, resourceNamed, valueOf } from "./mocks";

// Pulumi serializes dynamic providers through the V8 inspector, which Jest's module sandbox breaks;
// the real serialization is exercised by the integration tests' `pulumi up`.
jest.mock("@pulumi/pulumi/runtime/closure/serializeClosure", () => ({ serializeFunction: async () => ({ text: "exports.handler = undefined;", exportName: "handler" }) }));
// The customers team moved its declaration to its own repository: the mesh's domains/ no longer holds it.
jest.mock("../../lib/domains", () => {
    const actual = jest.requireActual("../../lib/domains");
    return { ...actual, DOMAINS: actual.DOMAINS.filter((d: { name: string }) => d.name !== "customers") };
});

/* The mesh on kubernetes federating the customers team's domain stack, whose server is in the team's own namespace. */

const NAMESPACE = "mesh-unit";
const DOMAIN_NAMESPACE = "customers-unit";
const CUSTOMERS_STACK = "organization/datamesh/customers-team";
const customers = domainByName("customers");
const TABLES = publishedTables(customers.tables);
const PRODUCT = {
    name: "customers",
    description: customers.description,
    engine: "postgresql",
    owner: "customers_owner",
    readers: [],
    endpoint: { host: `customers-server.${DOMAIN_NAMESPACE}.svc.cluster.local`, port: 5432 },
    database: "customers",
    schema: "public",
    tables: TABLES,
    reader: { user: "customers_trino", password: "reader-password-of-the-customers-team" },
    contractVersion: contractVersion(TABLES),
};

let resources: RecordedResource[];
let stack: Record<string, any>;
let cluster: { kubeconfig: string; context: string };

const policy = (name: string) => {
    const found = resources.find(r => r.type === "kubernetes:networking.k8s.io/v1:NetworkPolicy" && r.name === name);
    if (!found) {
        throw new Error(`no NetworkPolicy named ${name}`);
    }
    return found.inputs.spec;
};

beforeAll(async () => {
    resources = await installMocks({ [CUSTOMERS_STACK]: { dataProduct: PRODUCT } });
    cluster = installFakeKubectl();
    pulumi.runtime.setAllConfig({ "datamesh:platform": "kubernetes", "datamesh:namespace": NAMESPACE, "datamesh:workers": "1", "datamesh:domainStacks": JSON.stringify([CUSTOMERS_STACK]) });
    stack = await import("../../index");
    await valueOf(stack.check);
}, 60_000);

describe("a mesh on kubernetes that federates a domain stack in another namespace", () => {
    it("runs no server of the domain, and probes the product's endpoint from the deploying process through a port-forward to the domain's Service", () => {
        expect(resources.filter(r => r.type === "kubernetes:apps/v1:StatefulSet").map(r => r.name)).not.toContain("customers-server");
        const probe = resourceNamed(resources, "customers-probe");
        expect(probe.inputs).toMatchObject({ host: PRODUCT.endpoint.host, port: 5432 });
        expect(probe.inputs.tunnel).toEqual({ ...cluster, namespace: DOMAIN_NAMESPACE, service: "customers-server", port: 5432 });
    });

    it("points Trino's catalog at the Service's cluster DNS name", async () => {
        const catalogs = resources.find(r => r.type === "kubernetes:core/v1:ConfigMap" && r.name === "trino-catalog")!.inputs.data;
        expect(catalogs["customers.properties"]).toContain(`connection-url=jdbc:postgresql://customers-server.${DOMAIN_NAMESPACE}.svc.cluster.local:5432/customers\n`);
    });

    it("lets Trino's coordinator and workers connect to the domain's namespace on its database port, and to no other address on it", () => {
        const ownPods = { podSelector: { matchLabels: { "app.kubernetes.io/instance": "unit" } } };
        const trinoNode = (role: string) => ({ podSelector: { matchLabels: { "app.kubernetes.io/instance": "unit", "app.kubernetes.io/component": role } } });
        const domainNamespace = { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": DOMAIN_NAMESPACE } } };
        for (const role of ["coordinator", "worker"]) {
            const egress = policy(`trino-${role}`).egress;
            expect({ role, egress }).toEqual({
                role,
                egress: [
                    { to: [trinoNode("coordinator"), trinoNode("worker")], ports: [{ protocol: "TCP", port: 8080 }] },
                    { to: [ownPods], ports: [{ protocol: "TCP", port: 3306 }, { protocol: "TCP", port: 5432 }, { protocol: "TCP", port: 8333 }] },
                    { to: [domainNamespace], ports: [{ protocol: "TCP", port: 5432 }] },
                ],
            });
        }
    });
});
