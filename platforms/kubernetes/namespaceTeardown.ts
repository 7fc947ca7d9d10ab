import * as pulumi from "@pulumi/pulumi";
import { KubeTarget, kubectlJson } from "../../lib/kubectl";

/*
 * The last step of a destroy before the namespace goes: it waits until the stack's pods are gone.
 * Every object of the stack depends on this resource, so it is deleted only once all of them are.
 * Deleted at once, the namespace would wait far longer than its pods: the namespace controller,
 * finding a pod still running, looks again only after half of the longest
 * terminationGracePeriodSeconds among the pods (a worker's is two grace periods and five minutes:
 * three minutes), however soon the pod is gone.
 */

interface TeardownInputs {
    target: KubeTarget;
    namespace: string;
    /** Selects the stack's own pods. */
    selector: string;
}

/** Beyond this the namespace's own deletion takes over the wait. */
const WAIT_SECONDS = 600;

interface PodList {
    items: { status: { phase?: string } }[];
}

async function awaitPodsGone(inputs: TeardownInputs): Promise<void> {
    const deadline = Date.now() + WAIT_SECONDS * 1000;
    while (Date.now() < deadline) {
        // A finished pod (a Job's) does not hold the namespace.
        const pods = await kubectlJson<PodList>(inputs.target, ["-n", inputs.namespace, "get", "pods", "-l", inputs.selector]);
        if (pods.items.every(p => p.status.phase === "Succeeded" || p.status.phase === "Failed")) {
            return;
        }
        await new Promise(resolve => setTimeout(resolve, 1_000));
    }
}

const teardownProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: TeardownInputs) {
        return { id: `${inputs.namespace}/teardown`, outs: inputs };
    },
    async diff(_id: string, olds: TeardownInputs, news: TeardownInputs) {
        const replaces = olds.namespace !== news.namespace ? ["namespace"] : [];
        return { changes: replaces.length > 0 || olds.selector !== news.selector || JSON.stringify(olds.target) !== JSON.stringify(news.target), replaces, deleteBeforeReplace: false };
    },
    async update(_id: string, _olds: TeardownInputs, news: TeardownInputs) {
        return { outs: news };
    },
    async delete(_id: string, props: TeardownInputs) {
        await awaitPodsGone(props);
    },
};

export interface NamespaceTeardownArgs {
    /** The cluster the namespace is in. */
    target: pulumi.Input<KubeTarget>;
    namespace: pulumi.Input<string>;
    /** A label selector for the stack's pods. */
    selector: pulumi.Input<string>;
}

/** On destroy, after every object of the stack and before its namespace: waits until the stack's pods are gone. */
export class NamespaceTeardown extends pulumi.dynamic.Resource {
    constructor(name: string, args: NamespaceTeardownArgs, opts?: pulumi.CustomResourceOptions) {
        super(teardownProvider, name, { ...args }, opts, "datamesh", "NamespaceTeardown");
    }
}
