import * as pulumi from "@pulumi/pulumi";
import { Platform } from "../platforms";
import { InsightsPublication, PublishedDigestReader, publishedDigestStatement, RebuildReason } from "../resources/publication";
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
    /** The tables analysts read; each is published as a view of the run's table. */
    publicTables: string[];
    /** The domain tables the insights must reconcile with, as Trino names them (catalog.schema.table). */
    sources: { customers: string; orders: string; payments: string };
    /** The dbt run to check and publish. */
    dbt: DbtJob;
}

/**
 * The gate between a dbt run and the analysts. Each new run is checked in its own schema: every
 * row and column of dim_customers and fct_orders against a recomputation from the domains, money
 * exact to the cent. Only a run that passes is published, by switching the published views to its
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
        const domains = args.sources;
        const runTable = (table: string) => args.dbt.runSchema.apply(schema => `${args.insights.catalog}.${schema}.${table}`);
        const audit = args.platform.insightsCheck(
            `${name}-reconciliation`,
            {
                component: name,
                trino: { url: args.trino.url, meshHost: args.trino.meshHost, meshPort: args.trino.meshPort, caCert: args.trino.caCert },
                credentials: args.trino.credentials(args.checkRole),
                targets: pulumi.all([runTable("dim_customers"), runTable("fct_orders")]).apply(([dimCustomers, fctOrders]) => ({ dimCustomers, fctOrders, ...domains })),
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
        const digestReader = new PublishedDigestReader(
            `${name}-digest-reader`,
            { checker, statement: publishedDigestStatement({ catalog: args.insights.catalog, schema: args.insights.schema, domains }) },
            { parent: this, dependsOn: [args.trino.ready] },
        );
        const publication = new InsightsPublication(
            `${name}-publication`,
            {
                component: name,
                publisher: args.trino.deployerAccess(args.publishRole),
                checker,
                catalog: args.insights.catalog,
                schema: args.insights.schema,
                runSchema: args.dbt.runSchema,
                tables: args.publicTables,
                domains,
                audit: audit.summary,
                cause: pulumi.all([args.dbt.projectDigest, args.dbt.sourceFingerprint]).apply(([projectDigest, sourceFingerprint]) => ({
                    projectDigest,
                    sourceFingerprint,
                    config: args.dbt.buildConfig,
                })),
            },
            { parent: this, dependsOn: [audit.resource, digestReader] },
        );
        this.summary = publication.summary;
        this.publishedRun = publication.publishedRun;
        this.rebuiltAt = publication.rebuiltAt;
        this.reason = publication.reason;
        this.registerOutputs({ summary: this.summary, publishedRun: this.publishedRun, rebuiltAt: this.rebuiltAt, reason: this.reason });
    }
}
