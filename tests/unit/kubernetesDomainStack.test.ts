import * as pulumi from "@pulumi/pulumi";
import { domainOfProduct } from "../../lib/dataProduct";
import { dependsOn, recordDependencies, recordProtection } from "./dependencies";
import { installFakeKubectl } from "./fakeKubectl";
import { attachUrns, installMocks, isSecret, RecordedResource, resourceNamed, valueOf } from "./mocks";

// Pulumi serializes dynamic providers through the V8 inspector, which Jest's module sandbox breaks;
// the real serialization is exercised by the integration tests' `pulumi up`.
jest.mock("@pulumi/pulumi/runtime/closure/serializeClosure", () => ({ serializeFunction: async () => ({ text: "exports.handler = undefined;", exportName: "handler" }) }));

/*
 * The customers team's domain stack on kubernetes: its server in a namespace of its own, which
 * only the mesh's Trino, in the mesh's namespace, may reach.
 */

const NAMESPACE = "customers-unit";
const MESH_NAMESPACE = "mesh-unit";
let resources: RecordedResource[];
let dependencies: Map<string, string[]>;
let protection: Map<string, boolean>;
let stack: Record<string, any>;
let cluster: { kubeconfig: string; context: string };

const ofKind = (kind: string) => resources.filter(r => r.type === `kubernetes:${kind}`);
const named = (kind: string, name: string) => {
    const found = ofKind(kind).find(r => r.name === name);
    if (!found) {
        throw new Error(`no ${kind} named ${name}; have ${ofKind(kind).map(r => r.name).join(", ")}`);
    }
    return found;
};

beforeAll(async () => {
    resources = await installMocks();
    dependencies = recordDependencies();
    protection = recordProtection();
    cluster = installFakeKubectl();
    pulumi.runtime.setAllConfig({
        "datamesh:platform": "kubernetes",
        "datamesh:role": "domain",
        "datamesh:domain": "customers",
        "datamesh:namespace": NAMESPACE,
        "datamesh:meshNamespace": MESH_NAMESPACE,
    });
    stack = await import("../../index");
    await valueOf(pulumi.output(stack.dataProduct));
    attachUrns(resources);
}, 60_000);

describe("a domain stack on kubernetes", () => {
    it("runs its domain's server alone, in a namespace of its own that enforces the restricted standard and denies all but DNS", () => {
        const namespace = named("core/v1:Namespace", "kubernetes-namespace").inputs.metadata;
        expect(namespace.name).toBe(NAMESPACE);
        expect(namespace.labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
        const namespaced = resources.filter(r => r.type.startsWith("kubernetes:") && r.type !== "kubernetes:core/v1:Namespace");
        for (const resource of namespaced) {
            expect({ name: resource.name, namespace: resource.inputs.metadata.namespace }).toEqual({ name: resource.name, namespace: NAMESPACE });
        }
        expect(ofKind("apps/v1:StatefulSet").map(r => r.name)).toEqual(["customers-server"]);
        expect(ofKind("apps/v1:Deployment")).toEqual([]);
        expect(ofKind("batch/v1:Job")).toEqual([]);
        expect(named("networking.k8s.io/v1:NetworkPolicy", "kubernetes-default-deny").inputs.spec).toEqual({
            podSelector: {},
            policyTypes: ["Ingress", "Egress"],
            egress: [{ ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }] }],
        });
    });

    it("gives the server what the mesh's managed domains get: a restricted pod as the image's user, a volume claim, a Service, protection", () => {
        const server = named("apps/v1:StatefulSet", "customers-server");
        const pod = server.inputs.spec.template.spec;
        expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 999, runAsGroup: 999, fsGroup: 999, seccompProfile: { type: "RuntimeDefault" } });
        expect(pod.automountServiceAccountToken).toBe(false);
        expect(pod.containers[0]).toMatchObject({
            image: "postgres:17.6",
            securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
        });
        expect(server.inputs.spec.volumeClaimTemplates[0].spec).toEqual({ accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } });
        expect(named("core/v1:Service", "customers-server").inputs.spec.ports).toEqual([{ name: "sql", port: 5432, targetPort: 5432 }]);
        expect(protection.get(server.urn)).toBe(true);
    });

    it("admits on its database port only Trino's coordinator and workers of the mesh's namespace, each peer both namespace and pods", () => {
        const policy = named("networking.k8s.io/v1:NetworkPolicy", "customers-server").inputs.spec;
        expect(policy.podSelector.matchLabels).toEqual(named("apps/v1:StatefulSet", "customers-server").inputs.spec.selector.matchLabels);
        const trino = (role: string) => ({
            namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": MESH_NAMESPACE } },
            podSelector: { matchLabels: { "app.kubernetes.io/part-of": "datamesh", "app.kubernetes.io/component": role } },
        });
        expect(policy.ingress).toEqual([{ from: [trino("coordinator"), trino("worker")], ports: [{ protocol: "TCP", port: 5432 }] }]);
        expect(policy.egress).toEqual([]);
    });

    it("sets the domain up and loads its rows from the deploying process, through a port-forward to the server's Service", () => {
        const tunnel = { ...cluster, namespace: NAMESPACE, service: "customers-server", port: 5432 };
        for (const step of ["customers-access", "customers-data"]) {
            expect({ step, tunnel: resourceNamed(resources, step).inputs.tunnel }).toEqual({ step, tunnel });
        }
        // The access step waits for the server's pod; the load follows it, as on every platform.
        expect(dependsOn(dependencies, resourceNamed(resources, "customers-access").urn, named("apps/v1:StatefulSet", "customers-server").urn)).toBe(true);
    });

    it("publishes the endpoint as the mesh's Trino reaches it, the Service's cluster DNS name, and the reader's password alone as a secret", async () => {
        const endpoint = await valueOf(pulumi.output(stack.dataProduct.endpoint));
        expect(endpoint).toEqual({ host: `customers-server.${NAMESPACE}.svc.cluster.local`, port: 5432 });
        expect(await isSecret(stack.dataProduct.reader.password)).toBe(true);
        const { domain } = domainOfProduct("organization/datamesh/customers", await valueOf(pulumi.output(stack.dataProduct)));
        expect(domain.external).toEqual({ host: `customers-server.${NAMESPACE}.svc.cluster.local`, port: 5432, database: "customers", user: "customers_trino" });
    });
});
