import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { assertPortFree, handOver, isAlive, isOurProcess, logTail, startDetached, stopProcess, waitUntilReady, writeFileAtomic } from "../../platforms/local/process";
import { findJavaHome, javaMajorVersion } from "../../platforms/local/toolchain";
import { makeTempDir } from "./tempDirs";

describe("local processes", () => {
    it("names the port and the component when the port is taken", async () => {
        const squatter = net.createServer();
        await new Promise<void>(resolve => squatter.listen(0, "127.0.0.1", resolve));
        const port = (squatter.address() as net.AddressInfo).port;
        try {
            await expect(assertPortFree(port, "orders")).rejects.toThrow(`orders: port ${port} on 127.0.0.1 is already in use`);
        } finally {
            await new Promise(resolve => squatter.close(resolve));
        }
        await expect(assertPortFree(port, "orders")).resolves.toBeUndefined();
    });

    it("starts a detached process with its output in a log, and stops its whole group", async () => {
        const dir = makeTempDir("process");
        const logFile = path.join(dir, "server.log");
        const pid = startDetached("sh", ["-c", "echo started; sleep 60 & wait"], { env: { PATH: process.env.PATH }, cwd: dir, logFile });
        await waitUntilReady({ what: "sleeper", pid, logFile, timeoutMs: 5000, ready: async () => logTail(logFile) === "started" });
        expect(isAlive(pid)).toBe(true);
        await stopProcess(pid);
        expect(isAlive(pid)).toBe(false);
    });

    it("reports a server that dies while starting, with its log", async () => {
        const dir = makeTempDir("process");
        const logFile = path.join(dir, "server.log");
        const pid = startDetached("sh", ["-c", "echo 'FATAL: bad config'; exit 3"], { env: { PATH: process.env.PATH }, cwd: dir, logFile });
        await expect(waitUntilReady({ what: "customers: postgresql on port 1", pid, logFile, timeoutMs: 5000, ready: async () => false })).rejects.toThrow(
            /customers: postgresql on port 1 exited while starting; last lines of .*server\.log:\nFATAL: bad config/,
        );
    });

    it("fails at once, in the server's words, when it refuses the probe's credentials, and stops it", async () => {
        const dir = makeTempDir("process");
        const logFile = path.join(dir, "server.log");
        const pid = startDetached("sh", ["-c", "echo started; sleep 60 & wait"], { env: { PATH: process.env.PATH }, cwd: dir, logFile });
        const started = Date.now();
        const refusal = async (): Promise<boolean> => {
            throw new Error('password authentication failed for user "postgres"');
        };
        await expect(waitUntilReady({ what: "customers: postgresql on port 1", pid, logFile, timeoutMs: 60_000, ready: refusal })).rejects.toThrow(
            'customers: postgresql on port 1 refused the readiness probe: password authentication failed for user "postgres"',
        );
        expect(Date.now() - started).toBeLessThan(10_000);
        expect(isAlive(pid)).toBe(false);
    });

    it("names what the last probe said when a server is not ready in time", async () => {
        const dir = makeTempDir("process");
        const logFile = path.join(dir, "server.log");
        const pid = startDetached("sh", ["-c", "echo started; sleep 60 & wait"], { env: { PATH: process.env.PATH }, cwd: dir, logFile });
        const refused = async (): Promise<boolean> => {
            throw new Error("connect ECONNREFUSED 127.0.0.1:1");
        };
        await expect(waitUntilReady({ what: "orders: mariadb on port 1", pid, logFile, timeoutMs: 1_000, ready: refused })).rejects.toThrow(
            /orders: mariadb on port 1 was not ready after 1s \(the last probe said: connect ECONNREFUSED 127\.0\.0\.1:1\); last lines of .*server\.log:\nstarted/,
        );
        expect(isAlive(pid)).toBe(false);
    });

    it("takes neither a missing MariaDB socket nor the stale socket file of a killed server for a server that listens", async () => {
        const { mariadbSocketDir, provisionMariadbAdmin } = await import("../../platforms/local/databaseServer");
        const inputs = { component: "orders", engine: "mariadb" as const, port: 1, workDir: makeTempDir("mariadb"), programs: { init: "/bin/false", server: "/bin/false" }, adminPassword: "x" };
        await expect(provisionMariadbAdmin(inputs, undefined)).resolves.toBe(false);
        const socketDir = mariadbSocketDir(inputs.workDir);
        fs.mkdirSync(socketDir, { mode: 0o700 });
        fs.writeFileSync(path.join(socketDir, "mariadbd.sock"), "");
        await expect(provisionMariadbAdmin(inputs, undefined)).resolves.toBe(false);
    });

    it("never takes an unreadable source as unchanged: the diff defers to the update, which fails with the error", async () => {
        const { sourceFingerprintProvider } = await import("../../resources/sourceFingerprint");
        const inputs = {
            component: "dbt",
            access: { connection: { url: "http://127.0.0.1:1", user: "dbt" } },
            sources: [{ catalog: "orders", schema: "orders", table: "orders" }],
            trinoVersion: "476",
            loaded: "files:abc",
        };
        await expect(sourceFingerprintProvider.diff!("id", { ...inputs, fingerprint: "of-the-last-run", tables: [] }, inputs)).resolves.toEqual({ changes: true });
        await expect(sourceFingerprintProvider.update!("id", inputs, inputs)).rejects.toThrow(/ECONNREFUSED/);
    });

    it("replaces files whole", () => {
        const file = path.join(makeTempDir("atomic"), "etc", "config.properties");
        writeFileAtomic(file, "a=1\n", 0o600);
        writeFileAtomic(file, "a=2\n", 0o600);
        expect(fs.readFileSync(file, "utf8")).toBe("a=2\n");
        expect(fs.statSync(file).mode & 0o777).toBe(0o600);
        expect(fs.readdirSync(path.dirname(file))).toEqual(["config.properties"]);
    });
});

