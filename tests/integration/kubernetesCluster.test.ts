import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { kubectl, kubectlJson, KubeTarget, withPortForward } from "../../lib/kubectl";
import { queryTrino } from "../../lib/trinoQuery";
import { runCheckStatement } from "../../resources/insightsCheck";
import { EXPECTED_DIR, readTextTable, TextTable } from "../reference";
import { createMesh, createSharedBackend, kubernetesProviderDir, MeshUnderTest, qualifiedStackName, REPO_DIR, SharedBackend } from "./harness";
import { readAudits } from "../../lib/audits";
import { DOMAINS } from "../../lib/domains";
import type { Browser } from "playwright-core";
import { analystSeesInTrinoUi, DIM_CUSTOMERS_UPSTREAM, launchChromium, lineageUpstream, screenshot } from "./browser";
import { startTestCluster, TestCluster } from "./testCluster";

// Pods start, images load and dbt runs inside the cluster: every step waits for a real `pulumi up`.
jest.setTimeout(1_800_000);

/*
 * A real `pulumi up` of the kubernetes platform on the project's own single-node cluster, with
 * images built here that honour the official images' contracts, then the life a user gives it:
 * re-deploys, a model edit, pods deleted under it, other data, and destroy. The customers domain is
 * its team's domain stack, in a namespace of its own, which the mesh federates through a shared
 * file backend; orders and payments are the mesh's own. The steps share the deployments and run in
 * order.
 */

const ODD_CENTS = path.join(REPO_DIR, "tests", "fixtures", "odd_cents");
const INSIGHTS = "insights.jaffle_shop";

let cluster: TestCluster;
let target: KubeTarget;
let mesh: MeshUnderTest;
let namespace: string;
/** The customers team's domain stack, and the namespace it runs in. */
let customersTeam: MeshUnderTest;
let domainNamespace: string;
let backend: SharedBackend;
/** Files pods had fetched from the cluster's package index before this stack's first up (another stack's, on a cluster already running). */
let earlierDownloads = 0;
/** Namespaces a test made besides the stack's; removed at the end. */
const otherNamespaces: string[] = [];

/** Runs SQL as a role of the stack through a port-forward to the Trino Service, as a user of the cluster would. */
async function query(sql: string, role = "dbt"): Promise<TextTable> {
    const outputs = await mesh.stack.outputs();
    const user = outputs.users.value[role];
    return withPortForward({ ...target, namespace, service: "trino", port: 8443 }, async localPort => {
        const outcome = await queryTrino({ url: `https://127.0.0.1:${localPort}`, user: user.user, password: user.password, caCert: outputs.trinoCaCert.value }, sql);
        return { header: outcome.columns, rows: outcome.rows.map(row => row.map(cell => (cell === null ? "" : String(cell)))) };
    });
}

/** The docs site's page, fetched through a port-forward to its Service, as a user of the cluster would open it. */
async function docsPage(): Promise<string> {
    return withPortForward({ ...target, namespace, service: "docs-site", port: 8080 }, async localPort => (await fetch(`http://127.0.0.1:${localPort}/`)).text());
}

async function expectInsightsToEqual(expectedDir: string) {
    for (const [table, key] of [["dim_customers", "customer_id"], ["fct_orders", "order_id"]] as const) {
        const expected = readTextTable(path.join(expectedDir, `${table}.csv`));
        const actual = await query(`SELECT * FROM ${INSIGHTS}.${table} ORDER BY ${key}`, "analyst");
        expect(actual.header).toEqual(expected.header);
        expect(actual.rows).toHaveLength(expected.rows.length);
        actual.rows.forEach((row, i) => expect({ table, row }).toEqual({ table, row: expected.rows[i] }));
    }
}

async function jobNames(): Promise<string[]> {
    const jobs = await kubectlJson<{ items: { metadata: { name: string } }[] }>(target, ["-n", namespace, "get", "jobs"]);
    return jobs.items.map(j => j.metadata.name).sort();
}

/** The files pods fetched from the test cluster's package index so far. */
function packageDownloads(): string[] {
    if (!fs.existsSync(cluster.packageIndexLog)) {
        throw new Error(`the test cluster's package index left no access log at ${cluster.packageIndexLog}`);
    }
    return fs
        .readFileSync(cluster.packageIndexLog, "utf8")
        .split("\n")
        .filter(line => / "GET \/files\/\S+ HTTP\/[\d.]+" 200 /.test(line));
}

async function jobLog(prefix: string): Promise<string> {
    const names = (await jobNames()).filter(name => new RegExp(`^${prefix}-[0-9a-f]{10}$`).test(name));
    expect({ prefix, jobs: names.length }).toEqual({ prefix, jobs: 1 });
    return must(["-n", namespace, "logs", `job/${names[0]}`]);
}

async function podsOf(component: string): Promise<string[]> {
    const pods = await kubectlJson<{ items: { metadata: { name: string } }[] }>(target, ["-n", namespace, "get", "pods", "-l", `app.kubernetes.io/component=${component}`]);
    return pods.items.map(p => p.metadata.name);
}

async function must(args: string[], input?: string) {
    const outcome = await kubectl(target, args, { timeoutMs: 600_000, input });
    expect({ args, status: outcome.status, stderr: outcome.status === 0 ? "" : outcome.stderr }).toEqual({ args, status: 0, stderr: "" });
    return outcome.stdout;
}

