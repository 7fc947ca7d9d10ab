import * as pulumi from "@pulumi/pulumi";
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { dependsOn, recordDependencies, recordProtection } from "./dependencies";
import { attachUrns, installMocks, RecordedResource, valueOf } from "./mocks";
import { selfSignedCertificate } from "../selfSigned";
import { installFakeKubectl } from "./fakeKubectl";
import { docsServerCommand } from "../../platforms/shared/docsServer";
import { makeTempDir } from "./tempDirs";

// Pulumi serializes dynamic providers through the V8 inspector, which Jest's module sandbox breaks;
// the real serialization is exercised by the integration tests' `pulumi up`.
jest.mock("@pulumi/pulumi/runtime/closure/serializeClosure", () => ({ serializeFunction: async () => ({ text: "exports.handler = undefined;", exportName: "handler" }) }));

const NAMESPACE = "mesh-unit";
/** How the engine marks a secret value in a resource's inputs. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
let resources: RecordedResource[];
let dependencies: Map<string, string[]>;
let protection: Map<string, boolean>;
let stack: Awaited<typeof import("../../index")>;
let cluster: { kubeconfig: string; context: string };

const ofKind = (kind: string) => resources.filter(r => r.type === `kubernetes:${kind}`);
const dynamic = (type: string, name: string) => {
    const found = resources.find(r => r.type === `pulumi-nodejs:dynamic:Resource` && r.name === name) ?? resources.find(r => r.type.endsWith(`:${type}`) && r.name === name);
    if (!found) {
        throw new Error(`no ${type} named ${name}`);
    }
    return found;
};
const named = (kind: string, name: string) => {
    const found = ofKind(kind).find(r => r.name === name);
    if (!found) {
        throw new Error(`no ${kind} named ${name}; have ${ofKind(kind).map(r => r.name).join(", ")}`);
    }
    return found;
};
const podSpec = (workload: RecordedResource) => {
    if (!workload.inputs.spec?.template?.spec) {
        throw new Error(`${workload.type} ${workload.name} has no plain spec (a secret input hides it): ${JSON.stringify(workload.inputs).slice(0, 200)}`);
    }
    return workload.inputs.spec.template.spec;
};
const containersOf = (workload: RecordedResource): any[] => podSpec(workload).containers;
const WORKLOADS = ["apps/v1:StatefulSet", "apps/v1:Deployment", "batch/v1:Job"];

beforeAll(async () => {
    resources = await installMocks();
    dependencies = recordDependencies();
    protection = recordProtection();
    cluster = installFakeKubectl();
    pulumi.runtime.setAllConfig({ "datamesh:platform": "kubernetes", "datamesh:namespace": NAMESPACE, "datamesh:workers": "2" });
    stack = await import("../../index");
    await valueOf(stack.check);
    await valueOf(stack.trinoUrl);
    await valueOf(stack.docsUrl);
    attachUrns(resources);
});

describe("the kubernetes platform's inventory", () => {
    it("puts everything in one namespace through one provider", () => {
        expect(resources.filter(r => r.type === "pulumi:providers:kubernetes")).toHaveLength(1);
        expect(named("core/v1:Namespace", "kubernetes-namespace").inputs.metadata.name).toBe(NAMESPACE);
        const namespaced = resources.filter(r => r.type.startsWith("kubernetes:") && r.type !== "kubernetes:core/v1:Namespace");
        expect(namespaced.length).toBeGreaterThan(25);
        for (const resource of namespaced) {
            expect({ name: resource.name, namespace: resource.inputs.metadata.namespace }).toEqual({ name: resource.name, namespace: NAMESPACE });
        }
    });

    it("gives each domain a StatefulSet with its volume claim and a Service, and loads it through a port-forward to that Service", () => {
        for (const [domain, image, port] of [["customers", "postgres:17.6", 5432], ["orders", "mariadb:11.8.3", 3306], ["payments", "postgres:17.6", 5432]] as const) {
            const server = named("apps/v1:StatefulSet", `${domain}-server`);
            expect(containersOf(server)[0].image).toBe(image);
            expect(server.inputs.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe("1Gi");
            expect(containersOf(server)[0].volumeMounts[0].name).toBe(server.inputs.spec.volumeClaimTemplates[0].metadata.name);
            const service = named("core/v1:Service", `${domain}-server`);
            expect(service.inputs.spec.ports[0].port).toBe(port);
            expect(service.inputs.spec.selector).toEqual(server.inputs.spec.selector.matchLabels);
            for (const step of [`${domain}-access`, `${domain}-data`]) {
                expect(dynamic(step.endsWith("data") ? "DomainDataLoad" : "DomainAccess", step).inputs.tunnel).toEqual({ ...cluster, namespace: NAMESPACE, service: `${domain}-server`, port });
            }
        }
        // Rows never travel in an API object, whatever the data set's size.
        expect(ofKind("core/v1:ConfigMap").filter(c => JSON.stringify(c.inputs.data).includes("INSERT INTO")).map(c => c.name)).toEqual([]);
        expect(ofKind("batch/v1:Job").map(j => j.name).sort()).toEqual(["check-reconciliation", "dbt-run", "dbt-run-toolchain-install", "docs-site-generate"]);
    });

    it("mounts exactly the generated catalogs into the coordinator and the workers", async () => {
        const catalogs = named("core/v1:ConfigMap", "trino-catalog").inputs.data;
        expect(Object.keys(catalogs).sort()).toEqual(["customers.properties", "insights.properties", "orders.properties", "payments.properties"]);
        expect(catalogs["orders.properties"]).toContain("connection-url=jdbc:mariadb://orders-server.mesh-unit.svc.cluster.local:3306\n");
        expect(catalogs["insights.properties"]).toContain("iceberg.jdbc-catalog.default-warehouse-dir=s3://insights-warehouse/\n");
        for (const role of ["coordinator", "worker"]) {
            const deployment = named("apps/v1:Deployment", `trino-${role}`);
            const volume = podSpec(deployment).volumes.find((v: any) => v.configMap?.name === "trino-catalog");
            const mount = containersOf(deployment)[0].volumeMounts.find((m: any) => m.name === volume.name);
            expect(mount.mountPath).toBe("/etc/trino/catalog");
            expect(containersOf(deployment)[0].image).toBe("trinodb/trino:476");
        }
        expect(named("apps/v1:Deployment", "trino-worker").inputs.spec.replicas).toBe(2);
        expect(named("core/v1:ConfigMap", "trino-coordinator").inputs.data["config.properties"]).toContain("node-scheduler.include-coordinator=false\n");
    });

    it("rolls the pods when their configuration changes: a checksum of each ConfigMap is a pod annotation", () => {
        const annotations = named("apps/v1:Deployment", "trino-coordinator").inputs.spec.template.metadata.annotations;
        expect(Object.keys(annotations).sort()).toEqual(["checksum/catalog", "checksum/config", "checksum/secrets"]);
        for (const value of Object.values(annotations)) {
            expect(value).toMatch(/^[0-9a-f]{64}$/);
        }
        const workerAnnotations = named("apps/v1:Deployment", "trino-worker").inputs.spec.template.metadata.annotations;
        expect(workerAnnotations["checksum/catalog"]).toBe(annotations["checksum/catalog"]);
        expect(workerAnnotations["checksum/config"]).not.toBe(annotations["checksum/config"]);
    });

    it("keeps the insights in SeaweedFS that every Trino node reaches, its bucket made and checked before Trino starts", () => {
        const store = named("apps/v1:StatefulSet", "insights-warehouse");
        expect(containersOf(store)[0].image).toMatch(/^chrislusf\/seaweedfs:/);
        expect(containersOf(store)[0].args).toEqual(expect.arrayContaining(["server", "-s3", "-s3.config=/etc/datamesh/s3/s3.json"]));
        const bucket = dynamic("WarehouseBucket", "insights-warehouse-bucket");
        expect(bucket.inputs.create).toBe(true);
        expect(bucket.inputs.tunnel).toEqual({ ...cluster, namespace: NAMESPACE, service: "insights-warehouse", port: 8333 });
        expect(dependsOn(dependencies, named("apps/v1:Deployment", "trino-coordinator").urn, bucket.urn)).toBe(true);
    });

    it("sets requests and limits on every container", () => {
        for (const workload of resources.filter(r => WORKLOADS.includes(r.type.replace("kubernetes:", "")))) {
            for (const container of containersOf(workload)) {
                expect({ workload: workload.name, requests: Object.keys(container.resources.requests), limits: Object.keys(container.resources.limits) }).toEqual({
                    workload: workload.name,
                    requests: ["cpu", "memory"],
                    limits: ["cpu", "memory"],
                });
            }
        }
    });

    it("drains a worker while its coordinator answers, and stops waiting once none has for five checks in a row", async () => {
        const [hook] = containersOf(named("apps/v1:Deployment", "trino-worker")).map(c => c.lifecycle.preStop.exec.command as string[]);
        expect(hook.slice(0, 2)).toEqual(["/bin/sh", "-c"]);
        // A stand-in curl: the worker takes the shutdown request; the coordinator answers while its file exists.
        const dir = makeTempDir("drain-hook");
        const answering = path.join(dir, "coordinator-answers");
        fs.writeFileSync(answering, "");
        fs.writeFileSync(
            path.join(dir, "curl"),
            `#!/bin/sh\ncase "$*" in *SHUTTING_DOWN*127.0.0.1*) exit 0 ;; *http://trino.${NAMESPACE}.svc.cluster.local:8080/v1/info*) [ -f ${answering} ] && exit 0; exit 7 ;; esac\nexit 2\n`,
            { mode: 0o755 },
        );
        const drain = spawn(hook[0], hook.slice(1), { env: { ...process.env, PATH: `${dir}:${process.env.PATH}` }, stdio: "ignore" });
        const exited = new Promise<number | null>(resolve => drain.on("exit", resolve));
        try {
            // Process 1 (here the machine's init, in a pod Trino) stays, and so does the hook while the coordinator answers.
            const early = await Promise.race([exited, new Promise(resolve => setTimeout(() => resolve("still draining"), 4_000))]);
            expect(early).toBe("still draining");
            fs.rmSync(answering);
            const gone = Date.now();
            expect(await exited).toBe(0);
            expect(Date.now() - gone).toBeLessThan(15_000);
        } finally {
            drain.kill("SIGKILL");
        }
    }, 30_000);
});

describe("the kubernetes platform's secrets", () => {
    /** Every generated password of the stack, as the mocks make them. */
    const secretValues = () => resources.filter(r => r.type.endsWith(":GeneratedPassword")).map(r => `generated-${r.name}`);
    /**
     * What the cluster needs: Trino users' passwords reach it only as bcrypt hashes, except those of
     * its own Jobs; the domain owners' passwords serve the deploying machine's loads, not the cluster.
     */
    const clusterCredentials = () =>
        secretValues().filter(
            v =>
                (!/^generated-trino-.*-password$/.test(v) || /-(dbt|check|keystore)-password$/.test(v)) &&
                !/^generated-\w+-owner-password$/.test(v) &&
                // The PII mask key reaches the cluster inside the access rules, and only when a domain hashes a column; jaffle_shop's deny.
                v !== "generated-trino-pii-mask-key",
        );

    it("keeps every credential in a Secret", () => {
        // A Secret's data is base64: read it as the pods do.
        const decoded = (s: RecordedResource) => Object.values<string>(s.inputs.data?.value ?? s.inputs.data ?? {}).map(v => Buffer.from(v, "base64").toString("utf8"));
        const inSecrets = JSON.stringify(ofKind("core/v1:Secret").map(s => [s.inputs, decoded(s)]));
        const values = clusterCredentials();
        expect(values.length).toBeGreaterThan(12);
        for (const value of values) {
            expect({ value, inSecret: inSecrets.includes(value) }).toEqual({ value, inSecret: true });
        }
    });

    it("puts no secret value in a ConfigMap, an environment literal, a command or an argument", () => {
        const exposed = [
            ...ofKind("core/v1:ConfigMap").map(c => ({ where: `ConfigMap ${c.name}`, text: JSON.stringify(c.inputs.data) })),
            ...resources
                .filter(r => WORKLOADS.includes(r.type.replace("kubernetes:", "")))
                .flatMap(w =>
                    containersOf(w).map(c => ({
                        where: `${w.type} ${w.name}`,
                        text: JSON.stringify({ env: (c.env ?? []).map((e: any) => e.value ?? null), command: c.command ?? [], args: c.args ?? [] }),
                    })),
                ),
        ];
        expect(exposed.length).toBeGreaterThan(12);
        for (const value of [...secretValues(), "a2V5c3RvcmU="]) {
            expect(exposed.filter(e => e.text.includes(value)).map(e => `${e.where} holds ${value}`)).toEqual([]);
        }
    });

    it("hands Trino its password file in a Secret, and leaves its ConfigMaps plain", () => {
        const files = named("core/v1:Secret", "trino-files").inputs.data;
        expect(files[SECRET_SIG]).toBeDefined();
        expect(Buffer.from(files.value["password.db"], "base64").toString("utf8")).toMatch(/^analyst:\$2y\$10\$/);
        const coordinatorConfig = named("core/v1:ConfigMap", "trino-coordinator").inputs.data;
        expect(coordinatorConfig[SECRET_SIG]).toBeUndefined();
        expect(Object.keys(coordinatorConfig)).not.toContain("password.db");
    });

    it("marks every Secret's values as secret in the state", () => {
        const secrets = ofKind("core/v1:Secret");
        expect(secrets.length).toBeGreaterThan(8);
        for (const secret of secrets) {
            const values = secret.inputs.stringData ?? secret.inputs.data;
            expect({ secret: secret.name, marked: Object.keys(values ?? {}).includes(SECRET_SIG) }).toEqual({ secret: secret.name, marked: true });
        }
    });
});

