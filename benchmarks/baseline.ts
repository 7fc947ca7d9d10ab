import * as child_process from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";
import * as pg from "pg";
import { DBT_PROFILE_NAME, renderDbtProfile } from "../catalogs/dbt";
import { renderYaml } from "../catalogs/yaml";
import { DataSource } from "../lib/dataset";
import { DOMAINS } from "../lib/domains";
import { jaffleTable } from "../tests/reference";
import { createTableSql } from "../lib/sql";
import { basicAuthorization, queryTrino, TrinoConnection } from "../lib/trinoQuery";
import { readVersions } from "../lib/versions";
import { startServer, stopAndRemove } from "../platforms/local/databaseServer";
import { findLocalToolchain } from "../platforms/local/toolchain";
import { loadRows } from "../resources/domainData";
import { MeshUnderTest, REPO_DIR, freePortRange } from "../tests/integration/harness";

/*
 * The centralized baseline the federated build is measured against: the same rows in one
 * PostgreSQL, and the same dbt project built there by dbt-postgres (a second target), with the
 * same models, tests and source contracts. Both builds run the same dbt commands with the same
 * threads, so the difference is federation through Trino into Iceberg against one local database.
 */

const CACHE_DIR = process.env.DATAMESH_CACHE ?? path.join(os.homedir(), ".cache", "datamesh");
const DBT_THREADS = 4;
const PASSWORD_ENV = "BENCHMARK_DBT_PASSWORD";
const WAREHOUSE = "warehouse";

export interface DbtTimes {
    /** `dbt build`, as the stack runs it: models and tests in dependency order. */
    build: number;
    /** `dbt run` afterwards: the models alone. */
    models: number;
    /** `dbt test` afterwards: the tests alone. */
    tests: number;
    /** dbt's closing lines of the three commands. */
    summaries: string[];
}

/** What a build's run_results.json say of each node: its compiled SQL and the engine's query id. */
interface NodeResult {
    uniqueId: string;
    compiledCode?: string;
    queryId?: string;
}

function seconds(start: bigint): number {
    return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Runs a command to its end without blocking the event loop (the memory watcher samples meanwhile); its exit code and output. */
function runAsync(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; output: string }> {
    return new Promise((resolve, reject) => {
        const child = child_process.spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
        const chunks: Buffer[] = [];
        child.stdout.on("data", chunk => chunks.push(chunk));
        child.stderr.on("data", chunk => chunks.push(chunk));
        child.on("error", reject);
        child.on("close", status => resolve({ status, output: Buffer.concat(chunks).toString("utf8") }));
    });
}

/** `dbt build`, then `dbt run` and `dbt test`, of the project with this profile and vars; each must pass. */
async function runDbtCommands(dbtBin: string, workDir: string, profile: string, vars: Record<string, string>, env: NodeJS.ProcessEnv): Promise<DbtTimes & { nodes: NodeResult[] }> {
    fs.writeFileSync(path.join(workDir, "profiles.yml"), profile, { mode: 0o600 });
    const times: number[] = [];
    const summaries: string[] = [];
    const nodes: NodeResult[] = [];
    for (const command of ["build", "run", "test"]) {
        const start = process.hrtime.bigint();
        const result = await runAsync(
            dbtBin,
            [command, "--project-dir", path.join(REPO_DIR, "dbt"), "--profiles-dir", workDir, "--target-path", path.join(workDir, "target"), "--log-path", path.join(workDir, "logs"), "--vars", JSON.stringify(vars), "--no-use-colors"],
            // As the stack runs dbt: a CA bundle variable in the caller's environment (REQUESTS_CA_BUNDLE) would override the profile's certificate.
            { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME, LANG: "C.UTF-8", DBT_SEND_ANONYMOUS_USAGE_STATS: "false", DO_NOT_TRACK: "1", ...env },
        );
        times.push(seconds(start));
        if (result.status !== 0) {
            throw new Error(`dbt ${command} (${dbtBin}) failed:\n${result.output.split("\n").slice(-40).join("\n")}`);
        }
        summaries.push(result.output.trim().split("\n").filter(line => /Done\. PASS=/.test(line)).pop() ?? "(no summary)");
        if (command !== "build") {
            continue;
        }
        const results: { results: { unique_id: string; compiled_code?: string; adapter_response?: { query_id?: string } }[] } = JSON.parse(fs.readFileSync(path.join(workDir, "target", "run_results.json"), "utf8"));
        nodes.push(...results.results.map(r => ({ uniqueId: r.unique_id, compiledCode: r.compiled_code, queryId: r.adapter_response?.query_id })));
    }
    return { build: times[0], models: times[1], tests: times[2], summaries, nodes };
}

/** GET of a coordinator's REST resource as the connection's user. */
function getJson(connection: TrinoConnection, resource: string): Promise<any> {
    return new Promise((resolve, reject) => {
        const request = https.get(
            new URL(resource, connection.url),
            { ca: connection.caCert, headers: { Authorization: basicAuthorization(connection.user, connection.password ?? ""), "X-Trino-User": connection.user } },
            response => {
                const chunks: Buffer[] = [];
                response.on("data", chunk => chunks.push(chunk));
                response.on("end", () => {
                    const body = Buffer.concat(chunks).toString("utf8");
                    response.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`GET ${resource}: HTTP ${response.statusCode}: ${body.slice(0, 300)}`));
                });
            },
        );
        request.on("error", reject);
    });
}