/** A throwaway pod in a namespace, with none of the stack's labels but those given, that runs one shell command and is gone; its output and exit status. */
async function throwawayPod(inNamespace: string, command: string, labels: Record<string, string> = {}): Promise<{ status: number; output: string }> {
    const name = `probe-${crypto.randomBytes(3).toString("hex")}`;
    // It meets the restricted standard itself, or the namespace would refuse it before it ran.
    const pod = {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name, namespace: inNamespace, labels: { ...labels, "datamesh-test/probe": "true" } },
        spec: {
            restartPolicy: "Never",
            automountServiceAccountToken: false,
            securityContext: { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, seccompProfile: { type: "RuntimeDefault" } },
            containers: [
                {
                    name: "probe",
                    image: "datamesh-test/busybox:1.35.0",
                    imagePullPolicy: "Never",
                    command: ["sh", "-c", command],
                    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
                },
            ],
        },
    };
    await must(["apply", "-f", "-"], JSON.stringify(pod));
    try {
        const deadline = Date.now() + 120_000;
        let phase = "";
        while (Date.now() < deadline && !["Succeeded", "Failed"].includes(phase)) {
            await new Promise(resolve => setTimeout(resolve, 1_000));
            phase = (await kubectl(target, ["-n", inNamespace, "get", "pod", name, "-o", "jsonpath={.status.phase}"])).stdout.trim();
        }
        const output = (await kubectl(target, ["-n", inNamespace, "logs", name])).stdout;
        const status = Number((await kubectl(target, ["-n", inNamespace, "get", "pod", name, "-o", "jsonpath={.status.containerStatuses[0].state.terminated.exitCode}"])).stdout.trim() || "-1");
        return { status, output };
    } finally {
        await kubectl(target, ["-n", inNamespace, "delete", "pod", name, "--wait=false"]);
    }
}

/**
 * Which of the targets (host:port) a throwaway pod in the namespace, with the labels given, can open.
 * The enforcer drops a new pod's first packets until it knows the pod's address: the probe first waits
 * until a port that is open to it answers, or, where none is, a few seconds. A closed port is one whose
 * packets are dropped, which only a timeout tells, so the targets are tried all at once; each line
 * carries its index.
 */
function probe(inNamespace: string, targets: string[], control?: string, labels: Record<string, string> = {}): Promise<string[]> {
    return throwawayPod(
        inNamespace,
        [
            control ? `for i in $(seq 1 20); do nc -w 2 ${control.replace(":", " ")} </dev/null >/dev/null 2>&1 && break; sleep 1; done` : "sleep 5",
            ...targets.map((t, i) => `(if nc -w 3 ${t.replace(":", " ")} </dev/null >/dev/null 2>&1; then echo "${i} open ${t}"; else echo "${i} closed ${t}"; fi) &`),
            "wait",
        ].join("; ").replace(/&;/g, "&"),
        labels,
    ).then(outcome =>
        outcome.output
            .trim()
            .split("\n")
            .map(line => /^(\d+) (.*)$/.exec(line))
            .map(match => (match ? { index: Number(match[1]), line: match[2] } : { index: -1, line: "unexpected output" }))
            .sort((a, b) => a.index - b.index)
            .map(({ line }) => line),
    );
}

/** The rows of the customers table, read straight from the domain's server (through a port-forward to its Service) as the reader its stack publishes. */
async function customersInDomain(): Promise<number> {
    const product = (await customersTeam.stack.outputs()).dataProduct.value;
    return withPortForward({ ...target, namespace: domainNamespace, service: "customers-server", port: 5432 }, async localPort => {
        const pg = require("pg");
        const client = new pg.Client({ host: "127.0.0.1", port: localPort, user: product.reader.user, password: product.reader.password, database: product.database });
        await client.connect();
        try {
            return Number((await client.query(`SELECT count(*) AS n FROM ${product.schema}.customers`)).rows[0].n);
        } finally {
            await client.end();
        }
    });
}

beforeAll(async () => {
    kubernetesProviderDir();
    cluster = startTestCluster();
    const context = spawnSync("kubectl", ["--kubeconfig", cluster.kubeconfig, "config", "current-context"], { encoding: "utf8" }).stdout.trim();
    target = { kubeconfig: cluster.kubeconfig, context };
    namespace = `mesh-it-${crypto.randomBytes(3).toString("hex")}`;
    domainNamespace = `${namespace}-customers`;
    // Exactly what `scripts/test-cluster.sh up` prints, as its usage tells a user to set: nothing added by hand.
    const printed = Object.fromEntries(Object.entries(cluster.settings).filter(([key]) => key !== "kubeconfig" && key !== "kubeContext"));
    expect(Object.keys(printed).sort()).toEqual(["dbtImage", "dbtToolchain", "docsImage", "mariadbImage", "pipIndexUrl", "platform", "postgresImage", "seaweedfsImage", "trinoImage"]);
    earlierDownloads = packageDownloads().length;
    // The customers team deploys first, from its own copy of the project, into the backend the mesh reads.
    backend = createSharedBackend("k8s-live");
    customersTeam = await createMesh("k8s-customers", { role: "domain", domain: "customers", namespace: domainNamespace, meshNamespace: namespace, kubeconfig: cluster.kubeconfig, ...printed }, { backend });
    await customersTeam.stack.up();
    mesh = await createMesh(
        "k8s-live",
        {
            platform: "kubernetes",
            namespace,
            kubeconfig: cluster.kubeconfig,
            workers: "1",
            trinoMaxHeap: "1G",
            domainStacks: JSON.stringify([qualifiedStackName("k8s-customers")]),
            // The stack's own JVM flags: the drain and autoscaler tests run queries of billions of rows, which the
            // test stacks' first-tier-only compiler slows enough that the drain test lost its worker once (docs/testing.md).
            trinoJvmOptions: "[]",
            ...printed,
        },
        // The customers team's declaration moved to its repository.
        { backend, prepare: projectDir => fs.rmSync(path.join(projectDir, "domains", "customers.yaml")) },
    );
    await mesh.stack.up();
}, 1_800_000);

afterAll(async () => {
    try {
        for (const extra of otherNamespaces) {
            await kubectl(target, ["delete", "namespace", extra, "--wait=false"]);
        }
        await mesh?.remove();
        await customersTeam?.remove();
    } finally {
        if (backend) {
            fs.rmSync(backend.dir, { recursive: true, force: true });
        }
        cluster?.release();
    }
}, 900_000);