describe("the kubernetes platform's order", () => {
    const job = (name: string) => named("batch/v1:Job", name).urn;

    it("starts the databases, then loads them while Trino starts and is read back, then runs dbt, then the check, each Job's result read before the next", () => {
        const coordinator = named("apps/v1:Deployment", "trino-coordinator").urn;
        for (const domain of ["customers", "orders", "payments"]) {
            const load = dynamic("DomainDataLoad", `${domain}-data`).urn;
            expect(dependsOn(dependencies, load, named("apps/v1:StatefulSet", `${domain}-server`).urn)).toBe(true);
            expect(dependsOn(dependencies, coordinator, named("apps/v1:StatefulSet", `${domain}-server`).urn)).toBe(true);
            // Trino connects to a catalog when queried: it need not wait for the rows, only what reads them does.
            expect(dependsOn(dependencies, coordinator, load)).toBe(false);
            expect(dependsOn(dependencies, job("dbt-run"), load)).toBe(true);
        }
        expect(dependsOn(dependencies, coordinator, dynamic("IcebergMetastore", "insights-jdbc-catalog").urn)).toBe(true);
        const nodes = dynamic("TrinoNodes", "trino-nodes");
        expect(dependsOn(dependencies, nodes.urn, coordinator)).toBe(true);
        expect(dependsOn(dependencies, nodes.urn, named("apps/v1:Deployment", "trino-worker").urn)).toBe(true);
        expect(dependsOn(dependencies, job("dbt-run"), nodes.urn)).toBe(true);
        const dbtOutcome = dynamic("KubernetesJobOutcome", "dbt-run-outcome");
        expect(dependsOn(dependencies, dbtOutcome.urn, job("dbt-run"))).toBe(true);
        expect(dependsOn(dependencies, job("check-reconciliation"), dbtOutcome.urn)).toBe(true);
        expect(dependsOn(dependencies, coordinator, job("dbt-run"))).toBe(false);
    });

    it("on destroy, deletes the namespace only once the stack's pods are gone, after every workload", () => {
        const teardown = dynamic("NamespaceTeardown", "kubernetes-namespace-teardown");
        expect(dependsOn(dependencies, teardown.urn, named("core/v1:Namespace", "kubernetes-namespace").urn)).toBe(true);
        const workloads = WORKLOADS.flatMap(ofKind);
        expect(workloads.length).toBeGreaterThanOrEqual(10);
        for (const workload of workloads) {
            expect({ workload: workload.name, afterTeardown: dependsOn(dependencies, workload.urn, teardown.urn) }).toEqual({ workload: workload.name, afterTeardown: true });
            // Its selector finds the workload's pods.
            const [key, value] = teardown.inputs.selector.split("=");
            expect({ workload: workload.name, label: workload.inputs.spec.template.metadata.labels[key] }).toEqual({ workload: workload.name, label: value });
        }
        expect(teardown.inputs.namespace).toBe(NAMESPACE);
    });

    it("protects each domain's server and volume claim, and not Trino", () => {
        for (const domain of ["customers", "orders", "payments"]) {
            expect(protection.get(named("apps/v1:StatefulSet", `${domain}-server`).urn)).toBe(true);
        }
        expect(protection.get(named("apps/v1:Deployment", "trino-coordinator").urn)).toBe(false);
    });

    it("names each Job after a digest of what it runs on, leaves waiting to its outcome, and mounts the dbt project as a folder tree", () => {
        const dbt = named("batch/v1:Job", "dbt-run");
        expect(dbt.inputs.metadata.name).toMatch(/^dbt-run-[0-9a-f]{10}$/);
        expect(dbt.inputs.metadata.annotations).toEqual({ "pulumi.com/skipAwait": "true" });
        expect(dbt.inputs.spec.backoffLimit).toBe(0);
        expect(dynamic("KubernetesJobOutcome", "dbt-run-outcome").inputs).toMatchObject({ jobName: dbt.inputs.metadata.name, namespace: NAMESPACE, target: cluster });
        const project = named("core/v1:ConfigMap", "dbt-run-project");
        const tree = podSpec(dbt).volumes.find((v: any) => v.configMap?.name === "dbt-run-project");
        expect(tree.configMap.items.map((i: any) => i.path)).toContain("models/marts/dim_customers.sql");
        expect(Object.keys(project.inputs.data)).toHaveLength(tree.configMap.items.length);
    });

    it("mounts every file a Job's command and scripts name, and each one it names among its own files is there", () => {
        for (const jobResource of ofKind("batch/v1:Job")) {
            const [container] = containersOf(jobResource);
            const filesVolume = podSpec(jobResource).volumes.find((v: any) => v.name === "job-files");
            const files = named("core/v1:ConfigMap", jobResource.name).inputs.data as Record<string, string>;
            const filesDir = container.volumeMounts.find((m: any) => m.name === "job-files").mountPath;
            const namedPaths = [...container.command, ...(Object.values(files).join("\n").match(/\/etc\/datamesh\/[A-Za-z0-9._/-]+/g) ?? [])].filter((p: string) => p.startsWith("/etc/datamesh/"));
            expect(filesVolume.configMap.name).toBe(jobResource.name);
            expect(namedPaths.length).toBeGreaterThan(1);
            for (const filePath of namedPaths) {
                const mounted = container.volumeMounts.some((m: any) => filePath === m.mountPath || filePath.startsWith(`${m.mountPath}/`));
                const missingFile = filePath.startsWith(`${filesDir}/`) && !(filePath.slice(filesDir.length + 1) in files);
                expect({ job: jobResource.name, filePath, mounted, missingFile }).toEqual({ job: jobResource.name, filePath, mounted: true, missingFile: false });
            }
        }
    });

    it("installs dbt once into a toolchain volume from the plain Python image by default, which the dbt and docs Jobs mount read-only and never reach a package index from", () => {
        const install = named("batch/v1:Job", "dbt-run-toolchain-install");
        const claim = named("core/v1:PersistentVolumeClaim", "dbt-run-toolchain");
        expect(claim.inputs.metadata.name).toBe("dbt-run-toolchain");
        expect(containersOf(install)[0].image).toMatch(/^python:3\.11\.\d+-slim-bookworm$/);
        expect(podSpec(install).securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, fsGroup: 1000 });
        expect(podSpec(install).volumes).toContainEqual({ name: "claim-0", persistentVolumeClaim: { claimName: claim.inputs.metadata.name, readOnly: false } });
        const installFiles = named("core/v1:ConfigMap", "dbt-run-toolchain-install").inputs.data;
        expect(installFiles["requirements.txt"]).toMatch(/^dbt-trino==[\d.]+ \\\n {4}--hash=sha256:[0-9a-f]{64}/m);
        expect(installFiles["install.sh"]).toContain("--require-hashes");
        // From PyPI by default, and from nowhere else: not even Trino.
        expect(named("networking.k8s.io/v1:NetworkPolicy", "dbt-run-toolchain-install").inputs.spec.egress).toEqual([{ to: [{ ipBlock: { cidr: "0.0.0.0/0" } }], ports: [{ protocol: "TCP", port: 443 }] }]);
        // It waits for nothing of the mesh: it runs while the databases and Trino start.
        for (const [kind, name] of [["apps/v1:Deployment", "trino-coordinator"], ["apps/v1:StatefulSet", "customers-server"]]) {
            expect({ name, before: dependsOn(dependencies, install.urn, named(kind, name).urn) }).toEqual({ name, before: false });
        }

        const coordinatorOnly = [{ to: [{ podSelector: { matchLabels: { "app.kubernetes.io/instance": "unit", "app.kubernetes.io/component": "coordinator" } } }], ports: [{ protocol: "TCP", port: 8443 }] }];
        for (const name of ["dbt-run", "docs-site-generate"]) {
            const job = named("batch/v1:Job", name);
            expect(containersOf(job)[0].image).toBe(containersOf(install)[0].image);
            expect(podSpec(job).volumes).toContainEqual({ name: "claim-0", persistentVolumeClaim: { claimName: claim.inputs.metadata.name, readOnly: true } });
            expect(containersOf(job)[0].volumeMounts).toContainEqual({ name: "claim-0", mountPath: "/opt/datamesh/dbt-toolchain", readOnly: true });
            const files = named("core/v1:ConfigMap", name).inputs.data;
            expect(files["run.sh"]).not.toContain("pip");
            expect(files["run.sh"]).toContain('PATH="/opt/datamesh/dbt-toolchain/venv/bin:$PATH"');
            expect(files["requirements.txt"]).toBeUndefined();
            expect(named("networking.k8s.io/v1:NetworkPolicy", name).inputs.spec.egress).toEqual(coordinatorOnly);
            // After the install has succeeded.
            expect(dependsOn(dependencies, job.urn, dynamic("KubernetesJobOutcome", "dbt-run-toolchain-install-outcome").urn)).toBe(true);
        }
    });

    it("serves the dbt docs from a volume claim, and generates them in a Job on the claim's node after the publication", async () => {
        const server = named("apps/v1:Deployment", "docs-site");
        const claim = named("core/v1:PersistentVolumeClaim", "docs-site");
        const generate = named("batch/v1:Job", "docs-site-generate");
        expect(podSpec(server).volumes).toEqual([
            { name: "site", persistentVolumeClaim: { claimName: claim.inputs.metadata.name } },
            { name: "scratch-0", emptyDir: {} },
        ]);
        expect(server.inputs.spec.strategy).toEqual({ type: "Recreate" });
        const [serve] = containersOf(server);
        expect(serve.command).toEqual(docsServerCommand("/site", 8080));
        expect(serve.volumeMounts).toEqual([
            { name: "site", mountPath: "/site", readOnly: true },
            { name: "scratch-0", mountPath: "/tmp" },
        ]);
        // No root step hands the claim over: fsGroup makes it the group of the user both pods run as.
        expect(podSpec(server).initContainers).toBeUndefined();
        expect(podSpec(server).securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, fsGroup: 1000 });
        expect(podSpec(generate).securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, fsGroup: 1000 });
        const service = named("core/v1:Service", "docs-site");
        expect(service.inputs.spec.selector).toEqual(server.inputs.spec.selector.matchLabels);

        expect(generate.inputs.metadata.name).toMatch(/^docs-site-generate-[0-9a-f]{10}$/);
        const generateSpec = podSpec(generate);
        // The Service never picks the generating pod, and the pod runs where the claim is attached.
        const generateLabels = generate.inputs.spec.template.metadata.labels;
        expect(Object.entries(service.inputs.spec.selector).every(([key, value]) => generateLabels[key] === value)).toBe(false);
        expect(generateSpec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution).toEqual([
            { labelSelector: { matchLabels: server.inputs.spec.selector.matchLabels }, topologyKey: "kubernetes.io/hostname" },
        ]);
        expect(generateSpec.volumes).toContainEqual({ name: "claim-1", persistentVolumeClaim: { claimName: claim.inputs.metadata.name, readOnly: false } });
        expect(generateSpec.containers[0].volumeMounts).toContainEqual({ name: "claim-1", mountPath: "/site", readOnly: false });
        const script: string = named("core/v1:ConfigMap", "docs-site-generate").inputs.data["run.sh"];
        const publication = resources.find(r => r.name === "check-publication")!;
        expect(script).toContain("dbt docs generate --static");
        expect(script).toContain(`docs site: serving ${publication.state.publishedRun}`);
        expect(named("core/v1:ConfigMap", "docs-site-generate").inputs.data["profiles.yml"]).toContain(`schema: ${publication.state.publishedRun}`);

        // After the publication, and the docsUrl only once the page is in place.
        expect(dependsOn(dependencies, generate.urn, publication.urn)).toBe(true);
        expect(dependsOn(dependencies, generate.urn, server.urn)).toBe(true);
        expect(await valueOf(stack.docsUrl)).toBe(`http://docs-site.${NAMESPACE}.svc.cluster.local:8080/`);
        expect(dynamic("KubernetesJobOutcome", "docs-site-generate-outcome").inputs.jobName).toBe(generate.inputs.metadata.name);
    });
});

