import * as pulumi from "@pulumi/pulumi";
import { CheckTargets, checkQueries, factsFromRows, reconcile } from "../lib/reconcile";
import { queryTrino, TrinoConnection } from "../lib/trinoQuery";

interface CheckInputs {
    component: string;
    trino: TrinoConnection;
    targets: CheckTargets;
    /** The dbt run being checked; a new run is checked again. */
    dbtRunId: string;
}

async function runCheck(inputs: CheckInputs): Promise<string> {
    const firstRows: unknown[][] = [];
    for (const sql of checkQueries(inputs.targets)) {
        const outcome = await queryTrino(inputs.trino, sql);
        if (outcome.rows.length === 0) {
            throw new Error(`${inputs.component}: no result for ${sql}`);
        }
        firstRows.push(outcome.rows[0]);
    }
    const result = reconcile(factsFromRows(firstRows), inputs.targets);
    if (result.mismatches.length > 0) {
        throw new Error(`${inputs.component}: the insights do not reconcile with the domains:\n${result.mismatches.join("\n")}`);
    }
    return result.summary;
}

const checkProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: CheckInputs) {
        return { id: inputs.dbtRunId, outs: { ...inputs, summary: await runCheck(inputs) } };
    },
    async update(_id: string, _olds: CheckInputs, news: CheckInputs) {
        return { outs: { ...news, summary: await runCheck(news) } };
    },
};

export interface InsightsReconciliationArgs {
    component: pulumi.Input<string>;
    trino: pulumi.Input<TrinoConnection>;
    targets: pulumi.Input<CheckTargets>;
    dbtRunId: pulumi.Input<string>;
}

/** Queries the insights and the domains through Trino and fails the deployment when they disagree. */
export class InsightsReconciliation extends pulumi.dynamic.Resource {
    public readonly summary!: pulumi.Output<string>;

    constructor(name: string, args: InsightsReconciliationArgs, opts?: pulumi.CustomResourceOptions) {
        super(checkProvider, name, { ...args, summary: undefined }, { ...opts, additionalSecretOutputs: ["trino"] }, "datamesh", "InsightsReconciliation");
    }
}
