import * as child_process from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { DataSource, tableBulkLoadCsv } from "../lib/dataset";
import { DOMAINS } from "../lib/domains";
import { jaffleTable } from "../tests/reference";
import { bulkLoadSql, quoteIdentifier } from "../lib/sql";
import { queryTrino } from "../lib/trinoQuery";
import { clientTlsOf, loadRows } from "../resources/domainData";
import { readColumns } from "../resources/sourceFingerprint";
import { CheckTargets } from "../lib/reconcile";
import { readAudits } from "../lib/audits";
import { readVersions } from "../lib/versions";
import { findLocalToolchain } from "../platforms/local/toolchain";
import { runCheckStatement } from "../resources/insightsCheck";
import { createMesh, MeshUnderTest, pulumiCommand, REPO_DIR } from "../tests/integration/harness";
import { centralizedDbt, DbtTimes, FederatedBuild, federatedDbt, loadWarehouse, startWarehouse, Warehouse } from "./baseline";

const CACHE_DIR = process.env.DATAMESH_CACHE ?? path.join(os.homedir(), ".cache", "datamesh");

/*
 * Times the stack's life on this machine with the toolchain cached: a cold `pulumi up` of a fresh
 * stack to checked insights, a no-op `pulumi up`, a one-model edit and `pulumi destroy`. Each is the
 * `pulumi` command a user types (with --yes --skip-preview); the no-op is also timed through the
 * Automation API, whose up() reads the stack's outputs and history after the command. Targets:
 * cold up <= 120 s, no-op <= 5 s, one-model edit <= 20 s, destroy <= 30 s.
 *
 * Then, at each of BENCHMARK_SCALES (default "1 100 1000 10000"; "" skips them), the federated
 * stack beside a centralized baseline built on the same rows (benchmarks/baseline.ts): loads, dbt
 * build (and models and tests apart), the check, the whole deployment, the source-scan floor, the
 * rows each domain hands to Trino per build, the peak memory of every process, and the
 * incremental refresh: one payment, then five thousand orders and five thousand payments, changed
 * by their owners, each to checked, published insights. Samples and medians go to
 * benchmarks/results.json (or BENCHMARK_RESULTS, for a partial run); each model's plan at
 * BENCHMARK_EXPLAIN_SCALE to docs/explain. BENCHMARK_CANONICAL=0 skips the canonical stacks.
 */

const RUNS = Number(process.env.BENCHMARK_RUNS ?? 3);
/** The scale whose models' plans are written to docs/explain (EXPLAIN of each model's compiled SQL). */
const EXPLAIN_SCALE = Number(process.env.BENCHMARK_EXPLAIN_SCALE ?? 1000);
const SCALES = (process.env.BENCHMARK_SCALES ?? "1 100 1000 10000").split(/\s+/).filter(Boolean).map(Number);

/** What the benchmark watches, by process: every process the stack and the baseline start. */
const PROCESSES: Record<string, RegExp> = {
    pulumiCli: /bin\/pulumi (up|destroy|preview)\b/,
    languageHost: /pulumi-language-nodejs/,
    program: /node .*(ts-node|@pulumi\/pulumi\/cmd\/run)/,
    dynamicProvider: /dynamic-provider/,
    trino: /io\.trino\.server\.TrinoServer/,
    postgresql: /postgres(:| -D)/,
    mariadb: /mariadbd|mysqld/,
    dbt: /bin\/dbt (build|run|test)\b/,
};

/**
 * Peak resident memory, in MiB, of the processes whose command line matches each pattern, sampled
 * every 500 ms, and the peak of their sum (`total`): one sample's sum, never a sum of peaks.
 */
function watchPeakRss(patterns: Record<string, RegExp> = PROCESSES): () => Record<string, number> {
    const peaks: Record<string, number> = Object.fromEntries([...Object.keys(patterns), "total"].map(k => [k, 0]));
    const sample = () => {
        const listing = child_process.execFileSync("ps", ["-eo", "rss=,args="], { encoding: "utf8" });
        const totals: Record<string, number> = Object.fromEntries([...Object.keys(patterns), "total"].map(k => [k, 0]));
        for (const line of listing.split("\n")) {
            const match = /^\s*(\d+)\s+(.*)$/.exec(line);
            if (!match) {
                continue;
            }
            const name = Object.keys(patterns).find(name => patterns[name].test(match[2]));
            if (name) {
                totals[name] += Number(match[1]) / 1024;
                totals.total += Number(match[1]) / 1024;
            }
        }
        for (const name of Object.keys(peaks)) {
            peaks[name] = Math.max(peaks[name], Math.round(totals[name]));
        }
    };
    const timer = setInterval(sample, 500);
    return () => {
        clearInterval(timer);
        sample();
        return peaks;
    };
}

