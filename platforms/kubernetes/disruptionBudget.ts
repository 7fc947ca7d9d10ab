import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { Cluster } from "./cluster";

/*
 * What a node drain or a cluster upgrade may take away at once. Evicting Trino's coordinator kills
 * every running query, so its budget allows none: a drain waits until an operator moves it on purpose.
 * Workers drain gracefully, so with two or more the budget lets one go at a time.
 */
export function disruptionBudget(
    cluster: Cluster,
    name: string,
    component: string,
    role: string,
    budget: { minAvailable: number } | { maxUnavailable: number },
    opts: pulumi.CustomResourceOptions,
): k8s.policy.v1.PodDisruptionBudget {
    return new k8s.policy.v1.PodDisruptionBudget(
        name,
        { metadata: cluster.metadata(name, component, role), spec: { ...budget, selector: { matchLabels: cluster.labels(component, role) } } },
        cluster.options(opts),
    );
}
