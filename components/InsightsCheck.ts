import * as pulumi from "@pulumi/pulumi";
import { DomainSpec } from "../lib/domains";
import { Platform } from "../platforms";

export interface InsightsCheckArgs {
    /** Where the check runs. */
    platform: Platform;
    /** The coordinator's URL. */
    trinoUrl: pulumi.Input<string>;
    /** The coordinator's address as the platform's own jobs reach it. */
    trinoMeshEndpoint: { host: pulumi.Input<string>; port: pulumi.Input<number> };
    /** The certificate the coordinator presents, PEM. */
    trinoCaCert: pulumi.Input<string>;
    /** The Trino user the check queries as, with its password (secret). */
    credentials: pulumi.Input<{ user: string; password: string }>;
    /** The insights catalog and schema to check. */
    insights: { catalog: string; schema: string };
    /** The domains the insights must reconcile with. */
    domains: { customers: DomainSpec; orders: DomainSpec; payments: DomainSpec };
    /** The dbt run to check; a new run is checked again. */
    dbtRunId: pulumi.Input<string>;
}

/**
 * Proves the insights right after every dbt run: one dim_customers row per customer, one fct_orders
 * row per order, and money equal to the payments domain to the cent. A mismatch fails the
 * deployment and names the table and both numbers.
 */
export class InsightsCheck extends pulumi.ComponentResource {
    public readonly summary: pulumi.Output<string>;

    constructor(name: string, args: InsightsCheckArgs, opts?: pulumi.ComponentResourceOptions) {
        super("datamesh:index:InsightsCheck", name, {}, opts);
        const insight = (table: string) => `${args.insights.catalog}.${args.insights.schema}.${table}`;
        const domainTable = (d: DomainSpec) => `${d.name}.${d.trinoSchema}.${d.table}`;
        const run = args.platform.insightsCheck(
            `${name}-reconciliation`,
            {
                component: name,
                trino: { url: args.trinoUrl, meshHost: args.trinoMeshEndpoint.host, meshPort: args.trinoMeshEndpoint.port, caCert: args.trinoCaCert },
                credentials: args.credentials,
                targets: {
                    dimCustomers: insight("dim_customers"),
                    fctOrders: insight("fct_orders"),
                    customers: domainTable(args.domains.customers),
                    orders: domainTable(args.domains.orders),
                    payments: domainTable(args.domains.payments),
                },
                dbtRunId: args.dbtRunId,
            },
            { parent: this },
        );
        this.summary = run.summary;
        this.registerOutputs({ summary: this.summary });
    }
}