function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
    const start = process.hrtime.bigint();
    await fn();
    return Number(process.hrtime.bigint() - start) / 1e9;
}

/**
 * A stack as a user deploys it: the test harness's stacks add Trino JVM flags of their own
 * (TEST_TRINO_JVM_OPTIONS), which slow long queries; the benchmark runs the stack's flags alone.
 */
async function userMesh(label: string, config: Record<string, string> = {}): Promise<MeshUnderTest> {
    const mesh = await createMesh(label, config);
    await mesh.stack.removeConfig("datamesh:trinoJvmOptions");
    return mesh;
}

/** The coordinator's JVM flags (-XX: and -Xmx), read from the running process's command line. */
async function trinoJvmFlags(mesh: MeshUnderTest): Promise<string[]> {
    const { pid } = (await mesh.resourceOutputs())["trino-server"];
    return fs
        .readFileSync(`/proc/${pid}/cmdline`, "latin1")
        .split("\0")
        .filter(arg => arg.startsWith("-XX:") || arg.startsWith("-Xmx"));
}

/** Runs the Pulumi CLI on the mesh's stack as a user would, with the workspace's environment. */
async function pulumiCli(mesh: MeshUnderTest, args: string[], extraEnv: Record<string, string> = {}): Promise<void> {
    const { command } = await pulumiCommand();
    const workspace = mesh.stack.workspace as LocalWorkspace;
    const env = { ...process.env, ...workspace.envVars, ...(workspace.pulumiHome ? { PULUMI_HOME: workspace.pulumiHome } : {}), ...extraEnv };
    await new Promise<void>((resolve, reject) => {
        child_process.execFile(command, [...args, "--yes", "--skip-preview", "--non-interactive", "--stack", mesh.stack.name], { cwd: mesh.projectDir, env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
            error ? reject(new Error(`pulumi ${args.join(" ")} failed: ${error.message}\n${stdout}\n${stderr}`)) : resolve(),
        );
    });
}

/** Seconds from the command's start to each resource's step starting and ending, by the resource's name; only resources that changed. */
export type StepTimes = Record<string, { op: string; from: number; to: number }>;

/**
 * A timed `pulumi up`, with each step's time read from the engine's own event log. The log's
 * timestamps are whole seconds, so each event is stamped when it is read instead: the file is
 * read every 100 ms while the command runs.
 */
async function timedSteps(mesh: MeshUnderTest): Promise<{ seconds: number; steps: StepTimes }> {
    const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "datamesh-bench-events-")), "events.jsonl");
    fs.writeFileSync(log, "");
    const start = process.hrtime.bigint();
    const elapsed = () => Math.round((Number(process.hrtime.bigint() - start) / 1e9) * 10) / 10;
    const steps: StepTimes = {};
    const begun: Record<string, number> = {};
    let offset = 0;
    let partial = "";
    const read = () => {
        const text = fs.readFileSync(log, "utf8");
        const lines = (partial + text.slice(offset)).split("\n");
        offset = text.length;
        partial = lines.pop() ?? "";
        for (const line of lines.filter(Boolean)) {
            const event = JSON.parse(line);
            const now = elapsed();
            if (event.resourcePreEvent) {
                begun[event.resourcePreEvent.metadata.urn] = now;
            }
            const outputs = event.resOutputsEvent?.metadata;
            if (outputs && outputs.op !== "same" && outputs.type !== "pulumi:pulumi:Stack" && !outputs.type.startsWith("datamesh:index:")) {
                steps[outputs.urn.split("::").pop()] = { op: outputs.op, from: begun[outputs.urn] ?? now, to: now };
            }
        }
    };
    const poll = setInterval(read, 100);
    try {
        // The CLI takes --event-log only with its debug commands on, as the Automation API runs it.
        await pulumiCli(mesh, ["up", "--event-log", log], { PULUMI_DEBUG_COMMANDS: "true" });
        read();
        return { seconds: Number(process.hrtime.bigint() - start) / 1e9, steps };
    } finally {
        clearInterval(poll);
        fs.rmSync(path.dirname(log), { recursive: true, force: true });
    }
}

