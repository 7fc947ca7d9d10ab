import * as pulumi from "@pulumi/pulumi";
import { ModelAudit } from "../lib/reconcile";
import { Platform } from "../platforms";
import { InsightsPublication, RebuildReason } from "../resources/publication";
import { DbtJob } from "./DbtJob";
import { TrinoCoordinator } from "./TrinoCoordinator";

export interface InsightsCheckArgs {
    /** Where the check of a new run runs. */
    platform: Platform;
    /** The coordinator the check and the publish run on. */
    trino: TrinoCoordinator;
    /** The read-only role that checks. */
    checkRole: string;
    /** The role that owns the runs and publishes them: dbt's. */
    publishRole: string;
    /** The insights catalog, and the schema analysts read. */
    insights: { catalog: string; schema: string };
    /** Every public model with its audit; each model is published as a view of the run's table once all pass. */
    audits: ModelAudit[];
    /** The dbt run to check and publish. */
    dbt: DbtJob;
}

/**
 * The gate between a dbt run and the analysts. Each new run is checked in its own schema: every
 * row and column of every public model against its audit, an independent query over the domains,
 * money exact to the cent. Only a run that passes is published, by switching the published views to its
 * tables; a failure names the table and the first differing keys, and leaves the published
 * insights as they were. The published views are checked again on every deployment.
 */
export class InsightsCheck extends pulumi.ComponentResource {
    /** The check's summary, the published run, and when and why it was rebuilt. */
    public readonly summary: pulumi.Output<string>;
    public readonly publishedRun: pulumi.Output<string>;
    public readonly rebuiltAt: pulumi.Output<string>;
    /** Why the published run was built; empty when nothing ran. */
    public readonly reason: pulumi.Output<RebuildReason | "">;

    constructor(name: string, args: InsightsCheckArgs, opts?: pulumi.ComponentResourceOptions) {
        super("datamesh:index:InsightsCheck", name, {}, opts);
        const audits = args.audits;
        const audit = args.platform.insightsCheck(
            `${name}-reconciliation`,
            {
                component: name,
                trino: { url: args.trino.url, meshHost: args.trino.meshHost, meshPort: args.trino.meshPort, caCert: args.trino.caCert },
                credentials: args.trino.credentials(args.checkRole),
                targets: pulumi
                    .all([args.dbt.runSchema, args.dbt.plan?.mode, args.dbt.plan?.baseRun, args.dbt.plan?.recordedDigest])
                    .apply(([schema, mode, baseRun, recordedDigest]) => ({
                        catalog: args.insights.catalog,
                        schema,
                        audits,
                        ...(mode === "incremental" ? { incremental: { publishedSchema: args.insights.schema, baseRun: baseRun!, recordedDigest: recordedDigest! } } : {}),
                    })),
                dbtRunId: args.dbt.runId,
            },
            { parent: this },
        );
        if (!args.platform.live) {
            // Rendered manifests: nothing ran, so there is nothing to publish, and the summary says so.
            this.summary = audit.summary;
            this.publishedRun = pulumi.output("");
            this.rebuiltAt = pulumi.output("");
            this.reason = pulumi.output<RebuildReason | "">("");
            this.registerOutputs({ summary: this.summary });
            return;
        }
        const checker = args.trino.deployerAccess(args.checkRole);
        const publication = new InsightsPublication(
            `${name}-publication`,
            {
                component: name,
                publisher: args.trino.deployerAccess(args.publishRole),
                checker,
                catalog: args.insights.catalog,
                schema: args.insights.schema,
                runSchema: args.dbt.runSchema,
                audits,
                audit: audit.summary,
                cause: pulumi.all([args.dbt.projectDigest, args.dbt.sourceFingerprint]).apply(([projectDigest, sourceFingerprint]) => ({
                    projectDigest,
                    sourceFingerprint,
                    config: args.dbt.buildConfig,
                })),
                ledger: pulumi
                    .all([args.dbt.plan!.ledgerAction, args.dbt.plan!.sources, args.dbt.plan!.loaded, args.dbt.plan!.unchanged])
                    .apply(([action, sources, loaded, unchanged]) => ({ action, sources, loaded, unchanged })),
            },
            { parent: this, dependsOn: [audit.resource] },
        );
        this.summary = publication.summary;
        this.publishedRun = publication.publishedRun;
        this.rebuiltAt = publication.rebuiltAt;
        this.reason = publication.reason;
        this.registerOutputs({ summary: this.summary, publishedRun: this.publishedRun, rebuiltAt: this.rebuiltAt, reason: this.reason });
    }
}
