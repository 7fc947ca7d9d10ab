import { LocalWorkspace, PulumiCommand, Stack } from "@pulumi/pulumi/automation";
import * as crypto from "crypto";
import * as fs from "fs";
import * as https from "https";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { kubernetesProviderBinDir, pulumiBinDir, readVersions } from "../../lib/versions";
import { isAlive, isListening } from "../../platforms/local/process";

export { isAlive, isListening };
import { basicAuthorization, queryTrino, TrinoConnection } from "../../lib/trinoQuery";
import { TextTable } from "../reference";

export const REPO_DIR = path.join(__dirname, "..", "..");
export const CACHE_DIR = process.env.DATAMESH_CACHE ?? path.join(os.homedir(), ".cache", "datamesh");
// test-artifacts: the browser tests of other suites, running beside this one, write their pictures there.
export const NOT_COPIED = new Set(["node_modules", ".git", ".datamesh", ".pulumi-state", "bin", "coverage", "benchmarks", "test-artifacts"]);

/** A copy of the project as a user's clone holds it, sharing this checkout's node_modules. */
export function copyProject(projectDir: string): void {
    fs.cpSync(REPO_DIR, projectDir, { recursive: true, filter: source => !NOT_COPIED.has(path.basename(source)) || path.dirname(source) !== REPO_DIR });
    fs.symlinkSync(path.join(REPO_DIR, "node_modules"), path.join(projectDir, "node_modules"));
}

const PULUMI_PROGRAMS = ["pulumi", "pulumi-language-nodejs", "pulumi-resource-pulumi-nodejs"];

/**
 * The Pulumi CLI that setup chose: the pinned one it built, or else one installed on PATH (which
 * PulumiCommand checks is new enough); or a failure that says what is missing and how to get it.
 */
export async function pulumiCommand(): Promise<PulumiCommand> {
    const version = readVersions().PULUMI_VERSION;
    const binDir = pulumiBinDir(CACHE_DIR, version);
    const complete = (dir: string) => PULUMI_PROGRAMS.every(program => fs.existsSync(path.join(dir, program)));
    if (complete(binDir)) {
        return PulumiCommand.get({ root: path.dirname(binDir) });
    }
    const installed = (process.env.PATH ?? "").split(":").find(dir => path.basename(dir) === "bin" && complete(dir));
    if (installed) {
        return PulumiCommand.get({ root: path.dirname(installed) });
    }
    throw new Error(`no Pulumi CLI: neither ${binDir} nor a folder on PATH has ${PULUMI_PROGRAMS.join(", ")}; the integration tests need Pulumi ${version} or newer; run scripts/setup.sh`);
}

/** The folder with the Kubernetes provider plugin, or a failure that says what is missing and how to get it. */
export function kubernetesProviderDir(): string {
    const version = readVersions().KUBERNETES_PROVIDER_VERSION;
    const dir = kubernetesProviderBinDir(CACHE_DIR, version);
    if (!fs.existsSync(path.join(dir, "pulumi-resource-kubernetes"))) {
        throw new Error(`missing pulumi-resource-kubernetes ${version} in ${dir}: the kubernetes tests need it; run scripts/setup.sh`);
    }
    return dir;
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
    /** How a Trino user of the stack connects, by role (analyst, dbt, customers_owner, ...). */
    connection(role: string): Promise<TrinoConnection>;
    remove(): Promise<void>;
}

/** A file backend that several stacks share, as teams share one bucket: one folder, one passphrase. */
export interface SharedBackend {
    dir: string;
    passphrase: string;
}

export function createSharedBackend(label: string): SharedBackend {
    return { dir: fs.mkdtempSync(path.join(os.tmpdir(), `datamesh-it-${label}-backend-`)), passphrase: crypto.randomBytes(24).toString("hex") };
}

