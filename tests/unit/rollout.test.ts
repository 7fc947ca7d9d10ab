import { rolledOut } from "../../platforms/kubernetes/rollout";
import { podReady, stuckContainers } from "../../platforms/kubernetes/pods";

/*
 * What the deploying machine reads of a workload while it awaits its rollout: when it is done, and
 * which pods cannot start. The live cluster suite gives a Deployment and a StatefulSet an image
 * that cannot be pulled; here, the reading of the API's answers.
 */

const deployment = (status: Record<string, unknown>, generation = 2, replicas = 2) => ({ metadata: { generation }, spec: { replicas, selector: { matchLabels: {} } }, status });

describe("a rollout", () => {
    it("is done once every replica runs the newest template, ready, with no old one left", () => {
        expect(rolledOut("Deployment", deployment({ observedGeneration: 2, replicas: 2, readyReplicas: 2, updatedReplicas: 2, availableReplicas: 2 }))).toBe(true);
        // The controller has not seen the new template yet.
        expect(rolledOut("Deployment", deployment({ observedGeneration: 1, replicas: 2, readyReplicas: 2, updatedReplicas: 2, availableReplicas: 2 }))).toBe(false);
        // An old pod still runs beside the new ones.
        expect(rolledOut("Deployment", deployment({ observedGeneration: 2, replicas: 3, readyReplicas: 2, updatedReplicas: 2, availableReplicas: 2 }))).toBe(false);
        expect(rolledOut("Deployment", deployment({ observedGeneration: 2, replicas: 2, readyReplicas: 1, updatedReplicas: 2, availableReplicas: 1 }))).toBe(false);
        expect(rolledOut("Deployment", deployment({ observedGeneration: 2 }, 2, 0))).toBe(true);
    });

    it("of a StatefulSet is done only when its current revision is the update revision", () => {
        const ready = { observedGeneration: 2, replicas: 2, readyReplicas: 2, updatedReplicas: 2 };
        expect(rolledOut("StatefulSet", deployment({ ...ready, currentRevision: "db-1", updateRevision: "db-1" }))).toBe(true);
        expect(rolledOut("StatefulSet", deployment({ ...ready, currentRevision: "db-0", updateRevision: "db-1" }))).toBe(false);
    });
});

describe("a pod that cannot start", () => {
    const waiting = (name: string, image: string, reason: string) => ({ name, image, state: { waiting: { reason, message: `reason ${reason}` } } });

    it("is named with its container and image, init containers included, when no waiting cures it", () => {
        const pods = [
            {
                metadata: { name: "docs-site-6b7c-x2" },
                spec: { containers: [] },
                status: { initContainerStatuses: [waiting("site-owner", "reg/no:1", "ImagePullBackOff")], containerStatuses: [waiting("server", "reg/no:1", "PodInitializing")] },
            },
            { metadata: { name: "orders-server-0" }, spec: { containers: [] }, status: { containerStatuses: [waiting("mariadb", "mariadb:11", "ContainerCreating")] } },
        ];
        expect(stuckContainers("mesh", pods)).toEqual(["pod mesh/docs-site-6b7c-x2 cannot start container site-owner from image reg/no:1: ImagePullBackOff: reason ImagePullBackOff"]);
    });

    it("is ready only with a true Ready condition", () => {
        const pod = (status: string) => ({ metadata: { name: "p" }, spec: { containers: [] }, status: { conditions: [{ type: "Ready", status }] } });
        expect(podReady(pod("True"))).toBe(true);
        expect(podReady(pod("False"))).toBe(false);
        expect(podReady({ metadata: { name: "p" }, spec: { containers: [] }, status: {} })).toBe(false);
    });
});