/** Each step's duration, the median over runs, for the steps every run made. */
function medianSteps(runs: StepTimes[]): Record<string, number> {
    const names = Object.keys(runs[0] ?? {}).filter(name => runs.every(run => run[name]));
    return Object.fromEntries(names.map(name => [name, Math.round(median(runs.map(run => run[name].to - run[name].from)) * 10) / 10]));
}

interface DomainOutput {
    engine: "postgresql" | "mariadb";
    host: string;
    port: number;
    database: string;
    user: string;
    password: string;
    /** How clients must connect: verify-full against the stack's CA where the platform serves TLS. */
    tls: { mode: "require" | "verify-full"; caCert: string | null } | null;
}

interface LoadComparison {
    /** The stack's loader on the rows as the synthetic generator makes them. */
    stackLoader: number;
    /** The stack's loader on the same rows read from a data folder's CSV file (`datamesh:dataDir`). */
    stackLoaderFromFile: number;
    /** The engine's own client on that file. */
    engineClient: number;
    rows: number;
}

/**
 * Loads each domain's rows at this scale three times into empty scratch tables of the domain's own
 * database: with the stack's loader from the generator and from a data folder's CSV file (rows
 * streamed into the engine's bulk loader in one transaction), and with the engine's own client on
 * that file (psql's \copy, mariadb's LOAD DATA LOCAL INFILE). Seconds for each, by domain.
 */
async function compareLoads(mesh: MeshUnderTest, scale: number): Promise<Record<string, LoadComparison>> {
    const domains = (await mesh.stack.outputs()).domains.value as Record<string, DomainOutput>;
    const results: Record<string, LoadComparison> = {};
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "datamesh-bench-loads-"));
    try {
        for (const domain of DOMAINS) {
            const target = domains[domain.name];
            const table = jaffleTable(domain.name);
            const source = { kind: "synthetic" as const, scale };
            const file = path.join(dir, table.file);
            let rows = 0;
            const out = fs.openSync(file, "w");
            fs.writeSync(out, table.columns.map(c => c.name).join(",") + "\n");
            for (const chunk of tableBulkLoadCsv(table, source, counted => (rows = counted))) {
                fs.writeSync(out, chunk);
            }
            fs.closeSync(out);
            const scratch = (table: string) => quoteIdentifier(target.engine, table);
            // The engines' own clients check the server as the stack's loader does: against the stack's CA.
            const caFile = path.join(dir, `${domain.name}-ca.pem`);
            if (target.tls?.caCert) {
                fs.writeFileSync(caFile, target.tls.caCert);
            }
            const clientTls = target.tls?.caCert
                ? target.engine === "postgresql"
                    ? { env: { PGSSLMODE: "verify-full", PGSSLROOTCERT: caFile }, args: [] }
                    : { env: {}, args: [`--ssl-ca=${caFile}`, "--ssl-verify-server-cert"] }
                : { env: {}, args: [] };
            const sql = (statement: string) =>
                target.engine === "postgresql"
                    ? child_process.execFileSync("psql", ["-q", "-v", "ON_ERROR_STOP=1", "-h", target.host, "-p", String(target.port), "-U", target.user, "-d", target.database, "-c", statement], {
                          env: { ...process.env, PGPASSWORD: target.password, ...clientTls.env },
                      })
                    : child_process.execFileSync("mariadb", ["--local-infile=1", ...clientTls.args, "-h", target.host, "-P", String(target.port), "-u", target.user, target.database, "-e", statement], {
                          env: { ...process.env, MYSQL_PWD: target.password },
                      });
            const like = (scratchTable: string) =>
                target.engine === "postgresql" ? `CREATE TABLE ${scratch(scratchTable)} (LIKE ${scratch(table.name)} INCLUDING ALL)` : `CREATE TABLE ${scratch(scratchTable)} LIKE ${scratch(table.name)}`;
            const scratchTables = ["bench_stack_loader", "bench_stack_file", "bench_engine_client"];
            for (const scratchTable of scratchTables) {
                sql(`DROP TABLE IF EXISTS ${scratch(scratchTable)}`);
                sql(like(scratchTable));
            }
            const stackLoad = (scratchTable: string, from: DataSource) =>
                timed(() =>
                    loadRows({
                        engine: target.engine,
                        host: target.host,
                        port: target.port,
                        ...(target.tls?.caCert ? { tls: { mode: target.tls.mode, caPem: target.tls.caCert, caFile } } : {}),
                        owner: { user: target.user, password: target.password },
                        database: target.database,
                        domainName: domain.name,
                        tables: [table],
                        intoTables: { [table.name]: scratchTable },
                        source: from,
                        fingerprint: "benchmark",
                    }),
                );
            try {
                const stackLoader = await stackLoad("bench_stack_loader", source);
                const stackLoaderFromFile = await stackLoad("bench_stack_file", { kind: "files", dir });
                const engineClient = await timed(async () => {
                    if (target.engine === "postgresql") {
                        const columns = table.columns.map(c => quoteIdentifier("postgresql", c.name)).join(", ");
                        sql(`\\copy ${scratch("bench_engine_client")} (${columns}) FROM '${file}' WITH (FORMAT csv, HEADER true)`);
                    } else {
                        sql(bulkLoadSql("mariadb", { ...table, name: "bench_engine_client" }).replace("'rows.csv'", `'${file}'`).replace("LINES TERMINATED BY '\\n' (", "LINES TERMINATED BY '\\n' IGNORE 1 LINES ("));
                    }
                });
                results[domain.name] = { stackLoader, stackLoaderFromFile, engineClient, rows };
            } finally {
                for (const scratchTable of scratchTables) {
                    sql(`DROP TABLE IF EXISTS ${scratch(scratchTable)}`);
                }
            }
        }
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
    return results;
}