export interface MeshOptions {
    /** The backend the stack lives in; a stack of its own, with a random passphrase, when unset. */
    backend?: SharedBackend;
    /** Edits the project's copy before the stack is created, as a team's own repository differs from the mesh's. */
    prepare?: (projectDir: string) => void;
}

/** The fully qualified name that a stack created by createMesh in a file backend has. */
export function qualifiedStackName(label: string): string {
    return `organization/datamesh/it-${label}`;
}

/** The JVM flags every test stack's Trino adds, unless a test sets datamesh:trinoJvmOptions itself. */
export const TEST_TRINO_JVM_OPTIONS = ["-XX:TieredStopAtLevel=1"];

export async function createMesh(label: string, config: Record<string, string> = {}, options: MeshOptions = {}): Promise<MeshUnderTest> {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), `datamesh-it-${label}-`));
    // Run as root, the servers run as their own accounts, which must pass through the test's folder (the stack opens only its own).
    fs.chmodSync(root, 0o711);
    const projectDir = path.join(root, "project");
    copyProject(projectDir);
    options.prepare?.(projectDir);
    const backendDir = options.backend?.dir ?? path.join(root, "backend");
    fs.mkdirSync(backendDir, { recursive: true });
    const stateDir = path.join(root, "state");
    // Databases from basePort, Trino at basePort+10 and +11, the docs site at +12.
    const basePort = await freePortRange(13);
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
                // Each test stack its own random passphrase, or its backend's: nothing in the tests falls back to a constant.
                PULUMI_CONFIG_PASSPHRASE: options.backend?.passphrase ?? crypto.randomBytes(24).toString("hex"),
                PULUMI_SKIP_UPDATE_CHECK: "true",
                // Each stack is a fresh copy, which Pulumi's ts-node would type-check anew (about 12 s of CPU, cached
                // per file path); scripts/test.sh has type-checked the same files once before any suite runs.
                PULUMI_NODEJS_TRANSPILE_ONLY: "true",
                PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
                PATH: `${binDir}:${kubernetesProviderBinDir(CACHE_DIR, readVersions().KUBERNETES_PROVIDER_VERSION)}:${process.env.PATH}`,
                DATAMESH_CACHE: CACHE_DIR,
            },
        },
    );
    await stack.setAllConfig({
        "datamesh:stateDir": { value: stateDir },
        "datamesh:basePort": { value: String(basePort) },
        "datamesh:trinoPort": { value: String(trinoPort) },
        // Tests end with `pulumi destroy`; the protection of domain data is tested on its own.
        "datamesh:protectDomainData": { value: "false" },
        // Trino's second-tier compiler costs a quarter of its CPU in a test's short life and repays it only on long
        // queries; the suites share two cores. The lineage suite runs the default flags (docs/testing.md).
        "datamesh:trinoJvmOptions": { value: JSON.stringify(TEST_TRINO_JVM_OPTIONS) },
        ...Object.fromEntries(Object.entries(config).map(([k, v]) => [`datamesh:${k}`, { value: v, secret: /password|privatekey/i.test(k) }])),
    });
    return {
        stack,
        projectDir,
        stateDir,
        basePort,
        trinoPort,
        trinoUrl: `https://127.0.0.1:${trinoPort}`,
        async connection(role: string) {
            const outputs = await stack.outputs();
            const user = outputs.users?.value?.[role];
            if (!user) {
                throw new Error(`the stack exports no Trino user for role '${role}'`);
            }
            return { url: outputs.trinoUrl.value, user: user.user, password: user.password, caCert: outputs.trinoCaCert.value };
        },
        async resourceOutputs() {
            const deployment = await stack.exportStack();
            const resources: { urn: string; outputs?: Record<string, any> }[] = deployment.deployment.resources ?? [];
            return Object.fromEntries(resources.map(r => [r.urn.split("::").pop()!, r.outputs ?? {}]));
        },
        storedState() {
            const stacksDir = path.join(backendDir, ".pulumi", "stacks");
            // In a shared backend, this stack's own checkpoint only.
            const files = fs.readdirSync(stacksDir, { recursive: true }).map(String).filter(f => f.endsWith(".json") && (!options.backend || path.basename(f) === `it-${label}.json`));
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

/** Runs a query as a role and renders cells as the expected CSVs do: NULL as "", everything else as text. */
export async function queryAsText(mesh: MeshUnderTest, sql: string, role = "dbt"): Promise<TextTable> {
    const outcome = await queryTrino(await mesh.connection(role), sql);
    return { header: outcome.columns, rows: outcome.rows.map(row => row.map(cell => (cell === null ? "" : String(cell)))) };
}

/** The status and body of a raw POST /v1/statement, with optional basic credentials. */
export function statementStatus(baseUrl: string, caCert: string | undefined, credentials: { user: string; password: string } | undefined): Promise<{ status: number; body: string }> {
    const url = new URL("/v1/statement", baseUrl);
    const client = url.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
        const request = client.request(
            url,
            {
                method: "POST",
                ca: caCert,
                headers: { "X-Trino-User": "anonymous", ...(credentials ? { Authorization: basicAuthorization(credentials.user, credentials.password) } : {}) },
            },
            response => {
                let body = "";
                response.setEncoding("utf8");
                response.on("data", chunk => (body += chunk));
                response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
            },
        );
        request.on("error", reject);
        request.end("SELECT 1");
    });
}

