import * as pulumi from "@pulumi/pulumi";
import { CheckTargets, checkStatement, checkVerdict, CheckVerdict } from "../lib/reconcile";
import { queryTrino, TrinoConnection } from "../lib/trinoQuery";
import { inputsDiff } from "./inputs";

interface CheckInputs {
    component: string;
    trino: TrinoConnection;
    targets: CheckTargets;
    /** The dbt run being checked; a new run is checked again. */
    dbtRunId: string;
}

/** The check statement, run as one query, and its verdict. */
export async function runCheckStatement(connection: TrinoConnection, targets: CheckTargets): Promise<CheckVerdict> {
    const { rows } = await queryTrino(connection, checkStatement(targets));
    return checkVerdict(rows.map(row => String(row[0])));
}

async function runCheck(inputs: CheckInputs): Promise<string> {
    const verdict = await runCheckStatement(inputs.trino, inputs.targets);
    if (!verdict.ok) {
        throw new Error(`${inputs.component}: the insights do not reconcile with the domains; nothing was published:\n${verdict.problems.join("\n")}`);
    }
    return verdict.summary!;
}

const checkProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: CheckInputs) {
        return { id: inputs.dbtRunId, outs: { ...inputs, summary: await runCheck(inputs) } };
    },
    async diff(_id: string, olds: CheckInputs, news: CheckInputs) {
        // A run is checked once, before it is published; how Trino is reached (a moved port, say) is
        // no reason to check it again, and an incremental run's changes are gone once it is published.
        // The publication checks the published insights on every deployment.
        const { trino: _oldTrino, ...old } = olds;
        const { trino: _newTrino, ...next } = news;
        return inputsDiff(old, next);
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

/** Runs the check statement through Trino and fails the deployment, before anything is published, when the insights are wrong. */
export class InsightsReconciliation extends pulumi.dynamic.Resource {
    public readonly summary!: pulumi.Output<string>;

    constructor(name: string, args: InsightsReconciliationArgs, opts?: pulumi.CustomResourceOptions) {
        super(checkProvider, name, { ...args, summary: undefined }, { ...opts, additionalSecretOutputs: ["trino"] }, "datamesh", "InsightsReconciliation");
    }
}
