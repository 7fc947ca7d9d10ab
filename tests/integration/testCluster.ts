import { spawnSync } from "child_process";
import * as path from "path";
import { REPO_DIR } from "./harness";

/*
 * The project's own single-node Kubernetes cluster (scripts/test-cluster.sh), started for the
 * tests that need it and stopped after them, unless it was already running before them.
 */

export interface TestCluster {
    kubeconfig: string;
    /** The stack settings `up` printed for the test images, without the datamesh: prefix. */
    settings: Record<string, string>;
    /** The access log of the cluster's package index: one line per file a pod fetched. */
    packageIndexLog: string;
    /** Stops the cluster if these tests started it. */
    release(): void;
}

const SCRIPT = path.join(REPO_DIR, "scripts", "test-cluster.sh");

function run(command: string): { status: number | null; stdout: string; stderr: string } {
    const outcome = spawnSync("bash", [SCRIPT, command], { encoding: "utf8", timeout: 3_600_000, maxBuffer: 64 * 1024 * 1024 });
    return { status: outcome.status, stdout: outcome.stdout ?? "", stderr: outcome.stderr ?? "" };
}

export function startTestCluster(): TestCluster {
    const wasRunning = run("status").status === 0;
    const up = run("up");
    if (up.status !== 0) {
        throw new Error(`scripts/test-cluster.sh up failed (exit ${up.status}); the kubernetes tests need the project's test cluster:\n${up.stderr.split("\n").slice(-30).join("\n")}`);
    }
    const lines = up.stdout.split("\n").map(line => line.trim());
    const kubeconfig = lines.find(line => line.startsWith("KUBECONFIG="))?.slice("KUBECONFIG=".length);
    if (!kubeconfig) {
        throw new Error(`scripts/test-cluster.sh up printed no KUBECONFIG= line:\n${up.stdout}`);
    }
    const settings = Object.fromEntries(
        lines
            .filter(line => line.startsWith("datamesh:"))
            .map(line => {
                const [key, ...value] = line.slice("datamesh:".length).split("=");
                return [key, value.join("=")];
            }),
    );
    return {
        kubeconfig,
        settings,
        // The state folder holds the admin kubeconfig and the components' logs.
        packageIndexLog: path.join(path.dirname(kubeconfig), "logs", "package-index.log"),
        release() {
            if (!wasRunning) {
                const down = run("down");
                if (down.status !== 0) {
                    throw new Error(`scripts/test-cluster.sh down failed (exit ${down.status}):\n${down.stderr}`);
                }
            }
        },
    };
}