/** Every generated password and key in the stack's state (decrypted by the CLI): secret strings of 20 or more letters and digits. */
export async function allSecrets(mesh: MeshUnderTest): Promise<string[]> {
    const deployment = await mesh.stack.exportStack();
    const found = new Set<string>();
    const walk = (value: unknown, secret: boolean) => {
        if (typeof value === "string") {
            if (secret && /^[A-Za-z0-9]{20,}$/.test(value)) {
                found.add(value);
            }
            return;
        }
        if (value && typeof value === "object") {
            const record = value as Record<string, unknown>;
            if (record["4dabf18193072939515e22adb298388d"] === "1b47061264138c4ac30d75fd1eb44270" && typeof record.plaintext === "string") {
                walk(JSON.parse(record.plaintext), true);
                return;
            }
            for (const child of Object.values(record)) {
                walk(child, secret);
            }
        }
    };
    walk(deployment.deployment, false);
    return [...found];
}

/** Every regular file below a folder. */
export function listFiles(root: string): string[] {
    return fs
        .readdirSync(root, { recursive: true, withFileTypes: true })
        .filter(entry => entry.isFile())
        .map(entry => path.join(entry.parentPath, entry.name));
}

/**
 * Every file under root with its contents, read once. The servers keep running while this reads:
 * PostgreSQL removes and rewrites files such as global/pg_internal.init as it goes, so a file may
 * vanish between the listing and the read. A vanished file holds nothing any more, so it is left
 * out; any other read error fails the caller. `vanished` lists them so a caller can bound them.
 */
export function readFilesTolerantly(root: string): { contents: Map<string, string>; vanished: string[] } {
    const contents = new Map<string, string>();
    const vanished: string[] = [];
    for (const file of listFiles(root)) {
        try {
            contents.set(file, fs.readFileSync(file, "latin1"));
        } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
            vanished.push(file);
        }
    }
    return { contents, vanished };
}

/** The stack's PII mask key, read back from its state (decrypted by the CLI). */
export async function piiMaskKey(mesh: MeshUnderTest): Promise<string> {
    return JSON.parse((await mesh.resourceOutputs())["trino-pii-mask-key"].value.plaintext);
}

/** A text column's value as a `hash` mask shows it, computed apart from Trino: HMAC-SHA256 under the key, in Trino's upper-case hex. */
export function piiHash(value: string, key: string): string {
    return crypto.createHmac("sha256", key).update(value, "utf8").digest("hex").toUpperCase();
}
