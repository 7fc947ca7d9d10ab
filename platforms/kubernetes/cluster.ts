import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ConfigError, CONFIG_NAMESPACE } from "../../config";
import { KubeTarget, KubeTunnel } from "../../lib/kubectl";
import { withDependencies } from "../shared/options";
import { PART_OF_MESH } from "./names";
import { NamespaceTeardown } from "./namespaceTeardown";
import { denyAllButDns } from "./networkPolicies";
import { POD_SECURITY_ENFORCE_LABEL, POD_SECURITY_LEVEL } from "./podSecurity";
import { KubernetesRollout, WorkloadKind } from "./rollout";

/*
 * The namespace the whole mesh lives in, the provider that reaches it, and the naming every object
 * shares. When the stack applies to a live cluster, the same kubeconfig and context also serve the
 * deploying machine's own steps (port-forwards, reading Jobs back), so both reach one cluster.
 */

export interface ClusterArgs {
    stack: string;
    namespace: string;
    /** Label the namespace to enforce the restricted Pod Security Standard; unset for clusters that label namespaces themselves. */
    podSecurityLabel: boolean;
    /** Write manifests to this folder instead of applying them. */
    renderYamlTo?: string;
    /** The live cluster; unset when rendering. */
    target?: KubeTarget;
}

/**
 * The kubeconfig and context the stack deploys to, checked before any resource: the file exists,
 * names the context, and the cluster's API server answers.
 */
export function resolveKubeTarget(options: { kubeconfig?: string; context?: string; env: NodeJS.ProcessEnv }): KubeTarget {
    const kubeconfig = options.kubeconfig ?? options.env.KUBECONFIG?.split(path.delimiter)[0] ?? path.join(os.homedir(), ".kube", "config");
    const fail = (key: string, message: string): never => {
        throw new ConfigError(`invalid configuration:\n${CONFIG_NAMESPACE}:${key}: ${message}`);
    };
    if (!fs.existsSync(kubeconfig)) {
        fail("kubeconfig", `no kubeconfig at ${kubeconfig} (set datamesh:kubeconfig or KUBECONFIG to your cluster's, or use platform local)`);
    }
    let parsed: { "current-context"?: string; contexts?: { name: string }[] };
    try {
        parsed = JSON.parse(execFileSync("kubectl", ["--kubeconfig", kubeconfig, "config", "view", "-o", "json"], { stdio: ["ignore", "pipe", "pipe"], timeout: 30_000, env: options.env }).toString("utf8"));
    } catch (error) {
        const failure = error as NodeJS.ErrnoException & { stderr?: Buffer };
        const reason = failure.code === "ENOENT" ? "kubectl is not on PATH; the kubernetes platform needs it" : (failure.stderr?.toString("utf8").trim() || failure.message).split("\n")[0];
        return fail("kubeconfig", `cannot read ${kubeconfig}: ${reason}`);
    }
    const context = options.context ?? parsed["current-context"];
    const known = (parsed.contexts ?? []).map(c => c.name);
    if (!context) {
        return fail("kubeContext", `${kubeconfig} has no current context; set datamesh:kubeContext to one of: ${known.join(", ") || "(none)"}`);
    }
    if (!known.includes(context)) {
        fail("kubeContext", `context '${context}' is not in ${kubeconfig}; it has: ${known.join(", ") || "(none)"}`);
    }
    try {
        execFileSync("kubectl", ["--kubeconfig", kubeconfig, "--context", context, "--request-timeout=15s", "get", "--raw", "/readyz"], { stdio: ["ignore", "pipe", "pipe"], timeout: 30_000, env: options.env });
    } catch (error) {
        const failure = error as NodeJS.ErrnoException & { stderr?: Buffer };
        const reason = failure.code === "ENOENT" ? "kubectl is not on PATH; the kubernetes platform needs it" : (failure.stderr?.toString("utf8").trim() || failure.message).split("\n")[0];
        fail("kubeContext", `the cluster of context '${context}' (${kubeconfig}) does not answer: ${reason}`);
    }
    return { kubeconfig, context };
}

/** What the stack's namespace, and every object in it, is labelled with. */
function namespaceLabels(stack: string): Record<string, string> {
    return { ...PART_OF_MESH, "app.kubernetes.io/instance": stack };
}

/**
 * The stack creates its namespace, and labels it itself. A namespace of that name which another
 * hand made would be taken over, its labels overwritten; one that enforces another Pod Security
 * level is refused by name, before any workload, rather than failing pod by pod.
 */
function assertNamespaceIsOurs(target: KubeTarget, namespace: string, stack: string, podSecurityLabel: boolean): void {
    let found: { metadata: { labels?: Record<string, string> } } | undefined;
    try {
        const out = execFileSync("kubectl", ["--kubeconfig", target.kubeconfig, "--context", target.context, "--request-timeout=15s", "get", "namespace", namespace, "--ignore-not-found", "-o", "json"], {
            stdio: ["ignore", "pipe", "pipe"],
            timeout: 30_000,
            env: process.env,
        }).toString("utf8");
        found = out.trim() ? JSON.parse(out) : undefined;
    } catch (error) {
        const failure = error as Error & { stderr?: Buffer };
        throw new ConfigError(`invalid configuration:\n${CONFIG_NAMESPACE}:namespace: cannot read namespace ${namespace}: ${(failure.stderr?.toString("utf8").trim() || failure.message).split("\n")[0]}`);
    }
    if (!found) {
        return;
    }
    const labels = found.metadata.labels ?? {};
    const ours = Object.entries(namespaceLabels(stack)).every(([key, value]) => labels[key] === value);
    const enforced = labels[POD_SECURITY_ENFORCE_LABEL];
    if (!ours && podSecurityLabel && enforced !== undefined && enforced !== POD_SECURITY_LEVEL) {
        throw new ConfigError(
            `invalid configuration:\n${CONFIG_NAMESPACE}:namespace: namespace ${namespace} already exists, was not created by this stack, and enforces ${POD_SECURITY_ENFORCE_LABEL}=${enforced}; ` +
                `the stack runs its pods under '${POD_SECURITY_LEVEL}' and creates its own namespace: choose another ${CONFIG_NAMESPACE}:namespace`,
        );
    }
    if (!ours) {
        throw new ConfigError(
            `invalid configuration:\n${CONFIG_NAMESPACE}:namespace: namespace ${namespace} already exists and was not created by this stack (its labels lack app.kubernetes.io/instance=${stack}); choose another ${CONFIG_NAMESPACE}:namespace`,
        );
    }
}

