import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { Cluster } from "./cluster";
import { Flow, tcp, workloadNetworkPolicy } from "./networkPolicies";
import { ImageUser, restrictedPod } from "./podSecurity";
import { workloadServiceAccount } from "./serviceAccount";
import { resources, ResourceSize } from "./sizing";

export interface SingleServerSpec {
    component: string;
    role: string;
    container: Omit<k8s.types.input.core.v1.Container, "ports" | "volumeMounts" | "resources">;
    port: { name: string; number: number };
    dataDir: string;
    storage: string;
    size: ResourceSize;
    /** The image's own non-root user; the data claim becomes its group's. */
    user: ImageUser;
    /** Paths the server writes outside its data folder (sockets, temporary files), each an emptyDir. */
    scratch: string[];
    /** The pods that may connect to the server's port; nothing else may, and the server connects nowhere. */
    clients: NonNullable<Flow["peers"]>;
    /** Volumes beside the data claim, e.g. a Secret with the server's own configuration. */
    extraVolumes?: { volume: k8s.types.input.core.v1.Volume; mount: k8s.types.input.core.v1.VolumeMount }[];
}

/**
 * One server pod with its own volume claim, as a single-replica StatefulSet, and the Service in
 * front of it. The claim comes from the cluster's default StorageClass, so it outlives the pod: a
 * rescheduled pod finds its rows again. `ready` waits until the pod is ready.
 */
export function singleServer(
    cluster: Cluster,
    name: string,
    spec: SingleServerSpec,
    opts: pulumi.CustomResourceOptions,
): { statefulSet: k8s.apps.v1.StatefulSet; service: k8s.core.v1.Service; ready: pulumi.Resource } {
    const labels = cluster.labels(spec.component, spec.role);
    const account = workloadServiceAccount(cluster, name, spec.component, spec.role, opts);
    const statefulSet = new k8s.apps.v1.StatefulSet(
        name,
        {
            metadata: cluster.workloadMetadata(name, spec.component, spec.role),
            spec: {
                serviceName: name,
                replicas: 1,
                selector: { matchLabels: labels },
                template: {
                    metadata: { labels },
                    spec: restrictedPod({
                        user: spec.user,
                        serviceAccountName: account.metadata.name,
                        containers: [
                            {
                                ...spec.container,
                                ports: [{ name: spec.port.name, containerPort: spec.port.number }],
                                volumeMounts: [{ name: "data", mountPath: spec.dataDir }, ...(spec.extraVolumes ?? []).map(v => v.mount)],
                                resources: resources(spec.size),
                            },
                        ],
                        volumes: (spec.extraVolumes ?? []).map(v => v.volume),
                        scratch: spec.scratch,
                    }),
                },
                volumeClaimTemplates: [{ metadata: { name: "data" }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: spec.storage } } } }],
            },
        },
        cluster.options(opts, account),
    );
    workloadNetworkPolicy(cluster, name, spec.component, spec.role, { ingress: [{ peers: spec.clients, ports: tcp(spec.port.number) }] }, opts);
    const service = new k8s.core.v1.Service(
        name,
        {
            metadata: cluster.metadata(name, spec.component, spec.role),
            spec: { selector: labels, ports: [{ name: spec.port.name, port: spec.port.number, targetPort: spec.port.number }] },
        },
        cluster.options(opts),
    );
    return { statefulSet, service, ready: cluster.rollout(statefulSet, "StatefulSet", spec.component, name, opts) };
}
