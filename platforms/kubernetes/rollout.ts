import * as pulumi from "@pulumi/pulumi";
import { KubeTarget, kubectl, kubectlJson } from "../../lib/kubectl";
import { PodStatus, podReady, stuckContainers } from "./pods";

/*
 * A Deployment's or StatefulSet's rollout, awaited by the deploying machine instead of by the
 * provider. The provider waits out its whole timeout on a pod that cannot start and then names
 * neither the image nor the reason ("containers with incomplete status: [site-owner]"); this
 * fails within a minute, naming the pod, the container, the image and the kubelet's reason. The
 * workload itself is created with the provider's await skipped; what depends on it depends on this.
 */

export type WorkloadKind = "Deployment" | "StatefulSet";

interface RolloutInputs {
    target: KubeTarget;
    namespace: string;
    kind: WorkloadKind;
    name: string;
    /** Names the owning component in errors. */
    component: string;
    /** The workload's generation as the API server answered it; a new one is a new rollout to await. */
    generation: number;
    timeoutSeconds: number;
}

interface WorkloadStatus {
    metadata: { generation?: number };
    spec: { replicas?: number; selector: { matchLabels: Record<string, string> } };
    status: { observedGeneration?: number; replicas?: number; readyReplicas?: number; updatedReplicas?: number; availableReplicas?: number; currentRevision?: string; updateRevision?: string };
}

/** Whether every replica runs the newest template and is ready, and no old one is left. */
export function rolledOut(kind: WorkloadKind, workload: WorkloadStatus): boolean {
    const wanted = workload.spec.replicas ?? 1;
    const status = workload.status ?? {};
    if ((status.observedGeneration ?? 0) < (workload.metadata.generation ?? 0)) {
        return false;
    }
    const ready = (status.readyReplicas ?? 0) === wanted && (status.updatedReplicas ?? 0) === wanted && (status.replicas ?? 0) === wanted;
    return kind === "Deployment" ? ready && (status.availableReplicas ?? 0) === wanted : ready && status.currentRevision === status.updateRevision;
}

async function awaitRollout(inputs: RolloutInputs): Promise<void> {
    const label = `${inputs.component}: ${inputs.kind} ${inputs.namespace}/${inputs.name}`;
    const deadline = Date.now() + inputs.timeoutSeconds * 1000;
    // The kubelet retries pulls; a few sightings in a row tell a real failure from a blip.
    let stuckSightings = 0;
    let last = "";
    while (Date.now() < deadline) {
        const workload = await kubectlJson<WorkloadStatus>(inputs.target, ["-n", inputs.namespace, "get", inputs.kind.toLowerCase(), inputs.name]);
        if (rolledOut(inputs.kind, workload)) {
            return;
        }
        const selector = Object.entries(workload.spec.selector.matchLabels)
            .map(([key, value]) => `${key}=${value}`)
            .join(",");
        const pods = await kubectlJson<{ items: PodStatus[] }>(inputs.target, ["-n", inputs.namespace, "get", "pods", "-l", selector]);
        const updateRevision = workload.status?.updateRevision;
        if (inputs.kind === "StatefulSet" && updateRevision) {
            // A StatefulSet never replaces a pod of an older template that is not ready: its documentation asks for that
            // pod to be deleted by hand once the template is fixed ("forced rollback"). Its replacement runs the fixed one.
            for (const pod of pods.items.filter(p => p.metadata.labels?.["controller-revision-hash"] !== updateRevision && !podReady(p))) {
                await kubectl(inputs.target, ["-n", inputs.namespace, "delete", "pod", pod.metadata.name, "--wait=false"]);
            }
        }
        const stuck = stuckContainers(inputs.namespace, pods.items.filter(p => inputs.kind !== "StatefulSet" || !updateRevision || p.metadata.labels?.["controller-revision-hash"] === updateRevision));
        stuckSightings = stuck.length > 0 ? stuckSightings + 1 : 0;
        if (stuckSightings >= 6) {
            throw new Error(`${label} cannot start: ${stuck.join("; ")}`);
        }
        const status = workload.status ?? {};
        last = `${status.readyReplicas ?? 0} of ${workload.spec.replicas ?? 1} ready, ${status.updatedReplicas ?? 0} updated; pods: ${
            pods.items.map(pod => `${pod.metadata.name} ${pod.status.phase ?? "unknown"}`).join(", ") || "none"
        }`;
        await new Promise(resolve => setTimeout(resolve, 5_000));
    }
    throw new Error(`${label} was not ready within ${inputs.timeoutSeconds} s (${last})`);
}

const rolloutProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: RolloutInputs) {
        await awaitRollout(inputs);
        return { id: `${inputs.namespace}/${inputs.kind}/${inputs.name}`, outs: inputs };
    },
    async diff(_id: string, olds: RolloutInputs, news: RolloutInputs) {
        const replaces = olds.name !== news.name || olds.namespace !== news.namespace || olds.kind !== news.kind ? ["name"] : [];
        return { changes: replaces.length > 0 || olds.generation !== news.generation || olds.timeoutSeconds !== news.timeoutSeconds, replaces, deleteBeforeReplace: false };
    },
    async update(_id: string, _olds: RolloutInputs, news: RolloutInputs) {
        await awaitRollout(news);
        return { outs: news };
    },
};

export interface KubernetesRolloutArgs {
    /** The cluster the workload runs in. */
    target: pulumi.Input<KubeTarget>;
    namespace: pulumi.Input<string>;
    kind: WorkloadKind;
    /** The workload's name. */
    name: pulumi.Input<string>;
    /** Names the owning component in errors. */
    component: string;
    /** The workload's generation, read back from the API server after each apply. */
    generation: pulumi.Input<number>;
    /** How long a rollout may take before `pulumi up` gives up on it. */
    timeoutSeconds: number;
}

/** Waits until a workload's newest template runs ready on every replica; fails fast on a pod that cannot start. */
export class KubernetesRollout extends pulumi.dynamic.Resource {
    constructor(name: string, args: KubernetesRolloutArgs, opts?: pulumi.CustomResourceOptions) {
        super(rolloutProvider, name, { ...args }, opts, "datamesh", "KubernetesRollout");
    }
}
