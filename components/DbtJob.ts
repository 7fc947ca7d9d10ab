import * as pulumi from "@pulumi/pulumi";
import { renderDbtProfile } from "../catalogs/dbt";
import { digestDirectory } from "../lib/digest";
import { DomainSpec } from "../lib/domains";
import { Platform } from "../platforms";
import { TrinoCoordinator } from "./TrinoCoordinator";

export interface DbtJobArgs {
    /** Where dbt runs. */
    platform: Platform;
    /** The dbt project folder. */
    projectDir: string;
    /** The coordinator dbt runs its SQL on. */
    trino: TrinoCoordinator;
    /** The Trino user dbt connects as. */
    trinoUser: string;
    /** That user's password (secret). */
    trinoPassword: pulumi.Input<string>;
    /** The Iceberg catalog the insights are written to. */
    insightsCatalog: string;
    /** The schema of the insights inside that catalog. */
    insightsSchema: string;
    /** The domains whose catalogs the sources read; each becomes the <domain>_catalog and <domain>_schema vars. */
    domains: readonly DomainSpec[];
    /** Changes exactly when the domain data changes; a new value re-runs dbt. */
    dataFingerprint: pulumi.Input<string>;
    /** What must be in place before dbt runs: the loaded domain tables. */
    after: pulumi.Resource[];
}

/**
 * `dbt build` of the insights against the coordinator. It runs again when the project's files or
 * the domain data change, and only then; a dbt error or a failing dbt test fails the deployment
 * with dbt's own message.
 */
export class DbtJob extends pulumi.ComponentResource {
    /** A new value after every run; the check depends on it. */
    public readonly runId: pulumi.Output<string>;
    /** dbt's closing line. */
    public readonly summary: pulumi.Output<string>;
    public readonly projectDigest: pulumi.Output<string>;

    constructor(name: string, args: DbtJobArgs, opts?: pulumi.ComponentResourceOptions) {
        super("datamesh:index:DbtJob", name, {}, opts);
        const projectDigest = digestDirectory(args.projectDir);
        const vars: Record<string, string> = {};
        for (const domain of args.domains) {
            vars[`${domain.name}_catalog`] = domain.name;
            vars[`${domain.name}_schema`] = domain.trinoSchema;
        }
        const run = args.platform.dbtRun(
            `${name}-run`,
            {
                component: name,
                projectDir: args.projectDir,
                projectDigest,
                dataFingerprint: args.dataFingerprint,
                trino: { host: args.trino.meshHost, port: args.trino.meshPort, caCert: args.trino.caCert },
                password: args.trinoPassword,
                profile: trino =>
                    renderDbtProfile({
                        host: trino.host,
                        port: trino.port,
                        user: args.trinoUser,
                        passwordEnv: trino.passwordEnv,
                        caCertFile: trino.caCertFile,
                        catalog: args.insightsCatalog,
                        schema: args.insightsSchema,
                        threads: 2,
                    }),
                vars,
                watch: { url: args.trino.url, user: args.trinoUser, sources: args.domains.map(d => ({ catalog: d.name, schema: d.trinoSchema, table: d.table })) },
            },
            { parent: this, dependsOn: [args.trino.ready, ...args.after] },
        );

        this.runId = run.runId;
        this.summary = run.summary;
        this.projectDigest = pulumi.output(projectDigest);
        this.registerOutputs({ runId: this.runId, summary: this.summary, projectDigest: this.projectDigest });
    }
}