describe("the kubernetes platform's bad input", () => {
    // A fake kubectl that knows some namespaces, for these tests only.
    let saved: { PATH?: string; KUBECONFIG?: string };
    beforeEach(() => {
        saved = { PATH: process.env.PATH, KUBECONFIG: process.env.KUBECONFIG };
    });
    afterEach(() => {
        Object.assign(process.env, saved);
    });

    it("refuses a Trino image of another version than the pinned one, before any resource", () => {
        const { KubernetesPlatform } = require("../../platforms/kubernetes");
        const { DEFAULT_IMAGES } = require("../../config");
        const before = resources.length;
        expect(
            () => new KubernetesPlatform({ stack: "unit", namespace: "x", images: { ...DEFAULT_IMAGES, trinoImage: "trinodb/trino:475" }, keytool: "keytool", trinoVersion: "476" }),
        ).toThrow("datamesh:trinoImage: 'trinodb/trino:475' runs Trino 475, but the stack pins Trino 476 (versions.env)");
        expect(resources.length).toBe(before);
    });

    it.each([
        ["enforces another Pod Security level", { "pod-security.kubernetes.io/enforce": "baseline" }, /datamesh:namespace: namespace shared-ns already exists, was not created by this stack, and enforces pod-security\.kubernetes\.io\/enforce=baseline/],
        ["another hand made", { team: "analytics" }, /datamesh:namespace: namespace shared-ns already exists and was not created by this stack \(its labels lack app\.kubernetes\.io\/instance=unit\)/],
    ])("refuses a namespace that %s, naming it, before any resource", (_case, labels, message) => {
        const { KubernetesPlatform } = require("../../platforms/kubernetes");
        const { DEFAULT_IMAGES } = require("../../config");
        const target = installFakeKubectl("unit-context", { "shared-ns": labels });
        const before = resources.length;
        expect(
            () =>
                new KubernetesPlatform({ stack: "unit", namespace: "shared-ns", podSecurityLabel: true, workerGracePeriodSeconds: 30, images: DEFAULT_IMAGES, keytool: "keytool", trinoVersion: "476", target }),
        ).toThrow(message);
        expect(resources.length).toBe(before);
    });

    it("takes over its own namespace on a later deploy, and leaves the label off when told to", async () => {
        const { KubernetesPlatform } = require("../../platforms/kubernetes");
        const { DEFAULT_IMAGES } = require("../../config");
        const target = installFakeKubectl("unit-context", { "own-ns": { "app.kubernetes.io/part-of": "datamesh", "app.kubernetes.io/instance": "unit" } });
        const before = resources.length;
        new KubernetesPlatform({ stack: "unit", namespace: "own-ns", podSecurityLabel: false, workerGracePeriodSeconds: 30, images: DEFAULT_IMAGES, keytool: "keytool", trinoVersion: "476", target });
        // The mocks record a resource once its registration has gone through.
        const deadline = Date.now() + 5_000;
        while (Date.now() < deadline && !resources.slice(before).some(r => r.type === "kubernetes:core/v1:Namespace")) {
            await new Promise(resolve => setTimeout(resolve, 20));
        }
        const namespace = resources.slice(before).find(r => r.type === "kubernetes:core/v1:Namespace");
        expect(namespace?.inputs.metadata.labels).toEqual({ "app.kubernetes.io/part-of": "datamesh", "app.kubernetes.io/instance": "unit" });
    });
});

