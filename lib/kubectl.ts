/*
 * The deploying machine's way into a cluster: kubectl, with the kubeconfig and context the stack
 * was given, so every call reaches the same cluster as the Kubernetes provider. Steps that must run
 * against a server inside the cluster (loading a domain's rows, reading Trino's version) go through
 * a port-forward, the way a person would, instead of through size-limited API objects.
 */

/** Which cluster: a kubeconfig file and one of its contexts. */
export interface KubeTarget {
    kubeconfig: string;
    context: string;
}

/** A Service port inside the cluster, reached through a port-forward from the deploying machine. */
export interface KubeTunnel extends KubeTarget {
    namespace: string;
    service: string;
    port: number;
}

export interface KubectlOutcome {
    status: number | null;
    stdout: string;
    stderr: string;
}

/** Runs kubectl against the target; a failure to start kubectl at all is raised naming it. */
export async function kubectl(target: KubeTarget, args: string[], options: { timeoutMs?: number; input?: string } = {}): Promise<KubectlOutcome> {
    const { spawn } = require("child_process") as typeof import("child_process");
    const child = spawn("kubectl", ["--kubeconfig", target.kubeconfig, "--context", target.context, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.stdin.end(options.input ?? "");
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    try {
        const status = await new Promise<number | null>((resolve, reject) => {
            child.on("error", error => reject(new Error(`cannot run kubectl (${(error as NodeJS.ErrnoException).code ?? error.message}); the kubernetes platform needs kubectl on PATH`)));
            child.on("close", code => resolve(code));
        });
        return { status, stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8") };
    } finally {
        clearTimeout(timer);
    }
}

/** kubectl's JSON output of a command that must succeed; its own message otherwise. */
export async function kubectlJson<T>(target: KubeTarget, args: string[]): Promise<T> {
    const outcome = await kubectl(target, [...args, "-o", "json"]);
    if (outcome.status !== 0) {
        throw new Error(`kubectl ${args.join(" ")}: ${outcome.stderr.trim() || `exit ${outcome.status}`}`);
    }
    return JSON.parse(outcome.stdout) as T;
}

export interface PortForward {
    /** The port on 127.0.0.1 that reaches the Service. */
    localPort: number;
    close(): void;
}

/**
 * Forwards a free port on 127.0.0.1 to the Service until closed. A Service whose pod is not running
 * yet (it may be rescheduling) is retried until the deadline; then kubectl's own message is raised.
 */
export async function openPortForward(tunnel: KubeTunnel, deadlineMs = 180_000): Promise<PortForward> {
    const { spawn } = require("child_process") as typeof import("child_process");
    const started = Date.now();
    let lastError = "";
    while (Date.now() - started < deadlineMs) {
        const child = spawn(
            "kubectl",
            ["--kubeconfig", tunnel.kubeconfig, "--context", tunnel.context, "-n", tunnel.namespace, "port-forward", "--address", "127.0.0.1", `service/${tunnel.service}`, `:${tunnel.port}`],
            { stdio: ["ignore", "pipe", "pipe"] },
        );
        const localPort = await new Promise<number | undefined>(resolve => {
            let stdout = "";
            let stderr = "";
            const timer = setTimeout(() => resolve(undefined), 30_000);
            child.stdout.on("data", (chunk: Buffer) => {
                stdout += chunk.toString("utf8");
                const match = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(stdout);
                if (match) {
                    clearTimeout(timer);
                    resolve(Number(match[1]));
                }
            });
            child.stderr.on("data", (chunk: Buffer) => {
                stderr += chunk.toString("utf8");
                lastError = stderr.trim();
            });
            child.on("error", error => {
                lastError = `cannot run kubectl (${(error as NodeJS.ErrnoException).code ?? error.message}); the kubernetes platform needs kubectl on PATH`;
                clearTimeout(timer);
                resolve(undefined);
            });
            child.on("close", () => {
                clearTimeout(timer);
                resolve(undefined);
            });
        });
        if (localPort !== undefined) {
            return { localPort, close: () => void child.kill() };
        }
        child.kill();
        if (lastError.startsWith("cannot run kubectl")) {
            break;
        }
        await new Promise(resolve => setTimeout(resolve, 2_000));
    }
    throw new Error(`cannot reach service ${tunnel.namespace}/${tunnel.service}:${tunnel.port} through a port-forward: ${lastError || "kubectl printed nothing"}`);
}

/** Runs `use` with a port-forward to the tunnel's Service open, and closes it afterwards. */
export async function withPortForward<T>(tunnel: KubeTunnel, use: (localPort: number) => Promise<T>): Promise<T> {
    const forward = await openPortForward(tunnel);
    try {
        return await use(forward.localPort);
    } finally {
        forward.close();
    }
}