describe("the kubernetes platform on a live cluster", () => {
    it("builds dim_customers and fct_orders exactly as the expected CSVs, queried through the Trino Service", async () => {
        await expectInsightsToEqual(EXPECTED_DIR);
    });

    it("reports what ran: the coordinator's version, the Jobs' own summaries, and the rows in each table", async () => {
        const outputs = await mesh.stack.outputs();
        const [{ version }] = await query("SELECT node_version AS version FROM system.runtime.nodes WHERE coordinator").then(t => t.rows.map(([v]) => ({ version: v })));
        expect(outputs.trinoVersion.value).toBe(version);
        expect(version).toBe("476");
        expect(outputs.dbtSummary.value).toMatch(/Done\. PASS=\d+ WARN=0 ERROR=0 SKIP=0 .*TOTAL=\d+$/);
        expect(outputs.check.value).toMatch(
            /^OK: dim_customers 100 rows = audit 100, customer_lifetime_value 1672\.00 = audit 1672\.00; fct_orders 99 rows = audit 99, .*, amount 1672\.00 = audit 1672\.00; published jaffle_shop__[0-9a-f]{12}, rebuilt \S+ \(first deploy\)$/,
        );
        const counted = await query("SELECT (SELECT count(*) FROM customers.public.customers), (SELECT count(*) FROM orders.orders.orders), (SELECT count(*) FROM payments.public.payments)");
        expect([outputs.domains.value.customers.rows.customers, outputs.domains.value.orders.rows.orders, outputs.domains.value.payments.rows.payments].map(String)).toEqual(counted.rows[0]);
    });

    it("installs dbt once, from the package index into the toolchain volume, and the dbt and docs Jobs run that dbt without any download of their own", async () => {
        const locked = fs.readFileSync(path.join(REPO_DIR, "dbt", "requirements.txt"), "utf8").match(/^[A-Za-z0-9._[\]-]+==/gm)!.length;
        const install = await jobLog("dbt-run-toolchain-install");
        expect(install.trim().split("\n").pop()).toMatch(new RegExp(`^dbt toolchain: [0-9a-f]{12} installed, ${locked} packages from 10\\.244\\.0\\.1:20263$`));
        // Exactly the locked files, once each: the pods fetched nothing else from the index.
        const fetched = packageDownloads().slice(earlierDownloads).map(line => line.match(/GET \/files\/(\S+) /)![1]);
        expect(fetched).toHaveLength(locked);
        expect(new Set(fetched).size).toBe(locked);
        for (const job of ["dbt-run", "docs-site-generate"]) {
            const log = await jobLog(job);
            expect({ job, dbt: log.match(/^dbt: (\S+)$/m)?.[1] }).toEqual({ job, dbt: "/opt/datamesh/dbt-toolchain/venv/bin/dbt" });
            expect(log).not.toMatch(/Collecting|Downloading|pip install/);
        }
    });

    it("gives the same verdict in the check Job as the deploying process gives on the same run", async () => {
        const outputs = await mesh.stack.outputs();
        const run = outputs.publishedRun.value;
        const check = outputs.users.value.check;
        const verdict = await withPortForward({ ...target, namespace, service: "trino", port: 8443 }, localPort =>
            runCheckStatement(
                { url: `https://127.0.0.1:${localPort}`, user: check.user, password: check.password, caCert: outputs.trinoCaCert.value },
                { catalog: "insights", schema: run, audits: readAudits(path.join(REPO_DIR, "dbt"), DOMAINS) },
            ),
        );
        expect(verdict.ok).toBe(true);
        expect(outputs.check.value.startsWith(`${verdict.summary}; published ${run}`)).toBe(true);
        // Analysts read the published views; the run itself is the dbt runner's and the check's only.
        await expect(query(`SELECT count(*) FROM insights.${run}.dim_customers`, "analyst")).rejects.toThrow(/Access Denied/);
    });

    it("serves the dbt docs in the cluster: a browser finds dim_customers fed by the three domains, with no credential in the page", async () => {
        const outputs = await mesh.stack.outputs();
        expect(outputs.docsUrl.value).toBe(`http://docs-site.${namespace}.svc.cluster.local:8080/`);
        const browser: Browser = await launchChromium();
        try {
            const upstream = await withPortForward({ ...target, namespace, service: "docs-site", port: 8080 }, async localPort => {
                const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
                const ids = await lineageUpstream(page, `http://127.0.0.1:${localPort}/`, "dim_customers");
                await screenshot(page, "kubernetes-lineage-graph.png");
                return ids;
            });
            expect(upstream).toEqual(expect.arrayContaining(DIM_CUSTOMERS_UPSTREAM));
        } finally {
            await browser.close();
        }
        const html = await docsPage();
        expect(html).toContain("payments_owner");
        for (const secret of [outputs.users.value.dbt.password, outputs.users.value.analyst.password]) {
            expect({ secretFound: html.includes(secret) }).toEqual({ secretFound: false });
        }
    });

    it("lets the analyst log in to Trino's web UI over HTTPS, through a port-forward, and lists the analyst's own query", async () => {
        const outputs = await mesh.stack.outputs();
        expect(outputs.trinoUiUrl.value).toBe(`https://trino.${namespace}.svc.cluster.local:8443/ui/`);
        const marker = `kubernetes_ui_${Date.now()}`;
        await query(`SELECT count(*) AS ${marker} FROM ${INSIGHTS}.dim_customers`, "analyst");
        const browser: Browser = await launchChromium();
        try {
            const listed = await withPortForward({ ...target, namespace, service: "trino", port: 8443 }, localPort =>
                analystSeesInTrinoUi(browser, `https://127.0.0.1:${localPort}/ui/`, outputs.users.value.analyst.password, marker, "kubernetes-trino-ui.png"),
            );
            expect(listed).toEqual({ ownQuery: true, dbtQueries: 0 });
        } finally {
            await browser.close();
        }
    });

    it("runs queries on the worker, which reads and writes the warehouse", async () => {
        const nodes = await query("SELECT coordinator, state FROM system.runtime.nodes ORDER BY coordinator");
        expect(nodes.rows).toEqual([
            ["false", "active"],
            ["true", "active"],
        ]);
        await query(`SELECT sum(amount) FROM ${INSIGHTS}.fct_orders`);
        // The tasks of the queries Trino still remembers, dbt's table writes among them, by the kind of node they ran on.
        const work = await query(
            "SELECT n.coordinator, count(*), sum(t.raw_input_rows), sum(t.physical_written_bytes) FROM system.runtime.tasks t JOIN system.runtime.nodes n ON t.node_id = n.node_id GROUP BY n.coordinator ORDER BY n.coordinator",
        );
        const [, workerTasks, workerRowsRead, workerBytesWritten] = work.rows.find(([coordinator]) => coordinator === "false") ?? [];
        expect(Number(workerTasks)).toBeGreaterThan(0);
        expect(Number(workerRowsRead)).toBeGreaterThan(0);
        expect(Number(workerBytesWritten)).toBeGreaterThan(0);
        const [, , , coordinatorBytesWritten] = work.rows.find(([coordinator]) => coordinator === "true") ?? ["true", "0", "0", "0"];
        expect(Number(coordinatorBytesWritten)).toBe(0);
    });

    it("runs every pod under the restricted Pod Security Standard, which the namespace enforces: a root pod is refused", async () => {
        const labels = JSON.parse(await must(["get", "namespace", namespace, "-o", "jsonpath={.metadata.labels}"]));
        expect(labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
        const root = {
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: "root-probe", namespace },
            spec: { containers: [{ name: "root", image: "datamesh-test/busybox:1.35.0", imagePullPolicy: "Never", command: ["true"], securityContext: { runAsUser: 0 } }] },
        };
        const refused = await kubectl(target, ["apply", "-f", "-"], { input: JSON.stringify(root) });
        expect(refused.status).not.toBe(0);
        expect(refused.stderr).toMatch(/violates PodSecurity "restricted:latest"/);
        // Every pod of the stack was admitted, so each met the standard; they run as their images' own users.
        const pods = await kubectlJson<{ items: { metadata: { name: string }; spec: { securityContext: { runAsUser: number } }; status: { phase: string } }[] }>(target, ["-n", namespace, "get", "pods"]);
        const running = pods.items.filter(p => p.status.phase === "Running");
        expect(running.length).toBeGreaterThanOrEqual(7);
        expect(running.filter(p => !(p.spec.securityContext.runAsUser > 0)).map(p => p.metadata.name)).toEqual([]);
        // The customers team's namespace enforces the same standard on its server.
        expect(JSON.parse(await must(["get", "namespace", domainNamespace, "-o", "jsonpath={.metadata.labels}"]))["pod-security.kubernetes.io/enforce"]).toBe("restricted");
        expect(await must(["-n", domainNamespace, "get", "pod", "customers-server-0", "-o", "jsonpath={.spec.securityContext.runAsUser}"])).toBe("999");
    });

    it("mounts no API token into a stack pod, and the API refuses a call without one", async () => {
        const [coordinator] = (await podsOf("coordinator")).filter(p => p.startsWith("trino-"));
        const probe = await must([
            "-n",
            namespace,
            "exec",
            coordinator,
            "--",
            "sh",
            "-c",
            `ls /var/run/secrets/kubernetes.io/serviceaccount 2>&1; curl --silent --insecure --max-time 10 -o /dev/null -w 'api:%{http_code}' https://kubernetes.default.svc/api/v1/namespaces/${namespace}/secrets`,
        ]);
        expect(probe).toMatch(/No such file or directory/);
        expect(probe).toMatch(/api:(401|403)$/);
    });

    it("locks the warehouse store: beyond loopback only its S3 API listens, and it refuses a request without the stack's credentials", async () => {
        const [store] = await podsOf("warehouse");
        // Listening sockets (state 0A) from the kernel's own tables, as address:port in hex.
        const table = await must(["-n", namespace, "exec", store, "--", "cat", "/proc/net/tcp", "/proc/net/tcp6"]);
        const listening = table
            .split("\n")
            .map(line => line.trim().split(/\s+/))
            .filter(fields => fields[3] === "0A")
            .map(fields => fields[1].split(":"))
            .map(([address, port]) => ({ loopback: /^(0100007F|0000000000000000FFFF00000100007F|00000000000000000000000001000000)$/.test(address), port: parseInt(port, 16) }));
        expect(listening.filter(l => l.loopback).map(l => l.port)).toEqual(expect.arrayContaining([9333, 19333, 8080, 18080, 8888, 18888]));
        // The S3 gateway's gRPC port cannot be bound apart from its API: the NetworkPolicy closes it (next test).
        expect([...new Set(listening.filter(l => !l.loopback).map(l => l.port))].sort()).toEqual([18333, 8333]);
        const [coordinator] = (await podsOf("coordinator")).filter(p => p.startsWith("trino-"));
        const anonymous = await must(["-n", namespace, "exec", coordinator, "--", "curl", "--silent", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}", `http://insights-warehouse.${namespace}.svc.cluster.local:8333/`]);
        expect(anonymous).toBe("403");
    });

    it("enforces the NetworkPolicies: a pod without the stack's labels, in the namespace or another, reaches no database, metastore or store port; Trino and the docs site answer anyone by default, and only the namespaces allowedClients names once set", async () => {
        const host = (service: string) => `${service}.${namespace}.svc.cluster.local`;
        const ipOf = async (role: string, prefix: string) =>
            (await kubectlJson<{ items: { metadata: { name: string }; status: { podIP: string } }[] }>(target, ["-n", namespace, "get", "pods", "-l", `app.kubernetes.io/component=${role}`])).items.find(p =>
                p.metadata.name.startsWith(prefix),
            )!.status.podIP;
        const storeIp = await ipOf("warehouse", "insights-warehouse");
        const closedToStrangers = [
            `customers-server.${domainNamespace}.svc.cluster.local:5432`,
            `${host("orders-server")}:3306`,
            `${host("payments-server")}:5432`,
            `${host("insights-metastore")}:5432`,
            `${host("insights-warehouse")}:8333`,
            ...[18333, 9333, 8888].map(port => `${storeIp}:${port}`),
            `${await ipOf("coordinator", "trino-")}:8080`,
            `${await ipOf("worker", "trino-")}:8080`,
        ];
        const clientFacing = [`${host("trino")}:8443`, `${host("docs-site")}:8080`];
        const other = `${namespace}-other`;
        const clients = `${namespace}-clients`;
        otherNamespaces.push(other, clients);
        for (const extra of [other, clients]) {
            await must(["create", "namespace", extra]);
        }
        // Inside the namespace, a pod the policies do not name may not connect anywhere (DNS aside).
        const all = [...clientFacing, ...closedToStrangers];
        expect(await probe(namespace, all)).toEqual(all.map(t => `closed ${t}`));
        // From another namespace, only Trino's and the docs site's ports answer.
        expect(await probe(other, all, clientFacing[0])).toEqual([...clientFacing.map(t => `open ${t}`), ...closedToStrangers.map(t => `closed ${t}`)]);

        await mesh.stack.setConfig("datamesh:allowedClients", { value: clients });
        try {
            await mesh.stack.up();
            expect(await probe(clients, clientFacing, clientFacing[0])).toEqual(clientFacing.map(t => `open ${t}`));
            // The same ports answered this namespace a moment ago.
            expect(await probe(other, clientFacing)).toEqual(clientFacing.map(t => `closed ${t}`));
        } finally {
            await mesh.stack.removeConfig("datamesh:allowedClients");
            await mesh.stack.up();
        }
    });

    it("runs the customers domain stack's server in its own namespace, whose port only pods with Trino's labels in the mesh's namespace reach", async () => {
        const server = `customers-server.${domainNamespace}.svc.cluster.local:5432`;
        const product = (await customersTeam.stack.outputs()).dataProduct.value;
        expect(`${product.endpoint.host}:${product.endpoint.port}`).toBe(server);
        expect((await mesh.stack.outputs()).mesh.value.domains.customers.source).toBe(`stack:${qualifiedStackName("k8s-customers")}`);
        // Trino reads it; the table scan runs on the worker.
        expect((await query("SELECT count(*) FROM customers.public.customers")).rows).toEqual([["100"]]);
        // Probes whose own egress is open, so that only the server's policy decides: in the mesh's namespace with the
        // labels of Trino's coordinator role (and not Trino's Service's), without them, and with them in another namespace.
        const elsewhere = `${namespace}-elsewhere`;
        otherNamespaces.push(elsewhere);
        await must(["create", "namespace", elsewhere]);
        const openEgress = { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "probe-egress", namespace }, spec: { podSelector: { matchLabels: { "datamesh-test/probe": "true" } }, policyTypes: ["Egress"], egress: [{}] } };
        await must(["apply", "-f", "-"], JSON.stringify(openEgress));
        try {
            const trinoRole = { "app.kubernetes.io/part-of": "datamesh", "app.kubernetes.io/component": "coordinator" };
            const trino = `trino.${namespace}.svc.cluster.local:8443`;
            const [asTrino, stranger, asTrinoElsewhere] = await Promise.all([
                probe(namespace, [server], server, trinoRole),
                probe(namespace, [server], trino),
                probe(elsewhere, [server], trino, trinoRole),
            ]);
            expect({ asTrino, stranger, asTrinoElsewhere }).toEqual({ asTrino: [`open ${server}`], stranger: [`closed ${server}`], asTrinoElsewhere: [`closed ${server}`] });
        } finally {
            await must(["-n", namespace, "delete", "networkpolicy", "probe-egress"]);
        }
    });

    it("leaves another bridge's containers talking among themselves while it runs, as a Docker bridge network needs", () => {
        // Two network namespaces on a Linux bridge of their own, joined by veths: what Docker makes for a bridge network.
        const tag = crypto.randomBytes(2).toString("hex");
        const [bridge, left, right] = [`dmtbr${tag}`, `dmta${tag}`, `dmtb${tag}`];
        const ip = (...args: string[]) => spawnSync("ip", args, { encoding: "utf8" });
        const mustIp = (...args: string[]) => {
            const outcome = ip(...args);
            expect({ args, status: outcome.status, stderr: outcome.stderr }).toEqual({ args, status: 0, stderr: "" });
        };
        try {
            mustIp("link", "add", bridge, "type", "bridge");
            mustIp("link", "set", bridge, "up");
            for (const [ns, address] of [[left, "192.168.251.1"], [right, "192.168.251.2"]]) {
                mustIp("netns", "add", ns);
                mustIp("link", "add", `veth${ns}`, "type", "veth", "peer", "name", `ct${ns}`);
                mustIp("link", "set", `ct${ns}`, "netns", ns);
                mustIp("link", "set", `veth${ns}`, "master", bridge);
                mustIp("link", "set", `veth${ns}`, "up");
                mustIp("-n", ns, "addr", "add", `${address}/24`, "dev", `ct${ns}`);
                mustIp("-n", ns, "link", "set", `ct${ns}`, "up");
            }
            const ping = spawnSync("ip", ["netns", "exec", left, "busybox", "ping", "-c", "3", "-W", "2", "192.168.251.2"], { encoding: "utf8" });
            expect({ status: ping.status, received: /(\d+) packets received/.exec(ping.stdout)?.[1] }).toEqual({ status: 0, received: "3" });
        } finally {
            for (const ns of [left, right]) {
                ip("netns", "del", ns);
                ip("link", "del", `veth${ns}`);
            }
            ip("link", "del", bridge);
        }
    });

    it("refuses to evict the coordinator, whose budget allows no disruption", async () => {
        const [coordinator] = (await podsOf("coordinator")).filter(p => p.startsWith("trino-"));
        const eviction = JSON.stringify({ apiVersion: "policy/v1", kind: "Eviction", metadata: { name: coordinator, namespace } });
        const outcome = await kubectl(target, ["create", "--raw", `/api/v1/namespaces/${namespace}/pods/${coordinator}/eviction`, "-f", "-"], { input: eviction });
        expect(outcome.status).not.toBe(0);
        expect(outcome.stderr).toMatch(/disruption budget/);
        expect(await podsOf("coordinator")).toContain(coordinator);
    });

    it("keeps a running query through a worker rollout that a configuration change starts: the old worker drains before it exits", async () => {
        const workers = async () => (await podsOf("worker")).filter(p => p.startsWith("trino-worker-"));
        const [oldWorker] = await workers();
        await mesh.stack.setConfig("datamesh:workerGracePeriod", { value: "20" });
        const rollout = mesh.stack.up();
        // Once the new worker exists, and while its Trino is still starting, a query starts: only the old worker can take it.
        const deadline = Date.now() + 300_000;
        while (Date.now() < deadline && (await workers()).every(p => p === oldWorker)) {
            await new Promise(resolve => setTimeout(resolve, 1_000));
        }
        // 10^4 x 10^4 x 40 rows; the sum is known in closed form: (n(n+1)/2)^2 * 40.
        const marker = `drain_${Date.now()}`;
        let finished = false;
        const heavy = query(
            `SELECT sum(a * b) AS ${marker} FROM UNNEST(sequence(1, 10000)) x(a) CROSS JOIN UNNEST(sequence(1, 10000)) y(b) CROSS JOIN UNNEST(sequence(1, 40)) z(c)`,
        ).finally(() => {
            finished = true;
        });
        // Its tasks run on the old worker (a node's id is its pod's name).
        let nodes: string[][] = [];
        while (Date.now() < deadline && nodes.length === 0 && !finished) {
            await new Promise(resolve => setTimeout(resolve, 1_000));
            nodes = (
                await query(
                    `SELECT DISTINCT t.node_id FROM system.runtime.tasks t JOIN system.runtime.queries q ON t.query_id = q.query_id WHERE q.query LIKE '%AS ${marker} FROM%' AND q.query NOT LIKE '%system.runtime%' AND q.state = 'RUNNING'`,
                )
            ).rows;
        }
        expect(nodes).toEqual([[oldWorker]]);
        // The old worker is asked to shut down while the query still runs on it.
        let askedWhileRunning: boolean | undefined;
        while (Date.now() < deadline && askedWhileRunning === undefined) {
            const old = await kubectl(target, ["-n", namespace, "get", "pod", oldWorker, "--ignore-not-found", "-o", "jsonpath={.metadata.deletionTimestamp}"]);
            if (old.stdout.trim() !== "" || !(await workers()).includes(oldWorker)) {
                askedWhileRunning = !finished;
            } else {
                await new Promise(resolve => setTimeout(resolve, 1_000));
            }
        }
        expect({ askedWhileRunning, hint: "the query must outlast the new worker's start; make it longer if this fails" }).toEqual({
            askedWhileRunning: true,
            hint: "the query must outlast the new worker's start; make it longer if this fails",
        });
        const result = await heavy;
        expect(result.rows).toEqual([[String((50005000n * 50005000n * 40n).toString())]]);
        await rollout;
        // The up does not wait for the drain: the old worker is gone, or on its way out.
        const left = await kubectl(target, ["-n", namespace, "get", "pod", oldWorker, "--ignore-not-found", "-o", "jsonpath={.metadata.deletionTimestamp}"]);
        expect({ oldWorker: left.stdout.trim() === "" && (await workers()).includes(oldWorker) ? "still serving" : "leaving or gone" }).toEqual({ oldWorker: "leaving or gone" });
        const config = await must(["-n", namespace, "get", "configmap", "trino-worker", "-o", "jsonpath={.data.config\\.properties}"]);
        expect(config).toMatch(/^shutdown\.grace-period=20s$/m);
    });

    it("scales the workers on CPU: created without waiting on a missing metrics API, then from 1 to 2 under a heavy query load and back to 1 once the load stops, every query answering right", async () => {
        const readyWorkers = async () =>
            (await kubectlJson<{ items: { metadata: { name: string; deletionTimestamp?: string }; status: { conditions?: { type: string; status: string }[] } }[] }>(target, ["-n", namespace, "get", "pods", "-l", "app.kubernetes.io/component=worker"])).items.filter(
                p => !p.metadata.deletionTimestamp && (p.status.conditions ?? []).some(c => c.type === "Ready" && c.status === "True"),
            ).length;
        await mesh.stack.setConfig("datamesh:workers", { value: '{"min":1,"max":2}' });
        // Short: the load stops once the second worker is ready, so no dip during the load can take it away early.
        await mesh.stack.setConfig("datamesh:workerScaleDownWindow", { value: "5" });
        // First as on a cluster without a metrics API: the autoscaler is created, says why it cannot scale, and up does not wait on it.
        const metricsApi = "v1beta1.metrics.k8s.io";
        const registration = JSON.parse(await must(["get", "apiservice", metricsApi, "-o", "json"]));
        await must(["delete", "apiservice", metricsApi]);
        try {
            await mesh.stack.up();
            const deadline = Date.now() + 120_000;
            let scalingActive: { status: string; reason: string; message: string } | undefined;
            while (Date.now() < deadline && scalingActive?.status !== "False") {
                await new Promise(resolve => setTimeout(resolve, 5_000));
                const hpa = await kubectlJson<{ status: { conditions?: { type: string; status: string; reason: string; message: string }[] } }>(target, ["-n", namespace, "get", "hpa", "trino-worker"]);
                scalingActive = hpa.status.conditions?.find(c => c.type === "ScalingActive");
            }
            expect(scalingActive).toMatchObject({ status: "False", reason: "FailedGetResourceMetric", message: expect.stringContaining("metrics") });
        } finally {
            const { metadata, spec } = registration;
            await must(["apply", "-f", "-"], JSON.stringify({ apiVersion: registration.apiVersion, kind: registration.kind, metadata: { name: metadata.name, labels: metadata.labels }, spec }));
        }
        const metricsBack = Date.now() + 120_000;
        while (Date.now() < metricsBack && (await kubectl(target, ["get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes"])).status !== 0) {
            await new Promise(resolve => setTimeout(resolve, 2_000));
        }
        expect(await readyWorkers()).toBe(1);
        const expected = String(50005000n * 50005000n * 4n);
        const heavy = `SELECT sum(a * b) FROM UNNEST(sequence(1, 10000)) x(a) CROSS JOIN UNNEST(sequence(1, 10000)) y(b) CROSS JOIN UNNEST(sequence(1, 4)) z(c)`;
        const answers: string[] = [];
        let loading = true;
        // Two streams of CPU-bound queries, until the autoscaler has added a worker.
        const load = Promise.all(
            [0, 1].map(async () => {
                while (loading) {
                    answers.push((await query(heavy)).rows[0][0]);
                }
            }),
        );
        const deadline = Date.now() + 600_000;
        while (Date.now() < deadline && (await readyWorkers()) < 2) {
            await new Promise(resolve => setTimeout(resolve, 5_000));
        }
        loading = false;
        await load;
        expect(await readyWorkers()).toBe(2);
        // Light queries keep answering while the idle worker drains and leaves.
        const light: string[] = [];
        while (Date.now() < deadline && (await readyWorkers()) > 1) {
            light.push((await query("SELECT count(*) FROM insights.jaffle_shop.dim_customers", "analyst")).rows[0][0]);
            await new Promise(resolve => setTimeout(resolve, 5_000));
        }
        expect(await readyWorkers()).toBe(1);
        expect(answers.length).toBeGreaterThan(0);
        expect([...new Set(answers)]).toEqual([expected]);
        expect(light.length).toBeGreaterThan(0);
        expect([...new Set(light)].length).toBe(1);
        await mesh.stack.setConfig("datamesh:workers", { value: "1" });
        await mesh.stack.removeConfig("datamesh:workerScaleDownWindow");
        await mesh.stack.up();
    });

    it("changes nothing and starts no Job on a second pulumi up", async () => {
        const before = await jobNames();
        const result = await mesh.stack.up();
        expect(Object.keys(result.summary.resourceChanges ?? {})).toEqual(["same"]);
        expect(await jobNames()).toEqual(before);
    });

    it("re-runs exactly the dbt Job, the check Job and the docs Job when a model changes, and serves the new docs", async () => {
        const before = await jobNames();
        const docsServers = await podsOf("docs");
        const downloads = packageDownloads().length;
        fs.appendFileSync(path.join(mesh.projectDir, "dbt", "models", "marts", "fct_orders.sql"), "\n-- edited by the integration test\n");
        await mesh.stack.up();
        const after = await jobNames();
        const started = after.filter(name => !before.includes(name));
        expect(started.map(name => name.replace(/-[0-9a-f]{10}$/, "")).sort()).toEqual(["check-reconciliation", "dbt-run", "docs-site-generate"]);
        // The second dbt Job started dbt from the toolchain volume: no pod fetched a package.
        expect(packageDownloads()).toHaveLength(downloads);
        const secondRun = await must(["-n", namespace, "logs", `job/${started.find(name => name.startsWith("dbt-run-"))}`]);
        expect(secondRun).toMatch(/^dbt: \/opt\/datamesh\/dbt-toolchain\/venv\/bin\/dbt$/m);
        expect(secondRun).not.toMatch(/Collecting|Downloading/);
        await expectInsightsToEqual(EXPECTED_DIR);
        // The same server pod serves the new page: the swap needs no restart.
        expect(await podsOf("docs")).toEqual(docsServers);
        expect(await docsPage()).toContain("edited by the integration test");
    });

    it("loses no insights when the coordinator and worker pods are deleted", async () => {
        const before = await query(`SELECT * FROM ${INSIGHTS}.dim_customers ORDER BY customer_id`, "analyst");
        const pods = [...(await podsOf("coordinator")), ...(await podsOf("worker"))].filter(p => p.startsWith("trino-"));
        expect(pods).toHaveLength(2);
        await must(["-n", namespace, "delete", "pod", ...pods, "--wait=true"]);
        await must(["-n", namespace, "rollout", "status", "deployment/trino-coordinator", "--timeout=600s"]);
        await must(["-n", namespace, "rollout", "status", "deployment/trino-worker", "--timeout=600s"]);
        const deadline = Date.now() + 300_000;
        let after: TextTable | undefined;
        while (!after && Date.now() < deadline) {
            after = await query(`SELECT * FROM ${INSIGHTS}.dim_customers ORDER BY customer_id`, "analyst").catch(() => undefined);
            if (!after) {
                await new Promise(resolve => setTimeout(resolve, 5_000));
            }
        }
        expect(after).toEqual(before);
    });

    it("keeps a domain's rows when its database pod is deleted and rescheduled (its volume claim)", async () => {
        await must(["-n", namespace, "delete", "pod", "orders-server-0", "--wait=true"]);
        await must(["-n", namespace, "rollout", "status", "statefulset/orders-server", "--timeout=600s"]);
        const deadline = Date.now() + 300_000;
        let rows: string[][] | undefined;
        while (!rows && Date.now() < deadline) {
            rows = (await query("SELECT count(*), sum(id) FROM orders.orders.orders").catch(() => undefined))?.rows;
            if (!rows) {
                await new Promise(resolve => setTimeout(resolve, 5_000));
            }
        }
        expect(rows).toEqual([["99", String((99 * 100) / 2)]]);
    });

    // The image tests heal with full `up`s, one of them a new dbt run: here, before the odd-cents and scale=1000 data
    // sets, each rebuilds and checks 100 customers rather than 100,000.
    it("fails pulumi up within minutes when a Job's image cannot be pulled, naming the image and the pod", async () => {
        const image = "datamesh-test/no-such-image:1";
        await mesh.stack.setConfig("datamesh:dbtImage", { value: image });
        try {
            const started = Date.now();
            // The first Job that runs the dbt image is the toolchain's install.
            await expect(mesh.stack.up()).rejects.toThrow(
                new RegExp(`dbt: Job ${namespace}/dbt-run-toolchain-install-[0-9a-f]{10} cannot run: pod ${namespace}/dbt-run-toolchain-install-[0-9a-f]{10}-\\w+ cannot start container dbt-toolchain from image ${image}: (ErrImagePull|ImagePullBackOff)`),
            );
            expect(Date.now() - started).toBeLessThan(300_000);
        } finally {
            await mesh.stack.setConfig("datamesh:dbtImage", { value: cluster.settings.dbtImage });
        }
        // The fix comes with a model edit, so the run is new, whatever the failed run left behind.
        fs.appendFileSync(path.join(mesh.projectDir, "dbt", "models", "marts", "fct_orders.sql"), "\n-- edited again by the integration test\n");
        await mesh.stack.up();
        expect((await mesh.stack.outputs()).check.value).toMatch(/^OK: dim_customers 100 rows = audit 100, .*\(model change\)$/);
    });

    it.each([
        ["docsImage", "docs: Deployment {ns}/docs-site cannot start: pod {ns}/docs-site-[a-z0-9]+-[a-z0-9]+ cannot start container server from image {image}"],
        ["mariadbImage", "orders: StatefulSet {ns}/orders-server cannot start: pod {ns}/orders-server-0 cannot start container mariadb from image {image}"],
    ])("fails pulumi up within minutes when %s cannot be pulled, naming the workload, the pod and the image, and heals once it is fixed", async (key, expected) => {
        const image = "datamesh-test/no-such-image:2";
        const good = cluster.settings[key];
        await mesh.stack.setConfig(`datamesh:${key}`, { value: image });
        try {
            const started = Date.now();
            const message = await mesh.stack.up().then(
                () => "pulumi up succeeded",
                (error: Error) => error.message,
            );
            const pattern = expected.replace(/\{ns\}/g, namespace).replace("{image}", image.replace(/[.]/g, "\\."));
            expect(message).toMatch(new RegExp(`${pattern}: (ErrImagePull|ImagePullBackOff)`));
            expect(Date.now() - started).toBeLessThan(300_000);
        } finally {
            await mesh.stack.setConfig(`datamesh:${key}`, { value: good });
        }
        await mesh.stack.up();
        const outputs = await mesh.stack.outputs();
        expect(outputs.check.value).toMatch(/^OK: dim_customers 100 rows = audit 100, /);
        expect(outputs.domains.value.orders.rows.orders).toBeGreaterThan(0);
    });

    it("gives exact insights for the odd-cents data set, against its independently computed result", async () => {
        const dataDir = path.join(mesh.projectDir, "odd-cents");
        fs.cpSync(path.join(ODD_CENTS, "data"), dataDir, { recursive: true });
        // The customers team loads its rows of the data set, the mesh the others'.
        await customersTeam.stack.setConfig("datamesh:dataDir", { value: dataDir });
        await customersTeam.stack.up();
        await mesh.stack.setConfig("datamesh:dataDir", { value: dataDir });
        await mesh.stack.up();
        await expectInsightsToEqual(path.join(ODD_CENTS, "expected"));
    });

    it("loads and checks 100,000 customers (datamesh:scale=1000) without any data-size limit", async () => {
        for (const team of [customersTeam, mesh]) {
            await team.stack.removeConfig("datamesh:dataDir");
            await team.stack.setConfig("datamesh:scale", { value: "1000" });
            await team.stack.up();
        }
        const outputs = await mesh.stack.outputs();
        expect(outputs.domains.value.customers.rows.customers).toBe(100_000);
        expect(outputs.check.value).toMatch(/^OK: dim_customers 100000 rows = audit 100000, .*\(domain data change\)$/);
        expect((await query(`SELECT count(*) FROM ${INSIGHTS}.dim_customers`)).rows).toEqual([["100000"]]);
    });

    it("leaves no namespace, pod, volume claim or PersistentVolume of the stack after pulumi destroy, and the customers domain stack's rows", async () => {
        const claims = await kubectlJson<{ items: { spec: { volumeName: string } }[] }>(target, ["-n", namespace, "get", "pvc"]);
        const volumes = claims.items.map(c => c.spec.volumeName);
        // Two domains, the metastore, the warehouse, the docs site and the dbt toolchain: the customers domain's claim is its team's.
        expect(volumes.length).toBe(6);
        await mesh.stack.destroy();
        const deadline = Date.now() + 300_000;
        let left: string[] = [];
        do {
            const namespaces = (await kubectl(target, ["get", "namespace", namespace, "--ignore-not-found", "-o", "name"])).stdout.trim();
            const pvs = await kubectlJson<{ items: { metadata: { name: string } }[] }>(target, ["get", "pv"]);
            left = [...(namespaces ? [namespaces] : []), ...pvs.items.map(pv => pv.metadata.name).filter(name => volumes.includes(name))];
            if (left.length > 0) {
                await new Promise(resolve => setTimeout(resolve, 5_000));
            }
        } while (left.length > 0 && Date.now() < deadline);
        expect(left).toEqual([]);
        expect(await customersInDomain()).toBe(100_000);
    });
});
