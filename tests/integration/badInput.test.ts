import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { selfSignedCertificate } from "../selfSigned";
import { spawnSync } from "child_process";
import { copyProject, createMesh, MeshUnderTest, pulumiCommand } from "./harness";

// Deployments take minutes; every step here waits for a real `pulumi up`.
jest.setTimeout(900_000);

/*
 * Input the stack must refuse, each against a fresh stack: the error names the key or the port
 * and component, and nothing is left half-created.
 */

/** The types of the resources the stack holds besides itself and its providers: none after refused input. */
async function createdResources(mesh: MeshUnderTest): Promise<string[]> {
    const deployment = await mesh.stack.exportStack();
    return (deployment.deployment.resources ?? []).map((r: { type: string }) => r.type).filter((t: string) => t !== "pulumi:pulumi:Stack" && !t.startsWith("pulumi:providers:"));
}

describe("bad input", () => {
    it("says where this checkout keeps its passphrase when it does not open the stack's secrets", async () => {
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "datamesh-passphrase-"));
        try {
            const projectDir = path.join(root, "project");
            copyProject(projectDir);
            fs.mkdirSync(path.join(root, "backend"));
            const pulumi = await pulumiCommand();
            const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${path.dirname(pulumi.command)}:${process.env.PATH}`, PULUMI_BACKEND_URL: `file://${root}/backend`, PULUMI_SKIP_UPDATE_CHECK: "true" };
            delete env.PULUMI_CONFIG_PASSPHRASE_FILE;
            const run = (args: string[], passphrase: string) =>
                spawnSync(args[0], args.slice(1), { cwd: projectDir, env: { ...env, STACK: "locked", PULUMI_CONFIG_PASSPHRASE: passphrase }, encoding: "utf8" });
            expect(run([pulumi.command, "stack", "init", "locked"], "the one it was made with").status).toBe(0);
            expect(run([pulumi.command, "config", "set", "--secret", "datamesh:analystPassword", "a password to keep"], "the one it was made with").status).toBe(0);
            const up = run(["bash", "scripts/up.sh"], "another one");
            expect(up.status).not.toBe(0);
            expect(up.stderr).toMatch(/incorrect passphrase/);
            expect(up.stderr).toContain(
                "[up] the state's secrets did not open with this checkout's passphrase, which is read from the PULUMI_CONFIG_PASSPHRASE variable; " +
                    "a stack whose secrets were encrypted with another one needs that one",
            );
        } finally {
            fs.rmSync(root, { recursive: true, force: true });
        }
    }, 300_000);

    it("rejects an unknown platform, a zero scale, an empty password and a rule for an unknown domain before any resource is created", async () => {
        const mesh = await createMesh("badconfig", { platform: "nomad", scale: "0", analystPassword: "", readers: JSON.stringify({ shipping: ["finance"] }) });
        try {
            const failure = mesh.stack.up();
            await expect(failure).rejects.toThrow(/datamesh:platform: Invalid option/);
            await expect(failure).rejects.toThrow(/datamesh:scale: Too small: expected number to be >=1/);
            await expect(failure).rejects.toThrow(/datamesh:analystPassword: must be at least 12 characters/);
            await expect(failure).rejects.toThrow(/datamesh:readers\.shipping: unknown domain 'shipping'/);
            // A configuration error is the user's to fix, not a bug: its message alone, no stack trace.
            const output = String(await failure.catch((e: Error) => e.message));
            expect(output).not.toMatch(/unhandled exception|^\s+at .+\.(ts|js):\d+/m);
            expect(await createdResources(mesh)).toEqual([]);
        } finally {
            await mesh.remove();
        }
    }, 300_000);

    it("rejects a kubeconfig with no reachable cluster on kubernetes, naming the context, before any resource is created", async () => {
        const kubeconfig = path.join(os.tmpdir(), `datamesh-unreachable-${process.pid}.kubeconfig`);
        fs.writeFileSync(
            kubeconfig,
            [
                "apiVersion: v1",
                "kind: Config",
                "clusters: [{name: gone, cluster: {server: 'https://127.0.0.1:1'}}]",
                "users: [{name: someone, user: {token: not-a-secret}}]",
                "contexts: [{name: gone-cluster, context: {cluster: gone, user: someone}}]",
                "current-context: gone-cluster",
                "",
            ].join("\n"),
        );
        const mesh = await createMesh("nok8s", { platform: "kubernetes", kubeconfig });
        try {
            await expect(mesh.stack.up()).rejects.toThrow(new RegExp(`datamesh:kubeContext: the cluster of context 'gone-cluster' \\(${kubeconfig.replace(/[.]/g, "\\.")}\\) does not answer: .*127\\.0\\.0\\.1:1`));
            expect(await createdResources(mesh)).toEqual([]);
        } finally {
            await mesh.remove();
            fs.rmSync(kubeconfig, { force: true });
        }
    }, 300_000);

    it("rejects negative workers, an unpinned image and a Trino image of another release on kubernetes before any resource is created", async () => {
        const mesh = await createMesh("badk8s", { platform: "kubernetes", workers: "-1", mariadbImage: "mariadb:latest", renderYamlTo: "manifests" });
        try {
            const failure = mesh.stack.up();
            await expect(failure).rejects.toThrow(/datamesh:workers: must be 0 or more/);
            await expect(failure).rejects.toThrow(/datamesh:mariadbImage: 'mariadb:latest' is not pinned/);
            await mesh.stack.setAllConfig({ "datamesh:workers": { value: "1" }, "datamesh:mariadbImage": { value: "mariadb:11.8.3" }, "datamesh:trinoImage": { value: "trinodb/trino:475" } });
            await expect(mesh.stack.up()).rejects.toThrow("datamesh:trinoImage: 'trinodb/trino:475' runs Trino 475, but the stack pins Trino 476");
            expect(await createdResources(mesh)).toEqual([]);
        } finally {
            await mesh.remove();
        }
    }, 300_000);

    it("rejects a certificate that does not cover the Trino host before any resource is created", async () => {
        const { cert, key } = selfSignedCertificate("DNS:localhost,IP:127.0.0.1");
        const mesh = await createMesh("badcert", { trinoHostnames: "trino.example.internal", trinoCertificate: cert, trinoPrivateKey: key });
        try {
            await expect(mesh.stack.up()).rejects.toThrow("datamesh:trinoCertificate: the certificate does not cover trino.example.internal");
            expect(await createdResources(mesh)).toEqual([]);
        } finally {
            await mesh.remove();
        }
    }, 300_000);

    it("names the port and the component when a port is already taken", async () => {
        const mesh = await createMesh("porttaken");
        const squatter = net.createServer();
        await new Promise<void>(resolve => squatter.listen(mesh.basePort + 1, "127.0.0.1", resolve));
        try {
            await expect(mesh.stack.up()).rejects.toThrow(`orders: port ${mesh.basePort + 1} on 127.0.0.1 is already in use`);
        } finally {
            await new Promise(resolve => squatter.close(resolve));
            await mesh.remove();
        }
    }, 600_000);
});
