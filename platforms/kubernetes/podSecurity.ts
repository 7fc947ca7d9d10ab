import * as k8s from "@pulumi/kubernetes";

/*
 * Every pod of the mesh meets the restricted Pod Security Standard: it runs as its image's own
 * non-root user, under the runtime's default seccomp profile, with every capability dropped and no
 * privilege escalation, on a read-only root filesystem. The paths an image must write get emptyDir
 * volumes of their own; a volume claim is made the pod's group's through fsGroup, so no root init
 * step is needed to hand it over.
 */

/** The label that makes the API server's PodSecurity admission refuse any pod that does not meet the standard. */
export const POD_SECURITY_ENFORCE_LABEL = "pod-security.kubernetes.io/enforce";
export const POD_SECURITY_LEVEL = "restricted";

/** The user and group an image is made to run as (the official images' own). */
export interface ImageUser {
    uid: number;
    gid: number;
}

/** The images' users: postgres and mysql are 999 in the official images, trino, seaweed and the Python images' runner 1000. */
export const IMAGE_USERS = {
    postgresql: { uid: 999, gid: 999 },
    mariadb: { uid: 999, gid: 999 },
    trino: { uid: 1000, gid: 1000 },
    seaweedfs: { uid: 1000, gid: 1000 },
    python: { uid: 1000, gid: 1000 },
} satisfies Record<string, ImageUser>;

type Container = k8s.types.input.core.v1.Container;
type Volume = k8s.types.input.core.v1.Volume;

export interface RestrictedPodSpec {
    user: ImageUser;
    /** The workload's own ServiceAccount, whose token is never mounted. */
    serviceAccountName: k8s.types.input.core.v1.PodSpec["serviceAccountName"];
    containers: Container[];
    volumes?: Volume[];
    /** Paths every container writes besides its volumes; each gets an emptyDir of its own. */
    scratch: string[];
    /** The rest of the pod spec (affinity, restart policy, grace period). */
    extra?: Omit<k8s.types.input.core.v1.PodSpec, "containers" | "volumes" | "securityContext" | "serviceAccountName" | "automountServiceAccountToken">;
}

function restrictedContainerSecurity(): k8s.types.input.core.v1.SecurityContext {
    return { runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } };
}

export function restrictedPod(spec: RestrictedPodSpec): k8s.types.input.core.v1.PodSpec {
    const scratch = spec.scratch.map((mountPath, i) => ({ name: `scratch-${i}`, mountPath }));
    return {
        ...spec.extra,
        serviceAccountName: spec.serviceAccountName,
        automountServiceAccountToken: false,
        securityContext: {
            runAsNonRoot: true,
            runAsUser: spec.user.uid,
            runAsGroup: spec.user.gid,
            fsGroup: spec.user.gid,
            // A database checks its own folder's mode: the group's bits are set once, on an empty volume, never again.
            fsGroupChangePolicy: "OnRootMismatch",
            seccompProfile: { type: "RuntimeDefault" },
        },
        containers: spec.containers.map(container => ({
            ...container,
            securityContext: restrictedContainerSecurity(),
            volumeMounts: [...((container.volumeMounts as k8s.types.input.core.v1.VolumeMount[] | undefined) ?? []), ...scratch],
        })),
        volumes: [...(spec.volumes ?? []), ...scratch.map(s => ({ name: s.name, emptyDir: {} }))],
    };
}
