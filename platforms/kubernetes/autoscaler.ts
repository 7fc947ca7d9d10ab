import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { Cluster } from "./cluster";

/*
 * Workers scaled on CPU, as the Trino Helm chart scales them: a HorizontalPodAutoscaler owns the
 * Deployment's replica count between min and max. It reads the cluster's metrics API
 * (metrics-server or its equivalent); without one it stays where it is and says so in its status,
 * and nothing in `pulumi up` waits on it. Scaling down waits out a window, and each worker leaving
 * drains first (see trino.ts), so a scale-down kills no query.
 */

export interface WorkerAutoscaling {
    min: number;
    max: number;
    /** Seconds the CPU must stay low before workers are taken away. */
    scaleDownWindowSeconds: number;
}

/** The CPU use, as a share of each worker's request, that the autoscaler keeps the workers at. */
const TARGET_CPU_UTILIZATION = 70;

export function workerAutoscaler(
    cluster: Cluster,
    name: string,
    component: string,
    workers: pulumi.Input<string>,
    scaling: WorkerAutoscaling,
    opts: pulumi.CustomResourceOptions,
): k8s.autoscaling.v2.HorizontalPodAutoscaler {
    return new k8s.autoscaling.v2.HorizontalPodAutoscaler(
        name,
        {
            metadata: { ...cluster.metadata(name, component, "worker"), annotations: { "pulumi.com/skipAwait": "true" } },
            spec: {
                scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: workers },
                minReplicas: scaling.min,
                maxReplicas: scaling.max,
                metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: TARGET_CPU_UTILIZATION } } }],
                behavior: { scaleDown: { stabilizationWindowSeconds: scaling.scaleDownWindowSeconds, policies: [{ type: "Pods", value: 1, periodSeconds: 60 }] } },
            },
        },
        cluster.options(opts),
    );
}
