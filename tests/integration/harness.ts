import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { pulumiBinDir, readVersions } from "../../lib/versions";
import { isAlive, isListening } from "../../platforms/local/process";

export { isAlive, isListening };
import { queryTrino } from "../../lib/trinoQuery";
import { TextTable } from "../reference";

export const REPO_DIR = path.join(__dirname, "..", "..");
const CACHE_DIR = process.env.DATAMESH_CACHE ?? path.join(os.homedir(), ".cache", "datamesh");
const NOT_COPIED = new Set(["node_modules", ".git", ".datamesh", ".pulumi-state", "bin", "coverage", "benchmarks"]);

/** The pinned Pulumi CLI, or a failure that says what is missing and how to get it. */
export async function pulumiCommand(): Promise<PulumiCommand> {
    const version = readVersions().PULUMI_VERSION;
    const binDir = pulumiBinDir(CACHE_DIR, version);
    for (const program of ["pulumi", "pulumi-language-nodejs", "pulumi-resource-pulumi-nodejs"]) {
        if (!fs.existsSync(path.join(binDir, program))) {
            throw new Error(`missing ${program} in ${binDir}: the integration tests need the Pulumi CLI ${version}; run scripts/setup.sh`);
        }
    }
    return PulumiCommand.get({ root: path.dirname(binDir) });
}

/** A port range nobody listens on, so parallel runs and leftovers do not collide. */
export async function freePortRange(count: number): Promise<number> {
    for (let attempt = 0; attempt < 50; attempt++) {
        const base = 20000 + crypto.randomInt(0, 400) * 20;
        const taken = await Promise.all(Array.from({ length: count }, (_, i) => isListening(base + i)));
        if (!taken.some(Boolean)) {
            return base;
        }
    }
    throw new Error("no free port range found between 20000 and 28000");
}

/** A deployable copy of the project with its own backend, state folder and ports. */
export interface MeshUnderTest {
    stack: Stack;
    projectDir: string;
    stateDir: string;
    basePort: number;
    trinoPort: number;
    trinoUrl: string;
    /** Outputs of the deployed resources by logical name, from the exported state. */
    resourceOutputs(): Promise<Record<string, Record<string, any>>>;
    /** The stack's checkpoint as the file backend stores it on disk, secrets encrypted. */
    storedState(): string;
    remove(): Promise<void>;
}

export async function createMesh(label: string, config: Record<string, string> = {}): Promise<MeshUnderTest> {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), `datamesh-it-${label}-`));
    const projectDir = path.join(root, "project");
    fs.cpSync(REPO_DIR, projectDir, { recursive: true, filter: source => !NOT_COPIED.has(path.basename(source)) || path.dirname(source) !== REPO_DIR });
    fs.symlinkSync(path.join(REPO_DIR, "node_modules"), path.join(projectDir, "node_modules"));
    const backendDir = path.join(root, "backend");
    fs.mkdirSync(backendDir);
    const stateDir = path.join(root, "state");
    const basePort = await freePortRange(12);
    const trinoPort = basePort + 10;
    const pulumi = await pulumiCommand();
    const binDir = path.dirname(pulumi.command);
    const stack = await LocalWorkspace.createStack(
        { stackName: `it-${label}`, workDir: projectDir },
        {
            pulumiCommand: pulumi,
            pulumiHome: path.join(root, "pulumi-home"),
            envVars: {
                PULUMI_BACKEND_URL: `file://${backendDir}`,
                PULUMI_CONFIG_PASSPHRASE: "datamesh-integration-tests",
                PULUMI_SKIP_UPDATE_CHECK: "true",
                PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
                PATH: `${binDir}:${process.env.PATH}`,
                DATAMESH_CACHE: CACHE_DIR,
            },
        },
    );
    await stack.setAllConfig({
        "datamesh:stateDir": { value: stateDir },
        "datamesh:basePort": { value: String(basePort) },
        "datamesh:trinoPort": { value: String(trinoPort) },
        ...Object.fromEntries(Object.entries(config).map(([k, v]) => [`datamesh:${k}`, { value: v }])),
    });
    return {
        stack,
        projectDir,
        stateDir,
        basePort,
        trinoPort,
        trinoUrl: `http://127.0.0.1:${trinoPort}`,
        async resourceOutputs() {
            const deployment = await stack.exportStack();
            const resources: { urn: string; outputs?: Record<string, any> }[] = deployment.deployment.resources ?? [];
            return Object.fromEntries(resources.map(r => [r.urn.split("::").pop()!, r.outputs ?? {}]));
        },
        storedState() {
            const stacksDir = path.join(backendDir, ".pulumi", "stacks");
            const files = fs.readdirSync(stacksDir, { recursive: true }).map(String).filter(f => f.endsWith(".json"));
            return files.map(f => fs.readFileSync(path.join(stacksDir, f), "utf8")).join("\n");
        },
        async remove() {
            try {
                await stack.destroy();
            } finally {
                await stack.workspace.removeStack(stack.name).catch(() => undefined);
                fs.rmSync(root, { recursive: true, force: true });
            }
        },
    };
}

/** Runs a query and renders cells as the expected CSVs do: NULL as "", everything else as text. */
export async function queryAsText(trinoUrl: string, sql: string): Promise<TextTable> {
    const outcome = await queryTrino({ url: trinoUrl, user: "integration_test" }, sql);
    return { header: outcome.columns, rows: outcome.rows.map(row => row.map(cell => (cell === null ? "" : String(cell)))) };
}