/**
 * Rows each catalog handed to Trino during these queries, from each query's own statistics: the
 * physical input of the scan operators of every stage, attributed to the catalog of the table its
 * plan fragment scans. For a domain catalog that is what crossed from its database to Trino.
 */
export async function rowsReadByCatalog(connection: TrinoConnection, queryIds: string[]): Promise<Record<string, number>> {
    const rows: Record<string, number> = {};
    for (const queryId of queryIds) {
        const info = await getJson(connection, `/v1/query/${queryId}`);
        const catalogsByStage = new Map<number, Set<string>>();
        const walkStages = (stage: any) => {
            if (!stage) {
                return;
            }
            const catalogs = new Set<string>();
            const walkPlan = (node: any) => {
                if (Array.isArray(node)) {
                    node.forEach(walkPlan);
                } else if (node && typeof node === "object") {
                    if (node["@type"] === "tableScan") {
                        catalogs.add(String(node.table?.catalogHandle ?? "").split(":")[0]);
                    }
                    Object.values(node).forEach(walkPlan);
                }
            };
            walkPlan(stage.plan?.root);
            catalogsByStage.set(Number(String(stage.stageId).split(".").pop()), catalogs);
            (stage.subStages ?? []).forEach(walkStages);
        };
        walkStages(info.outputStage);
        for (const operator of info.queryStats?.operatorSummaries ?? []) {
            if (!/^(TableScan|ScanFilterAndProject)Operator$/.test(operator.operatorType)) {
                continue;
            }
            const catalogs = [...(catalogsByStage.get(operator.stageId) ?? [])];
            const catalog = catalogs.length === 1 ? catalogs[0] : `(stage of ${catalogs.join(" + ") || "no table"})`;
            rows[catalog] = (rows[catalog] ?? 0) + Number(operator.physicalInputPositions ?? 0);
        }
    }
    return rows;
}

/** Trino's plan of each model's query, as built in the run schema: what each domain's engine is asked to do. */
async function explainModels(connection: TrinoConnection, nodes: NodeResult[], schema: string, outDir: string): Promise<void> {
    fs.rmSync(outDir, { recursive: true, force: true });
    fs.mkdirSync(outDir, { recursive: true });
    for (const node of nodes.filter(n => n.uniqueId.startsWith("model.") && n.compiledCode)) {
        const model = node.uniqueId.split(".").pop()!;
        const plan = await queryTrino(connection, `EXPLAIN ${node.compiledCode}`);
        const text = plan.rows.map(row => String(row[0])).join("\n").split(schema).join("<run>");
        fs.writeFileSync(path.join(outDir, `${model}.txt`), `-- EXPLAIN of model ${model}, compiled SQL as dbt built it (run schema shown as <run>)\n${node.compiledCode!.split(schema).join("<run>").trim()}\n\n${text}\n`);
    }
}

export interface FederatedBuild extends DbtTimes {
    /** Rows read from each catalog by the build's queries (models and tests). */
    rowsRead: Record<string, number>;
}

/**
 * The federated build: the project on the stack's Trino, as the stack's dbt user, into a scratch run
 * schema that is dropped afterwards. With explainDir, each model's plan is written there first.
 */
