import * as child_process from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LocalWorkspace } from "@pulumi/pulumi/automation";
import { bulkLoadCsv, domainRows } from "../lib/dataset";
import { DOMAINS } from "../lib/domains";
import { bulkLoadSql, quoteIdentifier } from "../lib/sql";
import { queryTrino } from "../lib/trinoQuery";
import { loadRows } from "../resources/domainData";
import { readColumns } from "../resources/sourceFingerprint";
import { createMesh, MeshUnderTest, pulumiCommand } from "../tests/integration/harness";

/*
 * Times the stack's life on this machine with the toolchain cached: a cold `pulumi up` of a fresh
 * stack to checked insights, a no-op `pulumi up`, and `pulumi destroy`. Each is the `pulumi`
 * command a user types (with --yes --skip-preview); the no-op is also timed through the Automation
 * API, whose up() reads the stack's outputs and history after the command. Writes every sample and
 * the medians to benchmarks/results.json. Targets: cold up <= 120 s, no-op <= 5 s, one-model edit <= 20 s, destroy <= 30 s.
 * Then one deployment of the synthetic data at each of BENCHMARK_SCALES (default "1000 10000",
 * up to a million customers; "" skips them), with the peak memory of the processes that generate
 * and load the data, and no-op ups, whose cost grows with the data the fingerprint and check read.
 */

const RUNS = Number(process.env.BENCHMARK_RUNS ?? 3);
const SCALES = (process.env.BENCHMARK_SCALES ?? "1000 10000").split(/\s+/).filter(Boolean).map(Number);

