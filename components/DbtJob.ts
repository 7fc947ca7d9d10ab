import * as pulumi from "@pulumi/pulumi";
import { renderDbtProfile } from "../catalogs/dbt";
import { digestDirectory, shortDigest } from "../lib/digest";
import { DomainSpec } from "../lib/domains";
import { Platform } from "../platforms";
import { DbtRunRequest } from "../platforms/platform";
import { RefreshMode, RunPlan } from "../resources/runPlan";
import { SourceFingerprint } from "../resources/sourceFingerprint";
import { DbtProjectSettings } from "../lib/dbtProject";

/** A source table as the last reading found it: `catalog.schema.table`, its row count, and its columns as [name, type]. */
export interface SourceTableFacts {
    table: string;
    rows: number;
    columns: string[][];
}
import { TrinoCoordinator } from "./TrinoCoordinator";

export interface DbtJobArgs {
    /** Where dbt runs. */
    platform: Platform;
    /** The dbt project: its folder, and whether a model edit may build only what it changed (see readDbtProject). */
    project: DbtProjectSettings;
    /** The dbt toolchain's files (requirements.txt, Dockerfile), whatever the project. */
    toolchainDir: string;
    /** The coordinator dbt runs its SQL on. */
    trino: TrinoCoordinator;
    /** The Trino role dbt connects as; the sources are read as it, so never a PII column. */
    role: string;
    /** The Iceberg catalog the insights are written to. */
    insightsCatalog: string;
    /** The published schema; each run builds into `<schema>__<run>` beside it. */
    insightsSchema: string;
    /** The domains whose catalogs the sources read; each becomes the <domain>_catalog and <domain>_schema vars. */
    domains: readonly DomainSpec[];
    /** Changes exactly when the stack reloads the domain data. */
    dataFingerprint: pulumi.Input<string>;
    /** What must be in place before dbt runs: the loaded domain tables. */
    after: pulumi.Resource[];
    /** The public models, whose published views name the run an incremental run starts from. */
    publicTables: string[];
    /** datamesh:rebuild: `full` rebuilds every run from all source rows. */
    rebuild: RefreshMode;
    /** Why the gate cannot check a run incrementally, or "" when every public model's audit names its affected keys. */
    gateRefusal: string;
}

/** dbt's parallelism: most of a node's time is a round trip to Trino, so four threads beat two even on two cores. */
const DBT_THREADS = 4;

/**
 * `dbt build` of the insights into a schema of its own per run, which analysts cannot read. A run
 * follows the project's files and what the domain tables hold, read through Trino on every
 * deployment, and nothing else; a dbt error or a failing dbt test fails the deployment with dbt's
 * own message, and the published insights are untouched.
 */
export class DbtJob extends pulumi.ComponentResource {
    /** A new value after every run; the check depends on it. */
    public readonly runId: pulumi.Output<string>;
    /** The schema the run built into. */
    public readonly runSchema: pulumi.Output<string>;
    /** dbt's closing line. */
    public readonly summary: pulumi.Output<string>;
    public readonly projectDigest: pulumi.Output<string>;
    /** A digest of what the sources held when last read. */
    public readonly sourceFingerprint: pulumi.Output<string>;
    /** What the sources held when last read, on this `up`, through Trino: each table's rows and columns; empty when only rendering. */
    public readonly sourceTables: pulumi.Output<SourceTableFacts[]>;
    /** A digest of everything else a run is built from. */
    public readonly buildConfig: string;
    /** How the platform runs dbt on this project: what the docs site generates its pages with. */
    public readonly runRequest: DbtRunRequest;
    /** The run's plan step, whose outputs say how the run was planned; undefined when manifests are only rendered. */
    public readonly plan?: RunPlan;