/**
 * The source-scan floor: one Trino statement that reads every column dbt may see of every domain
 * row once, as dbt. No build of the insights through Trino can read the domains faster.
 */
async function sourceScanFloor(mesh: MeshUnderTest): Promise<number> {
    const dbt = await mesh.connection("dbt");
    const sources = DOMAINS.map(d => ({ catalog: d.name, schema: d.trinoSchema, table: jaffleTable(d.name).name }));
    const columns = await readColumns(dbt, sources, "benchmark");
    const scan = sources
        .map((source, i) => `SELECT count(*) AS rows, checksum(ROW(${columns[i].map(([name]) => `"${name}"`).join(", ")})) AS digest FROM ${source.catalog}.${source.schema}.${source.table}`)
        .join(" UNION ALL ");
    return timed(() => queryTrino(dbt, scan));
}

interface Pair {
    federated: number;
    centralized: number;
    /** federated / centralized. */
    ratio: number;
}

/** The stack's dbt, from the cached toolchain. */
function dbtTrino(): string {
    return findLocalToolchain({ cacheDir: CACHE_DIR, trinoVersion: readVersions().TRINO_VERSION, projectDir: REPO_DIR }).dbtBin;
}

function pair(federated: number, centralized: number): Pair {
    return { federated, centralized, ratio: Math.round((federated / centralized) * 100) / 100 };
}