describe("the kubernetes platform with autoscaled workers", () => {
    it("leaves the worker count to a HorizontalPodAutoscaler on CPU between min and max, with the window it is given, and budgets the workers' disruptions", async () => {
        const before = resources.length;
        pulumi.runtime.setAllConfig({ "datamesh:platform": "kubernetes", "datamesh:namespace": NAMESPACE, "datamesh:workers": '{"min":1,"max":3}', "datamesh:workerScaleDownWindow": "30" });
        await jest.isolateModulesAsync(async () => {
            const program = await import("../../index");
            await valueOf(program.check);
        });
        const created = resources.slice(before);
        const find = (type: string, name: string) => created.find(r => r.type === `kubernetes:${type}` && r.name === name)!;
        const worker = find("apps/v1:Deployment", "trino-worker");
        // No count of the stack's own, which every later up would set back under the autoscaler.
        expect(worker.inputs.spec.replicas).toBeUndefined();
        const hpa = find("autoscaling/v2:HorizontalPodAutoscaler", "trino-worker");
        expect(hpa.inputs.spec).toMatchObject({
            scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: worker.inputs.metadata.name },
            minReplicas: 1,
            maxReplicas: 3,
            metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization" } } }],
            behavior: { scaleDown: { stabilizationWindowSeconds: 30 } },
        });
        // Nothing waits on it: a cluster without a metrics API must not hang pulumi up.
        expect(hpa.inputs.metadata.annotations["pulumi.com/skipAwait"]).toBe("true");
        expect(find("policy/v1:PodDisruptionBudget", "trino-worker").inputs.spec).toMatchObject({ maxUnavailable: 1 });
        // The coordinator waits for the fewest workers to join.
        expect(created.find(r => r.name === "trino-nodes")?.inputs.nodes).toBe(2);
    });
});