describe("handing a server's folder to its account, when the stack runs as root", () => {
    const nobody = { uid: 65534, gid: 65534 };
    const modeOf = (p: string) => fs.statSync(p).mode & 0o777;

    beforeAll(() => {
        if (process.getuid?.() !== 0) {
            throw new Error("these tests give folders to another account, which needs root (as CI runs them)");
        }
    });

    it("opens only the stack's own folders, and names a closed folder above them with the way out, changing nothing", () => {
        const base = makeTempDir("hand-over");
        const outer = path.join(base, "checkout");
        const own = path.join(outer, "state");
        const server = path.join(own, "orders-server");
        fs.mkdirSync(server, { recursive: true, mode: 0o700 });
        for (const folder of [base, outer, own]) {
            fs.chmodSync(folder, 0o700);
        }
        expect(() => handOver(server, nobody, own, "orders")).toThrow(
            `orders: the server's account (uid 65534) cannot reach ${server}: ${outer} (mode 0700, owner uid 0) does not let it through, and the stack changes no folder but its own. Run \`chmod o+x ${outer}\``,
        );
        expect([modeOf(base), modeOf(outer)]).toEqual([0o700, 0o700]);

        fs.chmodSync(outer, 0o711);
        fs.chmodSync(base, 0o711);
        handOver(server, nobody, own, "orders");
        expect(fs.statSync(server).uid).toBe(65534);
        expect(modeOf(own)).toBe(0o701);
        expect([modeOf(base), modeOf(outer)]).toEqual([0o711, 0o711]);
    });

    it("lets a folder the account owns or shares a group with through by its owner's or group's bits", () => {
        const base = makeTempDir("hand-over-group");
        fs.chmodSync(base, 0o711);
        const shared = path.join(base, "shared");
        const server = path.join(shared, "own", "server");
        fs.mkdirSync(server, { recursive: true });
        fs.chownSync(shared, 0, nobody.gid);
        fs.chmodSync(shared, 0o750);
        handOver(server, nobody, path.dirname(server), "payments");
        expect(modeOf(shared)).toBe(0o750);
        fs.chmodSync(shared, 0o705);
        // Others' bits do not count for the folder's group: its group bits have no x.
        expect(() => handOver(server, nobody, path.dirname(server), "payments")).toThrow(`${shared} (mode 0705, owner uid 0) does not let it through`);
    });
});

describe("Java for Trino", () => {
    function fakeJdk(root: string, name: string, version: string): string {
        const home = path.join(root, name);
        fs.mkdirSync(path.join(home, "bin"), { recursive: true });
        fs.writeFileSync(path.join(home, "bin", "java"), "");
        fs.writeFileSync(path.join(home, "release"), `JAVA_VERSION="${version}"\n`);
        return home;
    }

    it("picks the newest JDK that is new enough", () => {
        const root = makeTempDir("jvm");
        fakeJdk(root, "jdk-17", "17.0.15");
        const jdk25 = fakeJdk(root, "jdk-25", "25.0.3");
        fakeJdk(root, "jdk-24", "24.0.1");
        expect(javaMajorVersion(jdk25)).toBe(25);
        expect(findJavaHome(24, {}, root)).toBe(jdk25);
    });

    it("says what is missing when no JDK is new enough", () => {
        const root = makeTempDir("jvm");
        fakeJdk(root, "jdk-17", "17.0.15");
        expect(() => findJavaHome(24, {}, root)).toThrow("Trino needs Java 24 or newer and none was found (set DATAMESH_JAVA_HOME)");
    });

    it("refuses a DATAMESH_JAVA_HOME that is too old", () => {
        const root = makeTempDir("jvm");
        const jdk17 = fakeJdk(root, "jdk-17", "17.0.15");
        fakeJdk(root, "jdk-25", "25.0.3");
        expect(() => findJavaHome(24, { DATAMESH_JAVA_HOME: jdk17 }, root)).toThrow(`DATAMESH_JAVA_HOME=${jdk17} is not a Java 24 or newer JDK`);
    });
});

describe("recognising our own server", () => {
    it("knows a process by its folder on the command line, and nothing else", async () => {
        const dir = makeTempDir("ours");
        const logFile = path.join(dir, "server.log");
        const pid = startDetached("sh", ["-c", "sleep 60", dir], { env: { PATH: process.env.PATH }, cwd: dir, logFile });
        try {
            expect(isOurProcess(pid, dir)).toBe(true);
            expect(isOurProcess(pid, "/some/other/stack")).toBe(false);
            expect(isOurProcess(process.pid, dir)).toBe(false);
        } finally {
            await stopProcess(pid);
        }
        expect(isOurProcess(pid, dir)).toBe(false);
    });
});
