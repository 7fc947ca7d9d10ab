import * as pulumi from "@pulumi/pulumi";
import { Platform } from "../platforms";
import { DbtJob } from "./DbtJob";
import { InsightsCheck } from "./InsightsCheck";

export interface DocsSiteArgs {
    /** Where the site is generated and served. */
    platform: Platform;
    /** The dbt job whose project, profile and credentials generate the pages. */
    dbt: DbtJob;
    /** The gate whose published run the site documents: the site follows each publication. */
    check: InsightsCheck;
    /** The port the site listens on. */
    port: number;
}

/**
 * The dbt docs of the published insights, generated after each successful publication and served
 * by the stack: the domains' sources with their owners and descriptions, the staging views, the
 * marts, their tests and contracts, and the lineage from the domains to the insights.
 */
export class DocsSite extends pulumi.ComponentResource {
    /** Where a browser opens the site; empty where the platform does not serve one yet. */
    public readonly url: pulumi.Output<string>;

    constructor(name: string, args: DocsSiteArgs, opts?: pulumi.ComponentResourceOptions) {
        super("datamesh:index:DocsSite", name, {}, opts);
        const site = args.platform.live
            ? args.platform.docsSite(`${name}-site`, { component: name, port: args.port, run: args.dbt.runRequest, publishedRun: args.check.publishedRun }, { parent: this, dependsOn: [args.check] })
            : undefined;
        this.url = site ? site.url : pulumi.output("");
        this.registerOutputs({ url: this.url });
    }
}