export async function federatedDbt(mesh: MeshUnderTest, dbtBin: string, sample: number, explainDir?: string): Promise<FederatedBuild> {
    const connection = await mesh.connection("dbt");
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "datamesh-bench-dbt-"));
    // A run schema's name as the stack's access rules allow it: the insights schema, two underscores, hex.
    const schema = `jaffle_shop__beac4${String(sample).padStart(3, "0")}`;
    try {
        const caCertFile = path.join(workDir, "ca.pem");
        if (!connection.caCert) {
            throw new Error("the stack exports no CA certificate for Trino (trinoCaCert)");
        }
        fs.writeFileSync(caCertFile, connection.caCert);
        const url = new URL(connection.url);
        const profile = renderDbtProfile({ host: url.hostname, port: Number(url.port), user: connection.user, passwordEnv: PASSWORD_ENV, caCertFile, catalog: "insights", schema, threads: DBT_THREADS });
        const vars = Object.fromEntries(DOMAINS.flatMap(d => [[`${d.name}_catalog`, d.name], [`${d.name}_schema`, d.trinoSchema]]));
        const { nodes, ...times } = await runDbtCommands(dbtBin, workDir, profile, vars, { [PASSWORD_ENV]: connection.password ?? "" });
        const rowsRead = await rowsReadByCatalog(connection, nodes.flatMap(n => (n.queryId ? [n.queryId] : [])));
        if (explainDir) {
            await explainModels(connection, nodes, schema, explainDir);
        }
        return { ...times, rowsRead };
    } finally {
        await queryTrino(connection, `DROP SCHEMA IF EXISTS insights.${schema} CASCADE`).catch(e => console.error(`could not drop insights.${schema}: ${(e as Error).message}`));
        fs.rmSync(workDir, { recursive: true, force: true });
    }
}

/** One PostgreSQL server of the benchmark's own, started by the local platform's own code, as a domain's server is. */
export interface Warehouse {
    port: number;
    password: string;
    stop(): Promise<void>;
}

export async function startWarehouse(): Promise<Warehouse> {
    const server = await startServer({
        component: "benchmark warehouse",
        engine: "postgresql",
        port: await freePortRange(1),
        workDir: fs.mkdtempSync(path.join(os.tmpdir(), "datamesh-bench-warehouse-")),
        programs: findLocalToolchain({ cacheDir: CACHE_DIR, trinoVersion: readVersions().TRINO_VERSION, projectDir: REPO_DIR }).postgres,
        adminPassword: crypto.randomUUID(),
    });
    return { port: server.port, password: server.adminPassword, stop: () => stopAndRemove(server) };
}

async function adminQuery(warehouse: Warehouse, database: string, statements: string[]): Promise<void> {
    const client = new pg.Client({ host: "127.0.0.1", port: warehouse.port, user: "postgres", password: warehouse.password, database });
    await client.connect();
    try {
        for (const statement of statements) {
            await client.query(statement);
        }
    } finally {
        await client.end();
    }
}

/**
 * A fresh database holding the three domains' tables with the source's rows, loaded by the stack's
 * own loader (COPY FROM STDIN); seconds per table.
 */
export async function loadWarehouse(warehouse: Warehouse, source: DataSource): Promise<Record<string, number>> {
    await adminQuery(warehouse, "postgres", [`DROP DATABASE IF EXISTS ${WAREHOUSE}`, `CREATE DATABASE ${WAREHOUSE}`]);
    await adminQuery(
        warehouse,
        WAREHOUSE,
        DOMAINS.map(d => createTableSql("postgresql", jaffleTable(d.name))),
    );
    const seconds: Record<string, number> = {};
    for (const domain of DOMAINS) {
        const start = process.hrtime.bigint();
        await loadRows({ engine: "postgresql", host: "127.0.0.1", port: warehouse.port, owner: { user: "postgres", password: warehouse.password }, database: WAREHOUSE, domainName: domain.name, tables: [jaffleTable(domain.name)], source, fingerprint: "benchmark" });
        seconds[domain.name] = Number(process.hrtime.bigint() - start) / 1e9;
    }
    await adminQuery(warehouse, WAREHOUSE, ["ANALYZE"]);
    return seconds;
}

/** The centralized build: the same project by dbt-postgres in the warehouse, into a schema of its own. */
export async function centralizedDbt(warehouse: Warehouse, dbtPostgresBin: string, sample: number): Promise<DbtTimes> {
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "datamesh-bench-dbt-pg-"));
    try {
        const profile = renderYaml({
            [DBT_PROFILE_NAME]: {
                outputs: {
                    centralized: {
                        dbname: WAREHOUSE,
                        host: "127.0.0.1",
                        password: `{{ env_var('${PASSWORD_ENV}') }}`,
                        port: warehouse.port,
                        schema: `insights_${sample}`,
                        threads: DBT_THREADS,
                        type: "postgres",
                        user: "postgres",
                    },
                },
                target: "centralized",
            },
        });
        const vars = Object.fromEntries(DOMAINS.flatMap(d => [[`${d.name}_catalog`, WAREHOUSE], [`${d.name}_schema`, "public"]]));
        const build = await runDbtCommands(dbtPostgresBin, workDir, profile, vars, { [PASSWORD_ENV]: warehouse.password });
        return { build: build.build, models: build.models, tests: build.tests, summaries: build.summaries };
    } finally {
        fs.rmSync(workDir, { recursive: true, force: true });
    }
}