export class Cluster {
    readonly provider: k8s.Provider;
    readonly namespace: string;
    private readonly namespaceResource: k8s.core.v1.Namespace;
    /** What every object of the stack depends on besides the namespace: on a live cluster, the teardown that outlasts their pods on destroy. */
    private readonly before: pulumi.Resource[];

    constructor(private readonly args: ClusterArgs) {
        this.namespace = args.namespace;
        this.provider = new k8s.Provider(
            "kubernetes-provider",
            {
                ...(args.renderYamlTo ? { renderYamlToDirectory: args.renderYamlTo } : { kubeconfig: args.target?.kubeconfig, context: args.target?.context }),
                // The mesh's ConfigMaps and Secrets keep their names, as the Helm chart's do, and a change rolls the pods through
                // their checksum annotations. Replaced instead, a fixed name forces delete-before-replace, and Pulumi then
                // deletes every workload that mounts it first: a configuration change would take Trino down, not roll it.
                enableConfigMapMutable: true,
                enableSecretMutable: true,
            },
        );
        if (args.target) {
            assertNamespaceIsOurs(args.target, args.namespace, args.stack, args.podSecurityLabel);
        }
        this.namespaceResource = new k8s.core.v1.Namespace(
            "kubernetes-namespace",
            {
                metadata: {
                    name: this.namespace,
                    labels: {
                        ...namespaceLabels(args.stack),
                        ...(args.podSecurityLabel ? { [POD_SECURITY_ENFORCE_LABEL]: POD_SECURITY_LEVEL } : {}),
                    },
                },
            },
            { provider: this.provider },
        );
        denyAllButDns(this, { provider: this.provider, dependsOn: [this.namespaceResource] });
        const target = this.target;
        this.before = target
            ? [
                  new NamespaceTeardown(
                      "kubernetes-namespace-teardown",
                      { target, namespace: this.namespace, selector: Object.entries(this.instanceLabels()).map(([key, value]) => `${key}=${value}`).join(",") },
                      { dependsOn: [this.namespaceResource] },
                  ),
              ]
            : [];
    }

    /** The live cluster the deploying machine's own steps use; undefined when only rendering. */
    get target(): KubeTarget | undefined {
        return this.args.renderYamlTo ? undefined : this.args.target;
    }

    serviceHost(service: string): string {
        return `${service}.${this.namespace}.svc.cluster.local`;
    }

    /** How the deploying machine reaches a Service's port: a port-forward; none when only rendering. */
    tunnel(service: pulumi.Input<string>, port: number): pulumi.Output<KubeTunnel> | undefined {
        const target = this.target;
        return target ? pulumi.output(service).apply(name => ({ ...target, namespace: this.namespace, service: name, port })) : undefined;
    }

    /** The component's options, with this cluster's provider and its namespace created first. */
    options(opts: pulumi.CustomResourceOptions, ...after: pulumi.Input<pulumi.Resource>[]): pulumi.CustomResourceOptions {
        return { ...withDependencies(opts, this.namespaceResource, ...this.before, ...after), provider: this.provider };
    }

    /** The label every object of this stack carries, and only this stack's. */
    instanceLabels(): Record<string, string> {
        return { "app.kubernetes.io/instance": this.args.stack };
    }

    labels(component: string, role: string): Record<string, string> {
        return { ...namespaceLabels(this.args.stack), "app.kubernetes.io/name": component, "app.kubernetes.io/component": role };
    }

    metadata(name: string, component: string, role: string) {
        return { name, namespace: this.namespace, labels: this.labels(component, role) };
    }

    /** A workload's metadata: on a live cluster the provider's await is skipped, since the stack awaits the rollout itself (see rollout). */
    workloadMetadata(name: string, component: string, role: string) {
        return { ...this.metadata(name, component, role), ...(this.target ? { annotations: { "pulumi.com/skipAwait": "true" } } : {}) };
    }

    /**
     * What waits for a workload: its rollout, awaited by the deploying machine, which names a pod
     * that cannot start within a minute; the workload itself when only rendering.
     */
    rollout(workload: k8s.apps.v1.Deployment | k8s.apps.v1.StatefulSet, kind: WorkloadKind, component: string, name: string, opts: pulumi.CustomResourceOptions): pulumi.Resource {
        const target = this.target;
        if (!target) {
            return workload;
        }
        return new KubernetesRollout(
            `${name}-rollout`,
            { target, namespace: this.namespace, kind, name: workload.metadata.name, component, generation: workload.metadata.generation, timeoutSeconds: 600 },
            { ...withDependencies(opts, workload), provider: undefined },
        );
    }

    secret(name: string, component: string, role: string, values: pulumi.Input<Record<string, pulumi.Input<string>>>, opts: pulumi.CustomResourceOptions): k8s.core.v1.Secret {
        return new k8s.core.v1.Secret(name, { metadata: this.metadata(name, component, role), type: "Opaque", stringData: pulumi.secret(values) }, this.options(opts));
    }
}
