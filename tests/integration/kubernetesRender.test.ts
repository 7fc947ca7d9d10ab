import * as fs from "fs";
import * as path from "path";
import { parseAllDocuments } from "yaml";
import { createMesh, kubernetesProviderDir, MeshUnderTest } from "./harness";

/*
 * A real `pulumi up` of the kubernetes platform with the real Kubernetes provider plugin, writing
 * manifests instead of applying them (no cluster runs here). The manifests are then read back
 * and checked as a cluster's API server and kubelet would need them.
 */

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [key: string]: any };

const KNOWN_KINDS = new Set([
    "v1/Namespace",
    "v1/ConfigMap",
    "v1/Secret",
    "v1/Service",
    "v1/ServiceAccount",
    "v1/PersistentVolumeClaim",
    "apps/v1/StatefulSet",
    "apps/v1/Deployment",
    "batch/v1/Job",
    "policy/v1/PodDisruptionBudget",
    "networking.k8s.io/v1/NetworkPolicy",
]);
const DNS_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

let mesh: MeshUnderTest;
let renderDir: string;
let manifests: Manifest[];

function readManifests(dir: string): Manifest[] {
    const files = fs.readdirSync(dir, { recursive: true }).map(String).filter(f => f.endsWith(".yaml"));
    return files.flatMap(file =>
        parseAllDocuments(fs.readFileSync(path.join(dir, file), "utf8")).map(doc => {
            if (doc.errors.length > 0) {
                throw new Error(`${file}: ${doc.errors[0].message}`);
            }
            return doc.toJS() as Manifest;
        }),
    );
}

const ofKind = (kind: string) => manifests.filter(m => m.kind === kind);
const byName = (kind: string, name: string) => {
    const found = ofKind(kind).find(m => m.metadata.name === name);
    if (!found) {
        throw new Error(`no ${kind} ${name} rendered; have ${ofKind(kind).map(m => m.metadata.name).join(", ")}`);
    }
    return found;
};
const workloads = () => manifests.filter(m => ["Deployment", "StatefulSet", "Job"].includes(m.kind));
const podSpecOf = (m: Manifest) => m.spec.template.spec;
const decoded = (secret: Manifest): Record<string, string> => ({
    ...Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(String(v), "base64").toString("utf8")])),
    ...(secret.stringData ?? {}),
});

beforeAll(async () => {
    kubernetesProviderDir();
    mesh = await createMesh("k8s", { platform: "kubernetes", workers: "2", namespace: "mesh-render" });
    renderDir = path.join(path.dirname(mesh.stateDir), "manifests");
    await mesh.stack.setConfig("datamesh:renderYamlTo", { value: renderDir });
    await mesh.stack.up();
    manifests = readManifests(renderDir);
}, 600_000);

afterAll(async () => {
    await mesh?.remove();
}, 600_000);