describe("the kubernetes platform's dbt toolchain settings", () => {
    const deploy = async (config: Record<string, string>) => {
        const before = resources.length;
        pulumi.runtime.setAllConfig({ "datamesh:platform": "kubernetes", "datamesh:namespace": NAMESPACE, ...config });
        await jest.isolateModulesAsync(async () => {
            const program = await import("../../index");
            await valueOf(program.check);
        });
        const created = resources.slice(before);
        return (type: string, name: string) => created.find(r => r.type === `kubernetes:${type}` && r.name === name);
    };

    it("installs from the index pipIndexUrl names, reaching only that address, with the URL in a Secret and a plain-HTTP host trusted", async () => {
        const find = await deploy({ "datamesh:pipIndexUrl": "http://10.244.0.1:20263/simple/", "datamesh:pipCaBundle": selfSignedCertificate("DNS:mirror.example").cert });
        const install = find("batch/v1:Job", "dbt-run-toolchain-install")!;
        expect(find("networking.k8s.io/v1:NetworkPolicy", "dbt-run-toolchain-install")!.inputs.spec.egress).toEqual([{ to: [{ ipBlock: { cidr: "10.244.0.1/32" } }], ports: [{ protocol: "TCP", port: 20263 }] }]);
        const env = Object.fromEntries(containersOf(install)[0].env.map((e: { name: string; value: string }) => [e.name, e.value]));
        expect(env).toMatchObject({ PIP_TRUSTED_HOST: "10.244.0.1", PIP_CERT: "/etc/datamesh/dbt-toolchain/pip-ca.pem" });
        expect(env.PIP_INDEX_URL).toBeUndefined();
        expect(JSON.stringify(find("core/v1:ConfigMap", "dbt-run-toolchain-install")!.inputs)).not.toContain("10.244.0.1:20263");
        expect(JSON.stringify(find("core/v1:Secret", "dbt-run-toolchain-install")!.inputs)).toContain(SECRET_SIG);
        expect(find("core/v1:ConfigMap", "dbt-run-toolchain-install")!.inputs.data["pip-ca.pem"]).toContain("BEGIN CERTIFICATE");
    });

    it("takes dbt from any other dbtImage, with no toolchain, unless dbtToolchain says volume", async () => {
        const own = await deploy({ "datamesh:dbtImage": "registry.example/dbt-trino:1.11.0" });
        expect(own("batch/v1:Job", "dbt-run-toolchain-install")).toBeUndefined();
        expect(own("core/v1:ConfigMap", "dbt-run")!.inputs.data["run.sh"]).toContain("no dbt on this image's PATH: set datamesh:dbtToolchain to volume, or choose a dbtImage with dbt (registry.example/dbt-trino:1.11.0 has none)");

        const volume = await deploy({ "datamesh:dbtImage": "registry.example/python:3.12.8", "datamesh:dbtToolchain": "volume" });
        expect(containersOf(volume("batch/v1:Job", "dbt-run-toolchain-install")!)[0].image).toBe("registry.example/python:3.12.8");
        // Another image's Python makes another virtualenv: the install runs anew into the same claim, whose name stays.
        expect(volume("batch/v1:Job", "dbt-run-toolchain-install")!.inputs.metadata.name).not.toBe(named("batch/v1:Job", "dbt-run-toolchain-install").inputs.metadata.name);
        expect(volume("core/v1:PersistentVolumeClaim", "dbt-run-toolchain")!.inputs.metadata.name).toBe("dbt-run-toolchain");
    });
});

