/*
 * What the deploying machine reads of a workload's pods while it waits for them: the containers,
 * init containers included, that no amount of waiting will start.
 */

interface ContainerStatus {
    name: string;
    image: string;
    state?: { waiting?: { reason?: string; message?: string }; terminated?: { exitCode: number; reason?: string; message?: string } };
}

export interface PodStatus {
    metadata: { name: string; labels?: Record<string, string> };
    spec: { containers: { name: string; image: string }[] };
    status: { phase?: string; conditions?: { type: string; status: string }[]; containerStatuses?: ContainerStatus[]; initContainerStatuses?: ContainerStatus[] };
}

export function podReady(pod: PodStatus): boolean {
    return (pod.status.conditions ?? []).some(c => c.type === "Ready" && c.status === "True");
}

/** Waiting reasons that no amount of waiting cures. */
const STUCK_REASONS = ["ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError", "CreateContainerError"];

/** One line per container that cannot start, naming its pod, the container, its image and the kubelet's reason. */
export function stuckContainers(namespace: string, pods: PodStatus[]): string[] {
    return pods.flatMap(pod =>
        [...(pod.status.initContainerStatuses ?? []), ...(pod.status.containerStatuses ?? [])]
            .filter(c => STUCK_REASONS.includes(c.state?.waiting?.reason ?? ""))
            .map(c => `pod ${namespace}/${pod.metadata.name} cannot start container ${c.name} from image ${c.image}: ${c.state?.waiting?.reason}: ${c.state?.waiting?.message ?? ""}`),
    );
}