describe("the rendered kubernetes manifests", () => {
    it("are all of known kinds, validly named, in the mesh's namespace", () => {
        expect(manifests.length).toBeGreaterThan(40);
        for (const m of manifests) {
            expect({ kind: `${m.apiVersion}/${m.kind}`, known: KNOWN_KINDS.has(`${m.apiVersion}/${m.kind}`) }).toEqual({ kind: `${m.apiVersion}/${m.kind}`, known: true });
            expect(m.metadata.name).toMatch(DNS_NAME);
            expect(m.metadata.name.length).toBeLessThanOrEqual(63);
            if (m.kind !== "Namespace") {
                expect(m.metadata.namespace).toBe("mesh-render");
            }
        }
        expect(byName("Namespace", "mesh-render")).toBeDefined();
    });

    it("conform to the Kubernetes API's schemas: types, required fields, enumerations", () => {
        const models = require("kubernetes-models");
        const problems: string[] = [];
        for (const m of manifests) {
            const [group, version] = m.apiVersion.includes("/") ? m.apiVersion.split("/") : ["", m.apiVersion];
            // The package names an API group in camelCase: networking.k8s.io is networkingK8sIo.
            const Model = (group === "" ? models.v1 : models[group.replace(/\.([a-z])/g, (_: string, c: string) => c.toUpperCase())][version])[m.kind];
            try {
                new Model(m).validate();
            } catch (e) {
                problems.push(`${m.kind} ${m.metadata.name}: ${(e as Error).message}`);
            }
        }
        expect(problems).toEqual([]);
    });

    it("select their own pods: every selector matches its template's labels, every Service some pods", () => {
        const templates = manifests.filter(m => m.kind === "Deployment" || m.kind === "StatefulSet");
        expect(templates.length).toBe(7);
        for (const m of templates) {
            expect(m.spec.template.metadata.labels).toMatchObject(m.spec.selector.matchLabels);
        }
        for (const service of ofKind("Service")) {
            const targets = templates.filter(t => Object.entries(service.spec.selector).every(([k, v]) => t.spec.template.metadata.labels[k] === v));
            expect({ service: service.metadata.name, targets: targets.length }).toEqual({ service: service.metadata.name, targets: 1 });
            const ports = targets[0].spec.template.spec.containers.flatMap((c: any) => c.ports.map((p: any) => p.containerPort));
            for (const port of service.spec.ports) {
                expect(ports).toContain(port.targetPort);
            }
        }
    });

    it("mount only ConfigMaps and Secrets that exist, with the keys they name", () => {
        const configMaps = new Map(ofKind("ConfigMap").map(c => [c.metadata.name, c.data ?? {}]));
        const secrets = new Map(ofKind("Secret").map(s => [s.metadata.name, decoded(s)]));
        let references = 0;
        for (const m of workloads()) {
            const spec = podSpecOf(m);
            for (const volume of spec.volumes ?? []) {
                if (volume.configMap) {
                    references++;
                    expect({ workload: m.metadata.name, configMap: volume.configMap.name, exists: configMaps.has(volume.configMap.name) }).toMatchObject({ exists: true });
                    for (const item of volume.configMap.items ?? []) {
                        expect(Object.keys(configMaps.get(volume.configMap.name)!)).toContain(item.key);
                    }
                }
                if (volume.secret) {
                    references++;
                    expect({ workload: m.metadata.name, secret: volume.secret.secretName, exists: secrets.has(volume.secret.secretName) }).toMatchObject({ exists: true });
                }
            }
            for (const container of spec.containers) {
                for (const source of container.envFrom ?? []) {
                    references++;
                    expect({ workload: m.metadata.name, secret: source.secretRef.name, exists: secrets.has(source.secretRef.name) }).toMatchObject({ exists: true });
                }
                for (const variable of container.env ?? []) {
                    const ref = variable.valueFrom?.secretKeyRef;
                    if (ref) {
                        references++;
                        expect(Object.keys(secrets.get(ref.name) ?? {})).toContain(ref.key);
                    }
                }
            }
        }
        expect(references).toBeGreaterThan(12);
    });

    it("meet the restricted Pod Security Standard in every pod, in a namespace that enforces it", () => {
        expect(byName("Namespace", "mesh-render").metadata.labels).toMatchObject({ "pod-security.kubernetes.io/enforce": "restricted" });
        expect(workloads().length).toBeGreaterThan(8);
        for (const w of workloads()) {
            const pod = podSpecOf(w);
            const where = `${w.kind} ${w.metadata.name}`;
            // The standard's checks, as the API server's PodSecurity admission makes them (restricted includes baseline).
            expect({ where, hostNetwork: pod.hostNetwork ?? false, hostPID: pod.hostPID ?? false, hostIPC: pod.hostIPC ?? false }).toEqual({ where, hostNetwork: false, hostPID: false, hostIPC: false });
            expect({ where, volumes: (pod.volumes ?? []).filter((v: any) => !("configMap" in v || "secret" in v || "emptyDir" in v || "persistentVolumeClaim" in v)) }).toEqual({ where, volumes: [] });
            expect({ where, pod: pod.securityContext }).toMatchObject({ where, pod: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } } });
            expect({ where, uid: pod.securityContext.runAsUser > 0 }).toEqual({ where, uid: true });
            for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
                const container = `${where} container ${c.name}`;
                expect({ container, security: c.securityContext }).toEqual({
                    container,
                    security: { runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
                });
                expect({ container, ports: (c.ports ?? []).filter((p: any) => p.hostPort) }).toEqual({ container, ports: [] });
            }
        }
    });

    it("give every workload a ServiceAccount of its own, whose token no pod mounts", () => {
        const accounts = ofKind("ServiceAccount");
        const used = workloads().map(w => podSpecOf(w).serviceAccountName);
        expect(used.every(name => typeof name === "string" && name !== "default")).toBe(true);
        for (const w of workloads()) {
            const account = byName("ServiceAccount", podSpecOf(w).serviceAccountName);
            expect({ workload: w.metadata.name, automount: account.automountServiceAccountToken, podAutomount: podSpecOf(w).automountServiceAccountToken }).toEqual({
                workload: w.metadata.name,
                automount: false,
                podAutomount: false,
            });
        }
        // One per workload, none shared, none left over.
        expect(new Set(used).size).toBe(used.length);
        expect(accounts.map(a => a.metadata.name).sort()).toEqual([...new Set(used)].sort());
    });

    it("deny every flow in the namespace but DNS, and give every workload a NetworkPolicy of its own that opens exactly its flows", () => {
        const policies = ofKind("NetworkPolicy");
        const deny = byName("NetworkPolicy", "default-deny");
        expect(deny.spec).toEqual({ podSelector: {}, policyTypes: ["Ingress", "Egress"], egress: [{ ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }] }] });
        const selects = (policy: Manifest, labels: Record<string, string>) => Object.entries(policy.spec.podSelector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
        for (const w of workloads()) {
            const labels = w.spec.template.metadata.labels;
            const own = policies.filter(p => p !== deny && selects(p, labels));
            expect({ workload: w.metadata.name, policies: own.map(p => p.metadata.name) }).toEqual({ workload: w.metadata.name, policies: [w.kind === "Job" ? w.metadata.name.replace(/-[0-9a-f]{10}$/, "") : w.metadata.name] });
        }
        const roleOf = (peer: any) => peer.podSelector?.matchLabels?.["app.kubernetes.io/component"];
        const ingress = (name: string) => byName("NetworkPolicy", name).spec.ingress.map((r: any) => ({ from: r.from?.map(roleOf) ?? "anyone", ports: r.ports.map((p: any) => p.port) }));
        // The servers answer Trino's nodes only, on their own port, and connect nowhere.
        for (const [server, port] of [["customers-server", 5432], ["orders-server", 3306], ["insights-metastore", 5432], ["insights-warehouse", 8333]] as const) {
            expect({ server, ingress: ingress(server), egress: byName("NetworkPolicy", server).spec.egress ?? [] }).toEqual({ server, ingress: [{ from: ["coordinator", "worker"], ports: [port] }], egress: [] });
        }
        expect(ingress("trino-coordinator")).toEqual([
            { from: ["coordinator", "worker"], ports: [8080] },
            { from: ["dbt", "check", "docs-generation"], ports: [8443] },
            { from: "anyone", ports: [8443] },
        ]);
        expect(ingress("trino-worker")).toEqual([{ from: ["coordinator", "worker"], ports: [8080] }]);
        const egress = byName("NetworkPolicy", "trino-worker").spec.egress;
        expect(egress).toEqual(byName("NetworkPolicy", "trino-coordinator").spec.egress);
        expect(egress.map((r: any) => r.ports.map((p: any) => p.port))).toEqual([[8080], [3306, 5432, 8333]]);
        // Only the toolchain's install Job reaches a package index; the Jobs that run dbt reach the coordinator alone.
        const toCoordinator = [{ to: [{ podSelector: { matchLabels: { "app.kubernetes.io/instance": expect.any(String), "app.kubernetes.io/component": "coordinator" } } }], ports: [{ protocol: "TCP", port: 8443 }] }];
        for (const job of ["dbt-run", "check-reconciliation"]) {
            expect({ job, egress: byName("NetworkPolicy", job).spec.egress }).toEqual({ job, egress: toCoordinator });
        }
        expect(byName("NetworkPolicy", "dbt-run-toolchain-install").spec.egress).toEqual([{ to: [{ ipBlock: { cidr: "0.0.0.0/0" } }], ports: [{ protocol: "TCP", port: 443 }] }]);
    });

    it("drain Trino workers gracefully, and budget the disruptions of the coordinator and the workers", () => {
        const worker = byName("Deployment", "trino-worker");
        const [container] = podSpecOf(worker).containers;
        const config = byName("ConfigMap", "trino-worker").data["config.properties"] as string;
        const grace = Number(/^shutdown\.grace-period=(\d+)s$/m.exec(config)?.[1]);
        expect(grace).toBe(30);
        expect(podSpecOf(worker).terminationGracePeriodSeconds).toBeGreaterThan(2 * grace);
        expect(container.lifecycle.preStop.exec.command.join(" ")).toMatch(/PUT .*"SHUTTING_DOWN".* http:\/\/127\.0\.0\.1:8080\/v1\/info\/state && while kill -0 1/);
        // It stops waiting once no coordinator answers: the queries its tasks served have failed with it.
        expect(container.lifecycle.preStop.exec.command.join(" ")).toMatch(/if curl [^;]* http:\/\/trino\.[a-z0-9-]+\.svc\.cluster\.local:8080\/v1\/info; then missed=0; else .*\|\| exit 0; fi; done$/);
        for (const role of ["coordinator", "worker"]) {
            const [c] = podSpecOf(byName("Deployment", `trino-${role}`)).containers;
            expect({ role, startup: c.startupProbe.exec.command, liveDelay: c.livenessProbe.initialDelaySeconds }).toEqual({ role, startup: ["/usr/lib/trino/bin/health-check"], liveDelay: undefined });
            const budget = byName("PodDisruptionBudget", `trino-${role}`);
            expect(budget.spec.selector.matchLabels).toEqual(byName("Deployment", `trino-${role}`).spec.selector.matchLabels);
        }
        expect(byName("PodDisruptionBudget", "trino-coordinator").spec).toMatchObject({ minAvailable: 1 });
        expect(byName("PodDisruptionBudget", "trino-worker").spec).toMatchObject({ maxUnavailable: 1 });
    });

    it("let only the store's S3 API listen on the pod's address", () => {
        const [weed] = podSpecOf(byName("StatefulSet", "insights-warehouse")).containers;
        expect(weed.args).toEqual(expect.arrayContaining(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3.ip.bind=0.0.0.0", "-s3.port.iceberg=0", "-s3.port.lance=0"]));
        expect(weed.args).not.toContain("-ip.bind=0.0.0.0");
    });

    it("set resource requests and limits on every container", () => {
        for (const m of workloads()) {
            for (const container of podSpecOf(m).containers) {
                expect({ workload: m.metadata.name, cpu: container.resources?.limits?.cpu, memory: container.resources?.requests?.memory }).toEqual({
                    workload: m.metadata.name,
                    cpu: expect.any(String),
                    memory: expect.stringMatching(/^\d+(Mi|Gi)$/),
                });
            }
        }
    });

    it("run pinned images only", () => {
        const images = workloads().flatMap(m => podSpecOf(m).containers.map((c: any) => c.image as string));
        const { DEFAULT_IMAGES } = require("../../config");
        expect(new Set(images)).toEqual(new Set(Object.values(DEFAULT_IMAGES)));
    });

    it("hold every credential in a Secret and none in a ConfigMap, an environment literal or a command", () => {
        const credentials = ofKind("Secret").flatMap(s => Object.values(decoded(s))).filter(v => /^[A-Za-z0-9]{20,}$/.test(v));
        expect(credentials.length).toBeGreaterThan(10);
        const exposed = [
            ...ofKind("ConfigMap").map(c => ({ where: `ConfigMap ${c.metadata.name}`, text: JSON.stringify(c.data) })),
            ...workloads().flatMap(m =>
                podSpecOf(m).containers.map((c: any) => ({
                    where: `${m.kind} ${m.metadata.name}`,
                    text: JSON.stringify([(c.env ?? []).map((e: any) => e.value ?? ""), c.command ?? [], c.args ?? []]),
                })),
            ),
        ];
        for (const credential of credentials) {
            expect(exposed.filter(e => e.text.includes(credential)).map(e => e.where)).toEqual([]);
        }
    });

    it("lay Trino out as the Helm chart does: coordinator, worker and catalog ConfigMaps, workers scaled", () => {
        const catalogs = byName("ConfigMap", "trino-catalog").data;
        expect(Object.keys(catalogs).sort()).toEqual(["customers.properties", "insights.properties", "orders.properties", "payments.properties"]);
        expect(Object.keys(byName("ConfigMap", "trino-coordinator").data).sort()).toEqual([
            "access-control.properties",
            "config.properties",
            "jvm.config",
            "log.properties",
            "node.properties",
            "password-authenticator.properties",
        ]);
        // The worker's rules let only the drain user manage it (see drainWorker).
        expect(Object.keys(byName("ConfigMap", "trino-worker").data).sort()).toEqual(["access-control.properties", "config.properties", "jvm.config", "log.properties", "node.properties", "worker-rules.json"]);
        expect(byName("Deployment", "trino-worker").spec.replicas).toBe(2);
        // The access rules hold the PII mask key: they travel in the Secret, beside the password file, where Trino is told to read them.
        const files = decoded(byName("Secret", "trino-files"));
        expect(Object.keys(files).sort()).toEqual(["keystore.p12", "password.db", "rules.json"]);
        expect(JSON.parse(files["rules.json"]).catalogs).toContainEqual({ allow: "read-only", catalog: "insights", user: "analyst" });
        expect(byName("ConfigMap", "trino-coordinator").data["access-control.properties"]).toContain("security.config-file=/etc/trino/secrets/rules.json\n");
    });

    it("roll the coordinator when its configuration changes, and only then", async () => {
        const before = byName("Deployment", "trino-coordinator").spec.template.metadata.annotations;
        const again = await mesh.stack.up();
        expect(again.summary.resourceChanges).not.toHaveProperty("update");
        expect(readManifests(renderDir).find(m => m.kind === "Deployment" && m.metadata.name === "trino-coordinator")!.spec.template.metadata.annotations).toEqual(before);
        await mesh.stack.setConfig("datamesh:trinoMaxHeap", { value: "3G" });
        await mesh.stack.up();
        manifests = readManifests(renderDir);
        const after = byName("Deployment", "trino-coordinator").spec.template.metadata.annotations;
        expect(after["checksum/config"]).not.toBe(before["checksum/config"]);
        expect(after["checksum/catalog"]).toBe(before["checksum/catalog"]);
        expect(byName("ConfigMap", "trino-coordinator").data["jvm.config"]).toContain("-Xmx3G\n");
    }, 600_000);

    it("re-run the dbt and check Jobs when a model changes, and nothing else", async () => {
        const jobs = () => ofKind("Job").map(job => job.metadata.name);
        const before = jobs();
        fs.appendFileSync(path.join(mesh.projectDir, "dbt", "models", "marts", "fct_orders.sql"), "\n-- an edit\n");
        await mesh.stack.up();
        manifests = readManifests(renderDir);
        const replaced = before.filter(name => !jobs().includes(name)).map(name => name.replace(/-[0-9a-f]{10}$/, ""));
        expect(replaced.sort()).toEqual(["check-reconciliation", "dbt-run"]);
        expect(jobs()).toHaveLength(before.length);
    }, 600_000);
});