describe("the kubernetes platform and a certificate the user supplies", () => {
    const load = async (san: string) => {
        const { cert, key } = selfSignedCertificate(san);
        const before = resources.length;
        pulumi.runtime.setAllConfig({ "datamesh:platform": "kubernetes", "datamesh:namespace": NAMESPACE, "datamesh:trinoCertificate": cert, "datamesh:trinoPrivateKey": key });
        let failure: Error | undefined;
        await jest.isolateModulesAsync(async () => {
            const program = await import("../../index").catch((e: Error) => void (failure = e));
            if (program) {
                await valueOf(program.check);
            }
        });
        return { failure, created: resources.length - before };
    };

    it("refuses one that does not cover the names the Jobs use for Trino, before any resource", async () => {
        const { failure, created } = await load("DNS:localhost,IP:127.0.0.1");
        expect(failure?.message).toMatch(/datamesh:trinoCertificate: the certificate does not cover trino, trino\.mesh-unit, trino\.mesh-unit\.svc, trino\.mesh-unit\.svc\.cluster\.local .*which the kubernetes platform's jobs use for Trino/);
        expect(created).toBe(0);
    });

    it("takes one that covers them", async () => {
        const names = ["localhost", "trino", `trino.${NAMESPACE}`, `trino.${NAMESPACE}.svc`, `trino.${NAMESPACE}.svc.cluster.local`];
        const { failure, created } = await load(`${names.map(n => `DNS:${n}`).join(",")},IP:127.0.0.1`);
        expect(failure).toBeUndefined();
        expect(created).toBeGreaterThan(30);
    });
});

describe("the kubernetes platform's cluster check", () => {
    const load = async (config: Record<string, string>) => {
        const before = resources.length;
        pulumi.runtime.setAllConfig({ "datamesh:platform": "kubernetes", ...config });
        let failure: Error | undefined;
        await jest.isolateModulesAsync(async () => {
            await import("../../index").catch((e: Error) => (failure = e));
        });
        return { failure, created: resources.length - before };
    };

    it("refuses a kubeconfig that does not exist, naming the key and the path, before any resource", async () => {
        const { failure, created } = await load({ "datamesh:kubeconfig": "/nonexistent/kubeconfig" });
        expect(failure?.message).toBe("invalid configuration:\ndatamesh:kubeconfig: no kubeconfig at /nonexistent/kubeconfig (set datamesh:kubeconfig or KUBECONFIG to your cluster's, or use platform local)");
        expect(created).toBe(0);
    });

    it("refuses a context the kubeconfig does not have, naming the contexts it has", async () => {
        const { failure, created } = await load({ "datamesh:kubeContext": "elsewhere" });
        expect(failure?.message).toBe(`invalid configuration:\ndatamesh:kubeContext: context 'elsewhere' is not in ${cluster.kubeconfig}; it has: ${cluster.context}`);
        expect(created).toBe(0);
    });
});

describe("the kubernetes platform's outputs", () => {
    it("gives in-cluster addresses, the version the coordinator reports, and the Jobs' own summaries", async () => {
        expect(await valueOf(stack.trinoUrl)).toBe(`https://trino.${NAMESPACE}.svc.cluster.local:8443`);
        const nodes = dynamic("TrinoNodes", "trino-nodes");
        expect(nodes.inputs.nodes).toBe(3);
        const access = nodes.inputs.access.value ?? nodes.inputs.access;
        expect(access.tunnel).toMatchObject({ ...cluster, namespace: NAMESPACE, service: "trino", port: 8443 });
        expect(access.connection.user).toBe("datamesh_check");
        expect(await valueOf(stack.trinoVersion)).toBe(nodes.state.version);
        const domains = stack.domains as Record<string, { host: pulumi.Output<string>; port: pulumi.Output<number> }>;
        expect(await valueOf(domains.orders.host)).toBe(`orders-server.${NAMESPACE}.svc.cluster.local`);
        expect(await valueOf(domains.orders.port)).toBe(3306);
        const checkJob = named("batch/v1:Job", "check-reconciliation").inputs.metadata.name;
        const publication = resources.find(r => r.name === "check-publication")!;
        expect(publication.inputs.audit).toBe(`last line of the log of Job ${checkJob}`);
        expect(await valueOf(stack.check)).toBe(publication.state.summary);
        expect(await valueOf(stack.dbtSummary)).toBe(`last line of the log of Job ${named("batch/v1:Job", "dbt-run").inputs.metadata.name}`);
    });
});
