import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { Cluster } from "./cluster";

/*
 * No workload of the mesh calls the Kubernetes API. Each gets a ServiceAccount of its own, with no
 * role bound and its token never mounted, so that a pod neither carries the namespace's default
 * account nor holds a credential a compromised process could use.
 */
export function workloadServiceAccount(cluster: Cluster, name: string, component: string, role: string, opts: pulumi.CustomResourceOptions): k8s.core.v1.ServiceAccount {
    return new k8s.core.v1.ServiceAccount(name, { metadata: cluster.metadata(name, component, role), automountServiceAccountToken: false }, cluster.options(opts));
}