    constructor(name: string, args: DbtJobArgs, opts?: pulumi.ComponentResourceOptions) {
        super("datamesh:index:DbtJob", name, {}, opts);
        const projectDigest = digestDirectory(args.project.dir);
        const vars: Record<string, string> = {};
        for (const domain of args.domains) {
            vars[`${domain.name}_catalog`] = domain.name;
            vars[`${domain.name}_schema`] = domain.trinoSchema;
        }
        const credentials = args.trino.credentials(args.role);
        // Rendered manifests have no sources to read; their run is named after the project alone.
        const sources = args.platform.live
            ? new SourceFingerprint(
                  `${name}-sources`,
                  {
                      component: name,
                      access: args.trino.deployerAccess(args.role),
                      sources: args.domains.flatMap(d => d.tables.map(t => ({ catalog: d.name, schema: d.trinoSchema, table: t.name, primaryKey: t.primaryKey }))),
                      trinoVersion: args.trino.version,
                      loaded: args.dataFingerprint,
                  },
                  { parent: this, dependsOn: [args.trino.ready, ...args.after] },
              )
            : undefined;
        const fingerprint = sources ? sources.fingerprint : pulumi.output("not read: manifests only");
        // A full rebuild asked for is a run of its own, beside the incremental one of the same sources.
        this.buildConfig = shortDigest(
            JSON.stringify({ catalog: args.insightsCatalog, schema: args.insightsSchema, vars, threads: DBT_THREADS, ...(args.rebuild === "full" ? { rebuild: "full" } : {}) }),
        );
        // The same project on the same source content builds the same run, so a run's schema is named after both.
        this.runSchema = fingerprint.apply(fingerprint => `${args.insightsSchema}__${shortDigest(projectDigest, fingerprint, this.buildConfig).slice(0, 12)}`);
        this.runRequest = {
            component: name,
            projectDir: args.project.dir,
            toolchainDir: args.toolchainDir,
            projectDigest,
            defersModelEdits: args.project.defersModelEdits,
            runSchema: this.runSchema,
            sourcesDigest: fingerprint.apply(fingerprint => shortDigest(fingerprint, this.buildConfig)),
            trino: { host: args.trino.meshHost, port: args.trino.meshPort, caCert: args.trino.caCert },
            password: credentials.apply(c => c.password),
            profile: trino =>
                renderDbtProfile({
                    host: trino.host,
                    port: trino.port,
                    user: args.trino.users[args.role].user,
                    passwordEnv: trino.passwordEnv,
                    caCertFile: trino.caCertFile,
                    catalog: args.insightsCatalog,
                    schema: trino.schema,
                    threads: DBT_THREADS,
                }),
            vars,
        };
        const plan = sources
            ? new RunPlan(
                  `${name}-plan`,
                  {
                      component: name,
                      access: args.trino.deployerAccess(args.role),
                      catalog: args.insightsCatalog,
                      schema: args.insightsSchema,
                      runSchema: this.runSchema,
                      publicTables: args.publicTables,
                      // The columns dbt may read, as the fingerprint read them.
                      sources: sources.tables.apply(tables =>
                          args.domains.flatMap(d =>
                              d.tables.map(t => {
                                  const tableName = `${d.name}.${d.trinoSchema}.${t.name}`;
                                  const facts = tables.find(read => read.table === tableName);
                                  const columns = (facts?.columns ?? []).map(([column]) => column);
                                  return {
                                      catalog: d.name,
                                      schema: d.trinoSchema,
                                      table: t.name,
                                      primaryKey: t.primaryKey,
                                      columns,
                                      contents: facts?.contents ?? "",
                                      ...(facts?.keyRanges ? { keyRanges: facts.keyRanges } : {}),
                                  };
                              }),
                          ),
                      ),
                      fingerprint,
                      loaded: args.dataFingerprint,
                      projectDigest,
                      buildConfig: this.buildConfig,
                      rebuild: args.rebuild,
                      gateRefusal: args.gateRefusal,
                  },
                  { parent: this, dependsOn: [sources] },
              )
            : undefined;
        const run = args.platform.dbtRun(`${name}-run`, this.runRequest, { parent: this, dependsOn: [args.trino.ready, ...(sources ? [sources] : []), ...(plan ? [plan] : []), ...args.after] });
        this.plan = plan;

        this.runId = run.runId;
        this.summary = run.summary;
        this.projectDigest = pulumi.output(projectDigest);
        this.sourceFingerprint = fingerprint;
        this.sourceTables = sources ? sources.tables.apply(tables => tables.map(({ table, rows, columns }) => ({ table, rows, columns: columns ?? [] }))) : pulumi.output([]);
        this.registerOutputs({ runId: this.runId, runSchema: this.runSchema, summary: this.summary, projectDigest: this.projectDigest, sourceFingerprint: this.sourceFingerprint });
    }
}
