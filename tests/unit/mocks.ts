import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { savedHealthcheck } from "./dockerProviderState";

/** What the mocked engine saw: each registered resource with its inputs and its URN (which carries the parent's type). */
export interface RecordedResource {
    type: string;
    name: string;
    inputs: Record<string, any>;
    /** What the mocked provider answered: the inputs and its computed outputs. */
    state: Record<string, any>;
    urn: string;
}

/** The certificate every mocked StackCertificateAuthority answers with: a real one, whose key was thrown away. */
export const UNIT_TEST_CA = fs.readFileSync(path.join(__dirname, "..", "fixtures", "unit-test-ca.pem"), "utf8");

/** The salt every mocked BcryptSalt answers with. */
export const MOCK_SALT = `$2b$10$${"s".repeat(22)}`;

/** Outputs the real providers compute, faked per type so that dependents receive plausible values. */
function computedOutputs(args: pulumi.runtime.MockResourceArgs): Record<string, unknown> {
    const kind = args.type.split(":").pop();
    switch (kind) {
        case "GeneratedPassword":
            return { value: `generated-${args.name}`, bcryptHash: `$2y$10$${"a".repeat(53)}` };
        case "BcryptSalt":
            return { salt: MOCK_SALT };
        case "TrinoTlsMaterial":
            return { keystoreBase64: "a2V5c3RvcmU=", certificatePem: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n" };
        case "StackCertificateAuthority":
            // A real certificate, so that what parses the CA (a mesh reading a domain stack's product) can.
            return { certificatePem: UNIT_TEST_CA, privateKeyPem: "-----BEGIN PRIVATE KEY-----\nMOCK-CA-KEY\n-----END PRIVATE KEY-----\n" };
        case "ServerCertificate":
            return { certificatePem: `-----BEGIN CERTIFICATE-----\nMOCK-${args.name}\n-----END CERTIFICATE-----\n`, privateKeyPem: `-----BEGIN PRIVATE KEY-----\nMOCK-KEY-${args.name}\n-----END PRIVATE KEY-----\n` };
        case "LocalDatabaseServer":
            return { pid: 4242, host: "127.0.0.1", adminUser: args.inputs.engine === "postgresql" ? "postgres" : "datamesh_admin" };
        case "LocalTrinoServer":
            return { pid: 4343, url: `https://127.0.0.1:${args.inputs.port}`, version: "476" };
        case "DomainDataLoad":
            return { rowCounts: Object.fromEntries(args.inputs.tables.map((t: { name: string }) => [t.name, 100])) };
        case "ExternalDatabaseProbe":
            return { rowCounts: Object.fromEntries(args.inputs.tables.map((t: { name: string }) => [t.name, 7])) };
        case "LocalDocsSite":
            return { pid: 4444, url: `http://127.0.0.1:${args.inputs.port}/`, generatedAt: "2026-01-01T00:00:01Z" };
        case "LocalDbtRun":
            return { runId: "run-1", summary: "Done. PASS=1 WARN=0 ERROR=0 SKIP=0 TOTAL=1" };
        case "InsightsReconciliation":
            return { summary: "OK: all reconciled" };
        case "SourceFingerprint":
            // What Trino answered for each table: a row count the loads never report, and one column.
            return {
                fingerprint: `fingerprint-of-${args.inputs.sources.map((s: { table: string }) => s.table).join("-")}`,
                tables: args.inputs.sources.map((s: { catalog: string; schema: string; table: string }) => ({ table: `${s.catalog}.${s.schema}.${s.table}`, rows: 123, columns: [["id", "bigint"]] })),
            };
        case "InsightsPublication":
            return {
                publishedRun: args.inputs.runSchema,
                previousRun: "",
                rebuiltAt: "2026-01-01T00:00:00Z",
                reason: "first deploy",
                summary: `${args.inputs.audit}; published ${args.inputs.runSchema}, rebuilt 2026-01-01T00:00:00Z (first deploy)`,
            };
        case "TrinoNodes":
            // The coordinator's own answer; the stack refuses any release but the pinned one.
            return { version: "476", activeNodes: args.inputs.nodes };
        case "KubernetesJobOutcome":
            return { summary: `last line of the log of Job ${args.inputs.jobName}` };
        case "RemoteImage":
            return { imageId: `sha256:image-of-${args.name}` };
        case "Image":
            return { repoDigest: `sha256:built-${args.name}` };
        case "Container":
            return {
                ...(args.inputs.healthcheck ? { healthcheck: savedHealthcheck(args.inputs.healthcheck) } : {}),
                ...(args.inputs.attach ? { exitCode: 0 } : {}),
                ...(args.inputs.logs ? { containerLogs: "12:00:01  Running with dbt=1.11.16\r\n12:00:09  Done. PASS=1 WARN=0 ERROR=0 SKIP=0 TOTAL=1\r\n" } : {}),
            };
        default:
            return {};
    }
}

/**
 * Installs the mocked engine. `stacks` are the stacks a StackReference can read, by name, with
 * their outputs; reading any other fails as the engine does for a stack that does not exist.
 */
export async function installMocks(stacks: Record<string, Record<string, unknown>> = {}): Promise<RecordedResource[]> {
    const recorded: RecordedResource[] = [];
    await pulumi.runtime.setMocks(
        {
            newResource: args => {
                if (args.type === "pulumi:pulumi:StackReference") {
                    const outputs = stacks[args.inputs.name];
                    if (!outputs) {
                        throw new Error(`unknown stack "${args.inputs.name}"`);
                    }
                    const state = { name: args.inputs.name, outputs, secretOutputNames: Object.keys(outputs) };
                    recorded.push({ type: args.type, name: args.name, inputs: args.inputs, state, urn: "" });
                    return { id: args.inputs.name, state };
                }
                const state = { ...args.inputs, ...computedOutputs(args) };
                recorded.push({ type: args.type, name: args.name, inputs: args.inputs, state, urn: "" });
                return { id: `${args.name}-id`, state };
            },
            call: args => args.inputs,
        },
        "datamesh",
        "unit",
        false,
    );
    return recorded;
}

/** Attaches the URNs the mock monitor assigned, once registration has settled. */
export function attachUrns(recorded: RecordedResource[]): void {
    const settings = require("@pulumi/pulumi/runtime/settings");
    const registered: Map<string, unknown> = settings.getMonitor().getRegisteredResources();
    for (const urn of registered.keys()) {
        const name = urn.split("::").pop();
        const match = recorded.find(r => r.name === name && urn.split("::")[2].split("$").pop() === r.type);
        if (match) {
            match.urn = urn;
        }
    }
}

/** The recorded resource of that name, or a failure that lists the names there are. */
export function resourceNamed(resources: RecordedResource[], name: string): RecordedResource {
    const found = resources.find(r => r.name === name);
    if (!found) {
        throw new Error(`no resource named ${name}; have ${resources.map(r => r.name).join(", ")}`);
    }
    return found;
}

export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
    return new Promise(resolve => output.apply(resolve));
}

export async function isSecret(output: pulumi.Output<unknown>): Promise<boolean> {
    return (output as any).isSecret as Promise<boolean>;
}

export const FAKE_TOOLCHAIN = {
    trinoHome: "/cache/trino/476/server",
    javaHome: "/jdk-25",
    dbtBin: "/cache/dbt/abc/venv/bin/dbt",
    postgres: { init: "/pg/bin/initdb", server: "/pg/bin/postgres" },
    mariadb: { init: "/usr/bin/mariadb-install-db", server: "/usr/sbin/mariadbd" },
};