/** Peak resident memory, in MiB, of processes whose command line matches, sampled every 500 ms. */
function watchPeakRss(patterns: Record<string, RegExp>): () => Record<string, number> {
    const peaks: Record<string, number> = Object.fromEntries(Object.keys(patterns).map(k => [k, 0]));
    const sample = () => {
        const listing = child_process.execFileSync("ps", ["-eo", "rss=,args="], { encoding: "utf8" });
        const totals: Record<string, number> = Object.fromEntries(Object.keys(patterns).map(k => [k, 0]));
        for (const line of listing.split("\n")) {
            const match = /^\s*(\d+)\s+(.*)$/.exec(line);
            if (!match) {
                continue;
            }
            for (const [name, pattern] of Object.entries(patterns)) {
                if (pattern.test(match[2])) {
                    totals[name] += Number(match[1]) / 1024;
                }
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

/** Runs the Pulumi CLI on the mesh's stack as a user would, with the workspace's environment. */
async function pulumiCli(mesh: MeshUnderTest, args: string[]): Promise<void> {
    const { command } = await pulumiCommand();
    const workspace = mesh.stack.workspace as LocalWorkspace;
    const env = { ...process.env, ...workspace.envVars, ...(workspace.pulumiHome ? { PULUMI_HOME: workspace.pulumiHome } : {}) };
    await new Promise<void>((resolve, reject) => {
        child_process.execFile(command, [...args, "--yes", "--skip-preview", "--non-interactive", "--stack", mesh.stack.name], { cwd: mesh.projectDir, env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
            error ? reject(new Error(`pulumi ${args.join(" ")} failed: ${error.message}\n${stdout}\n${stderr}`)) : resolve(),
        );
    });
}

interface DomainOutput {
    engine: "postgresql" | "mariadb";
    host: string;
    port: number;
    database: string;
    user: string;
    password: string;
}

/**
 * Loads each domain's rows at this scale twice into empty scratch tables of the domain's own
 * database: once with the stack's loader (rows generated and streamed into the engine's bulk
 * loader in one transaction), once with the engine's own client reading the same rows from a CSV
 * file (psql's \copy, mariadb's LOAD DATA LOCAL INFILE). Seconds for each, by domain.
 */
async function compareLoads(mesh: MeshUnderTest, scale: number): Promise<Record<string, { stackLoader: number; engineClient: number; rows: number }>> {
    const domains = (await mesh.stack.outputs()).domains.value as Record<string, DomainOutput>;
    const results: Record<string, { stackLoader: number; engineClient: number; rows: number }> = {};
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "datamesh-bench-loads-"));
    try {
        for (const domain of DOMAINS) {
            const target = domains[domain.name];
            const source = { kind: "synthetic" as const, scale };
            const file = path.join(dir, `${domain.name}.csv`);
            let rows = 0;
            fs.writeFileSync(file, Buffer.concat([...bulkLoadCsv(domainRows(domain, source), counted => (rows = counted))]));
            const scratch = (table: string) => quoteIdentifier(target.engine, table);
            const sql = (statement: string) =>
                target.engine === "postgresql"
                    ? child_process.execFileSync("psql", ["-q", "-v", "ON_ERROR_STOP=1", "-h", target.host, "-p", String(target.port), "-U", target.user, "-d", target.database, "-c", statement], {
                          env: { ...process.env, PGPASSWORD: target.password },
                      })
                    : child_process.execFileSync("mariadb", ["--local-infile=1", "-h", target.host, "-P", String(target.port), "-u", target.user, target.database, "-e", statement], {
                          env: { ...process.env, MYSQL_PWD: target.password },
                      });
            const like = (table: string) =>
                target.engine === "postgresql" ? `CREATE TABLE ${scratch(table)} (LIKE ${scratch(domain.table)} INCLUDING ALL)` : `CREATE TABLE ${scratch(table)} LIKE ${scratch(domain.table)}`;
            for (const table of ["bench_stack_loader", "bench_engine_client"]) {
                sql(`DROP TABLE IF EXISTS ${scratch(table)}`);
                sql(like(table));
            }
            try {
                const stackLoader = await timed(() =>
                    loadRows({
                        engine: target.engine,
                        host: target.host,
                        port: target.port,
                        owner: { user: target.user, password: target.password },
                        database: target.database,
                        domain: { ...domain, table: "bench_stack_loader" },
                        source,
                        fingerprint: "benchmark",
                    }),
                );
                const engineClient = await timed(async () => {
                    if (target.engine === "postgresql") {
                        const columns = domain.columns.map(c => quoteIdentifier("postgresql", c.name)).join(", ");
                        sql(`\\copy ${scratch("bench_engine_client")} (${columns}) FROM '${file}' WITH (FORMAT csv)`);
                    } else {
                        sql(bulkLoadSql("mariadb", { ...domain, table: "bench_engine_client" }).replace("'rows.csv'", `'${file}'`));
                    }
                });
                results[domain.name] = { stackLoader, engineClient, rows };
            } finally {
                for (const table of ["bench_stack_loader", "bench_engine_client"]) {
                    sql(`DROP TABLE IF EXISTS ${scratch(table)}`);
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
    const sources = DOMAINS.map(d => ({ catalog: d.name, schema: d.trinoSchema, table: d.table }));
    const columns = await readColumns(dbt, sources, "benchmark");
    const scan = sources
        .map((source, i) => `SELECT count(*) AS rows, checksum(ROW(${columns[i].map(([name]) => `"${name}"`).join(", ")})) AS digest FROM ${source.catalog}.${source.schema}.${source.table}`)
        .join(" UNION ALL ");
    return timed(() => queryTrino(dbt, scan));
}

async function main() {
    const samples: { coldUp: number; noopUp: number; noopUpAutomationApi: number; modelEditUp: number; destroy: number }[] = [];
    for (let run = 1; run <= RUNS; run++) {
        const mesh = await createMesh(`bench${run}`);
        try {
            const coldUp = await timed(() => pulumiCli(mesh, ["up"]));
            const noopUp = await timed(() => pulumiCli(mesh, ["up"]));
            const noopUpAutomationApi = await timed(() => mesh.stack.up());
            // One model edited: from `pulumi up` to the rebuilt run checked and published.
            fs.appendFileSync(path.join(mesh.projectDir, "dbt", "models", "marts", "fct_orders.sql"), "\n-- edited by the benchmark\n");
            const modelEditUp = await timed(() => pulumiCli(mesh, ["up"]));
            const destroy = await timed(() => pulumiCli(mesh, ["destroy"]));
            samples.push({ coldUp, noopUp, noopUpAutomationApi, modelEditUp, destroy });
            console.log(
                `run ${run}/${RUNS}: cold up ${coldUp.toFixed(1)} s, no-op up ${noopUp.toFixed(1)} s (Automation API ${noopUpAutomationApi.toFixed(1)} s), one-model edit ${modelEditUp.toFixed(1)} s, destroy ${destroy.toFixed(1)} s`,
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
    };
    const targets = { coldUpSeconds: 120, noopUpSeconds: 5, modelEditUpSeconds: 20, destroySeconds: 30 };
    const scaleRuns: {
        scale: number;
        upSeconds: number;
        noopUpSeconds: number[];
        noopUpMedianSeconds: number;
        peakRssMiB: Record<string, number>;
        check: string;
        sourceScanFloorSeconds: number;
        loads: Record<string, { stackLoader: number; engineClient: number; rows: number }>;
    }[] = [];
    for (const scale of SCALES) {
        const mesh = await createMesh(`benchscale${scale}`, { scale: String(scale) });
        try {
            const stop = watchPeakRss({ dataLoader: /dynamic-provider/, trino: /io\.trino\.server\.TrinoServer/, dbt: /bin\/dbt build/ });
            const upSeconds = await timed(() => pulumiCli(mesh, ["up"]));
            const peakRssMiB = stop();
            const check = String((await mesh.stack.outputs()).check.value);
            // A no-op `up` still reads every source's fingerprint and checks the published insights: its cost grows with the data.
            const noopUpSeconds: number[] = [];
            for (let i = 0; i < RUNS; i++) {
                noopUpSeconds.push(await timed(() => pulumiCli(mesh, ["up"])));
            }
            const sourceScanFloorSeconds = await sourceScanFloor(mesh);
            const loads = await compareLoads(mesh, scale);
            scaleRuns.push({ scale, upSeconds, noopUpSeconds, noopUpMedianSeconds: median(noopUpSeconds), peakRssMiB, check, sourceScanFloorSeconds, loads });
            console.log(
                `scale ${scale}: up ${upSeconds.toFixed(1)} s, no-op up median ${median(noopUpSeconds).toFixed(1)} s, peak RSS ${JSON.stringify(peakRssMiB)} MiB, ` +
                    `source-scan floor ${sourceScanFloorSeconds.toFixed(1)} s, loads ${JSON.stringify(loads)}, ${check}`,
            );
        } finally {
            await mesh.remove();
        }
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
    const file = path.join(__dirname, "results.json");
    fs.writeFileSync(file, JSON.stringify(result, null, 2) + "\n");
    console.log(`medians: cold up ${medians.coldUpSeconds.toFixed(1)} s, no-op up ${medians.noopUpSeconds.toFixed(1)} s, destroy ${medians.destroySeconds.toFixed(1)} s -> ${file}`);
}

main().catch(e => {
    console.error(e);
    process.exit(1);
});
