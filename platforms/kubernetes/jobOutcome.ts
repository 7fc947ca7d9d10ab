import * as pulumi from "@pulumi/pulumi";
import { KubeTarget, kubectl, kubectlJson } from "../../lib/kubectl";
import { PodStatus, stuckContainers } from "./pods";

/*
 * A cluster Job's result, read back from the cluster once the Job has finished: its own closing
 * line on success, its own message on failure. The Job itself is created without the provider's
 * await, because the provider would wait out its whole timeout on an image that cannot be pulled;
 * this resource fails within a minute or two instead, naming the pod and the image.
 */

interface JobOutcomeInputs {
    target: KubeTarget;
    namespace: string;
    jobName: string;
    /** Names the owning component in errors. */
    component: string;
    /** Lines of the log that make the summary: the last line matching this, else the last line. */
    summaryPattern: string;
    timeoutSeconds: number;
}

interface JobStatus {
    status: { succeeded?: number; failed?: number; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

async function jobLog(inputs: JobOutcomeInputs): Promise<string> {
    const outcome = await kubectl(inputs.target, ["-n", inputs.namespace, "logs", `job/${inputs.jobName}`, "--all-containers", "--tail=200"]);
    return outcome.status === 0 ? outcome.stdout : `(no log: ${outcome.stderr.trim()})`;
}

function lastLines(text: string, count: number): string {
    return text.trim().split("\n").slice(-count).join("\n");
}

async function awaitJob(inputs: JobOutcomeInputs): Promise<string> {
    const label = `${inputs.component}: Job ${inputs.namespace}/${inputs.jobName}`;
    const deadline = Date.now() + inputs.timeoutSeconds * 1000;
    // Image pulls are retried by the kubelet; a few sightings in a row tell a real failure from a blip.
    let stuckSightings = 0;
    while (Date.now() < deadline) {
        const job = await kubectlJson<JobStatus>(inputs.target, ["-n", inputs.namespace, "get", "job", inputs.jobName]);
        const conditions = job.status.conditions ?? [];
        if (conditions.some(c => c.type === "Complete" && c.status === "True")) {
            const log = await jobLog(inputs);
            const pattern = new RegExp(inputs.summaryPattern);
            const lines = log.trim().split("\n");
            return [...lines].reverse().find(line => pattern.test(line)) ?? lines[lines.length - 1] ?? "";
        }
        const failed = conditions.find(c => c.type === "Failed" && c.status === "True");
        if (failed) {
            throw new Error(`${label} failed (${failed.reason ?? "Failed"}: ${failed.message ?? ""}):\n${lastLines(await jobLog(inputs), 30)}`);
        }
        const pods = await kubectlJson<{ items: PodStatus[] }>(inputs.target, ["-n", inputs.namespace, "get", "pods", "-l", `job-name=${inputs.jobName}`]);
        const stuck = stuckContainers(inputs.namespace, pods.items);
        stuckSightings = stuck.length > 0 ? stuckSightings + 1 : 0;
        if (stuckSightings >= 6) {
            throw new Error(`${label} cannot run: ${stuck.join("; ")}`);
        }
        await new Promise(resolve => setTimeout(resolve, 5_000));
    }
    throw new Error(`${label} did not finish within ${inputs.timeoutSeconds} s:\n${lastLines(await jobLog(inputs), 30)}`);
}

const jobOutcomeProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: JobOutcomeInputs) {
        const summary = await awaitJob(inputs);
        return { id: `${inputs.namespace}/${inputs.jobName}`, outs: { ...inputs, summary } };
    },
    async diff(_id: string, olds: JobOutcomeInputs, news: JobOutcomeInputs) {
        // A Job runs once; a new name is a new run, whose result is read anew.
        const replaces = olds.jobName !== news.jobName || olds.namespace !== news.namespace ? ["jobName"] : [];
        return { changes: replaces.length > 0 || olds.summaryPattern !== news.summaryPattern, replaces, deleteBeforeReplace: false };
    },
    async update(_id: string, _olds: JobOutcomeInputs, news: JobOutcomeInputs) {
        return { outs: { ...news, summary: await awaitJob(news) } };
    },
};

export interface KubernetesJobOutcomeArgs {
    /** The cluster the Job runs in. */
    target: pulumi.Input<KubeTarget>;
    namespace: pulumi.Input<string>;
    /** The Job's name; a new name is a new run. */
    jobName: pulumi.Input<string>;
    /** Names the owning component in errors. */
    component: string;
    /** A regular expression for the log line that summarises the run; the last line when none matches. */
    summaryPattern: string;
    /** How long the Job may take before `pulumi up` gives up on it. */
    timeoutSeconds: number;
}

/** Waits for a Job and reads its result back; a failed Job fails `pulumi up` with the Job's own message. */
export class KubernetesJobOutcome extends pulumi.dynamic.Resource {
    /** The Job's own summary line, read from its log. */
    public readonly summary!: pulumi.Output<string>;

    constructor(name: string, args: KubernetesJobOutcomeArgs, opts?: pulumi.CustomResourceOptions) {
        super(jobOutcomeProvider, name, { ...args, summary: undefined }, opts, "datamesh", "KubernetesJobOutcome");
    }
}