interface ScaleRun {
    scale: number;
    /** The federated `pulumi up` of a fresh stack, to checked and published insights. */
    upSeconds: number;
    /** The coordinator's JVM flags, read from its command line: what the timings ran with. */
    trinoJvmFlags: string[];
    noopUpSeconds: number[];
    noopUpMedianSeconds: number;
    /** During the cold up: each process group's peak, and the peak of the whole stack (`total`). */
    peakRssMiB: Record<string, number>;
    /** During the dbt builds of both sides and the loads, after the up. */
    peakRssMiBAfterUp: Record<string, number>;
    check: string;
    /** Where the cold up's seconds went: each resource's step, from its start to its end, in seconds from the command's start. */
    upSteps: StepTimes;
    /** One payment changed by its owner, then `pulumi up` to checked, published insights, RUNS times. */
    oneRowChangedSeconds: number[];
    /** Each step's duration in those runs, medians. */
    oneRowChangedStepSeconds: Record<string, number>;
    oneRowChangedMedianSeconds: number;
    /** Five thousand orders and five thousand payments changed by their owners, then `pulumi up`, RUNS times. */
    tenThousandRowsChangedSeconds: number[];
    tenThousandRowsChangedMedianSeconds: number;
    tenThousandRowsChangedStepSeconds: Record<string, number>;
    /** How each of those runs was planned, read back from the stack (`mesh.insights.refresh`) and its check. */
    refreshes: { refresh: string; check: string }[];
    sourceScanFloorSeconds: number[];
    /** The check's statement on the published insights, through Trino. */
    checkSeconds: number[];
    federatedDbt: FederatedBuild[];
    centralizedDbt: DbtTimes[];
    /** Medians, federated beside centralized. */
    compared: {
        loads: Pair;
        dbtModels: Pair;
        dbtTests: Pair;
        dbtBuild: Pair;
        /** The federated `pulumi up` beside the centralized load and build. */
        whole: Pair;
        /** The federated dbt build over the source-scan floor. */
        dbtBuildOverScanFloor: number;
    };
    loads: Record<string, LoadComparison>;
    centralizedLoads: Record<string, number>;
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

/** Writes as the domains' owners do, straight into their own databases. */
async function ownerWrites(mesh: MeshUnderTest, writes: { orders?: string; payments?: string }): Promise<void> {
    const domains = (await mesh.stack.outputs()).domains.value;
    if (writes.orders) {
        const mysql = require("mysql2/promise");
        const { host, port, user, password, database, tls } = domains.orders;
        const connection = await mysql.createConnection({ host, port, user, password, database, ...clientTlsOf("mariadb", tls) });
        await connection.query(writes.orders);
        await connection.end();
    }
    if (writes.payments) {
        const pg = require("pg");
        const { host, port, user, password, database, tls } = domains.payments;
        const client = new pg.Client({ host, port, user, password, database, ...clientTlsOf("postgresql", tls) });
        await client.connect();
        await client.query(writes.payments);
        await client.end();
    }
}

/**
 * One scale: a fresh stack deployed with the synthetic data, its no-op ups, the source-scan floor,
 * the check, the dbt build run again by the benchmark (models, then tests) on the stack's Trino,
 * and the same rows and project in the centralized warehouse, each RUNS times.
 */
async function measureScale(scale: number, warehouse: Warehouse): Promise<ScaleRun> {
    const dbtPostgres = process.env.BENCHMARK_DBT_POSTGRES;
    if (!dbtPostgres || !fs.existsSync(dbtPostgres)) {
        throw new Error(`BENCHMARK_DBT_POSTGRES must name dbt-postgres's dbt (scripts/benchmark.sh installs it from benchmarks/requirements.txt); got '${dbtPostgres ?? ""}'`);
    }
    const mesh = await userMesh(`benchscale${scale}`, { scale: String(scale) });
    try {
        const stop = watchPeakRss();
        const { seconds: upSeconds, steps: upSteps } = await timedSteps(mesh);
        const peakRssMiB = stop();
        const check = String((await mesh.stack.outputs()).check.value);
        const trinoFlags = await trinoJvmFlags(mesh);
        // A no-op `up` still reads every source's fingerprint and checks the published insights: its cost grows with the data.
        const noopUpSeconds: number[] = [];
        for (let i = 0; i < RUNS; i++) {
            noopUpSeconds.push(await timed(() => pulumiCli(mesh, ["up"])));
        }
        const oneRowChangedSeconds: number[] = [];
        const tenThousandRowsChangedSeconds: number[] = [];
        const refreshes: { refresh: string; check: string }[] = [];
        const oneRowSteps: StepTimes[] = [];
        const tenThousandSteps: StepTimes[] = [];
        const refreshed = async (writes: { orders?: string; payments?: string }, stepsOf: StepTimes[]) => {
            await ownerWrites(mesh, writes);
            const { seconds, steps } = await timedSteps(mesh);
            stepsOf.push(steps);
            const outputs = await mesh.stack.outputs();
            const read = { refresh: String(outputs.mesh.value.insights.refresh), check: String(outputs.check.value) };
            // What is timed must be what is claimed: a run that was not incremental is not an incremental refresh.
            if (!read.refresh.startsWith("incremental from ")) {
                throw new Error(`scale ${scale}: the owners' change was not refreshed incrementally: ${read.refresh}`);
            }
            refreshes.push(read);
            return seconds;
        };
        for (let i = 0; i < RUNS; i++) {
            oneRowChangedSeconds.push(await refreshed({ payments: `UPDATE payments SET amount = amount + 1 WHERE id = ${i + 1}` }, oneRowSteps));
        }
        for (let i = 0; i < RUNS; i++) {
            const first = 1 + i * 5000;
            tenThousandRowsChangedSeconds.push(
                await refreshed({
                    orders: `UPDATE orders SET status = CASE status WHEN 'completed' THEN 'shipped' ELSE 'completed' END WHERE id BETWEEN ${first} AND ${first + 4999}`,
                    payments: `UPDATE payments SET amount = amount + 1 WHERE id BETWEEN ${first} AND ${first + 4999}`,
                }, tenThousandSteps),
            );
        }
        const afterUp = watchPeakRss();
        const sourceScanFloorSeconds: number[] = [];
        const checkSeconds: number[] = [];
        const federated: FederatedBuild[] = [];
        const centralized: DbtTimes[] = [];
        const checkConnection = await mesh.connection("check");
        const targets: CheckTargets = { catalog: "insights", schema: "jaffle_shop", audits: readAudits(path.join(REPO_DIR, "dbt"), DOMAINS) };
        for (let i = 0; i < RUNS; i++) {
            sourceScanFloorSeconds.push(await sourceScanFloor(mesh));
            checkSeconds.push(
                await timed(async () => {
                    const verdict = await runCheckStatement(checkConnection, targets);
                    if (!verdict.ok) {
                        throw new Error(`the check failed on the published insights: ${verdict.problems.join("; ")}`);
                    }
                }),
            );
            federated.push(await federatedDbt(mesh, dbtTrino(), i, i === 0 && scale === EXPLAIN_SCALE ? path.join(REPO_DIR, "docs", "explain") : undefined));
        }
        const loads = await compareLoads(mesh, scale);
        const centralizedLoads = await loadWarehouse(warehouse, { kind: "synthetic", scale });
        for (let i = 0; i < RUNS; i++) {
            centralized.push(await centralizedDbt(warehouse, dbtPostgres, i));
        }
        const peakRssMiBAfterUp = afterUp();
        const build = (t: DbtTimes) => t.build;
        const centralizedLoad = sum(Object.values(centralizedLoads));
        const run: ScaleRun = {
            scale,
            upSeconds,
            upSteps,
            trinoJvmFlags: trinoFlags,
            noopUpSeconds,
            noopUpMedianSeconds: median(noopUpSeconds),
            peakRssMiB,
            peakRssMiBAfterUp,
            check,
            oneRowChangedSeconds,
            oneRowChangedMedianSeconds: median(oneRowChangedSeconds),
            oneRowChangedStepSeconds: medianSteps(oneRowSteps),
            tenThousandRowsChangedSeconds,
            tenThousandRowsChangedMedianSeconds: median(tenThousandRowsChangedSeconds),
            tenThousandRowsChangedStepSeconds: medianSteps(tenThousandSteps),
            refreshes,
            sourceScanFloorSeconds,
            checkSeconds,
            federatedDbt: federated,
            centralizedDbt: centralized,
            compared: {
                loads: pair(sum(Object.values(loads).map(l => l.stackLoader)), centralizedLoad),
                dbtModels: pair(median(federated.map(t => t.models)), median(centralized.map(t => t.models))),
                dbtTests: pair(median(federated.map(t => t.tests)), median(centralized.map(t => t.tests))),
                dbtBuild: pair(median(federated.map(build)), median(centralized.map(build))),
                whole: pair(upSeconds, centralizedLoad + median(centralized.map(build))),
                dbtBuildOverScanFloor: Math.round((median(federated.map(build)) / median(sourceScanFloorSeconds)) * 100) / 100,
            },
            loads,
            centralizedLoads,
        };
        console.log(`scale ${scale}: up ${upSeconds.toFixed(1)} s, no-op ${run.noopUpMedianSeconds.toFixed(1)} s, one row changed ${run.oneRowChangedMedianSeconds.toFixed(1)} s, ten thousand ${run.tenThousandRowsChangedMedianSeconds.toFixed(1)} s, peak RSS total ${peakRssMiB.total} MiB; compared ${JSON.stringify(run.compared)}; ${check}`);
        return run;
    } finally {
        await mesh.remove();
    }
}

async function main() {
    const samples: { coldUp: number; noopUp: number; noopUpAutomationApi: number; modelEditUp: number; destroy: number; dbtBuild: number; dbtModels: number; dbtTests: number }[] = [];
    for (let run = 1; run <= (process.env.BENCHMARK_CANONICAL === "0" ? 0 : RUNS); run++) {
        const mesh = await userMesh(`bench${run}`);
        try {
            const coldUp = await timed(() => pulumiCli(mesh, ["up"]));
            const noopUp = await timed(() => pulumiCli(mesh, ["up"]));
            const noopUpAutomationApi = await timed(() => mesh.stack.up());
            // The build alone, on the canonical data: the stack's dbt build run again by the benchmark.
            const canonicalDbt = await federatedDbt(mesh, dbtTrino(), 100 + run);
            // One model edited: from `pulumi up` to the rebuilt run checked and published.
            fs.appendFileSync(path.join(mesh.projectDir, "dbt", "models", "marts", "fct_orders.sql"), "\n-- edited by the benchmark\n");
            const modelEditUp = await timed(() => pulumiCli(mesh, ["up"]));
            const destroy = await timed(() => pulumiCli(mesh, ["destroy"]));
            samples.push({ coldUp, noopUp, noopUpAutomationApi, modelEditUp, destroy, dbtBuild: canonicalDbt.build, dbtModels: canonicalDbt.models, dbtTests: canonicalDbt.tests });
            console.log(
                `run ${run}/${RUNS}: cold up ${coldUp.toFixed(1)} s, dbt build ${canonicalDbt.build.toFixed(1)} s, no-op up ${noopUp.toFixed(1)} s (Automation API ${noopUpAutomationApi.toFixed(1)} s), one-model edit ${modelEditUp.toFixed(1)} s, destroy ${destroy.toFixed(1)} s`,
            );
        } finally {
            await mesh.remove();
        }
    }
    const medians = {
        coldUpSeconds: median(samples.map(s => s.coldUp)),
        noopUpSeconds: median(samples.map(s => s.noopUp)),
        noopUpAutomationApiSeconds: median(samples.map(s => s.noopUpAutomationApi)),
        modelEditUpSeconds: median(samples.map(s => s.modelEditUp)),
        destroySeconds: median(samples.map(s => s.destroy)),
        dbtBuildSeconds: median(samples.map(s => s.dbtBuild)),
        dbtModelsSeconds: median(samples.map(s => s.dbtModels)),
        dbtTestsSeconds: median(samples.map(s => s.dbtTests)),
    };
    const targets = { coldUpSeconds: 120, noopUpSeconds: 5, modelEditUpSeconds: 20, destroySeconds: 30, dbtBuildSeconds: 10 };
    const scaleRuns: ScaleRun[] = [];
    const warehouse = await startWarehouse();
    try {
        for (const scale of SCALES) {
            scaleRuns.push(await measureScale(scale, warehouse));
        }
    } finally {
        await warehouse.stop();
    }
    const result = {
        date: new Date().toISOString(),
        machine: { cpus: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
        runs: RUNS,
        samples,
        medians,
        targets,
        withinTargets: Object.fromEntries(Object.entries(targets).map(([k, target]) => [k, medians[k as keyof typeof targets] <= target])),
        scaleRuns,
    };
    // A partial run (some scales only) can be kept apart from the full results the chart reads.
    const file = path.resolve(__dirname, process.env.BENCHMARK_RESULTS ?? "results.json");
    fs.writeFileSync(file, JSON.stringify(result, null, 2) + "\n");
    console.log(`medians: cold up ${medians.coldUpSeconds.toFixed(1)} s, no-op up ${medians.noopUpSeconds.toFixed(1)} s, destroy ${medians.destroySeconds.toFixed(1)} s -> ${file}`);
}

main().catch(e => {
    console.error(e);
    process.exit(1);
});
