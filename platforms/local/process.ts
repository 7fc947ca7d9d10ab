import * as child_process from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";

/*
 * Process helpers for the local platform. They run inside Pulumi's dynamic provider host, which
 * serializes them with the providers, so they use only Node's built-in modules.
 */

/** The user a server runs as: servers such as PostgreSQL refuse to run as root. */
export interface RunAs {
    uid: number;
    gid: number;
}

export function isAlive(pid: number | undefined): boolean {
    if (!pid) {
        return false;
    }
    try {
        process.kill(pid, 0);
        return true;
    } catch (e) {
        return (e as NodeJS.ErrnoException).code === "EPERM";
    }
}

/**
 * Whether a recorded process is still the server we started: alive, and with `marker` (its
 * folder) on its command line. After a reboot the id may belong to another program, which must
 * be neither mistaken for the server nor stopped.
 */
export function isOurProcess(pid: number | undefined, marker: string): boolean {
    if (!isAlive(pid)) {
        return false;
    }
    try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").some(arg => arg.includes(marker));
    } catch {
        return false;
    }
}

/**
 * Every process that runs on `folder`: one of its arguments is the folder or lies inside it. Finds a
 * server whose start failed after it was spawned, which no state recorded.
 */
export function processesOn(folder: string): number[] {
    const inside = (arg: string) => arg === folder || arg.includes(`${folder}/`);
    const found: number[] = [];
    for (const entry of fs.readdirSync("/proc")) {
        const pid = Number(entry);
        if (!Number.isInteger(pid) || pid === process.pid) {
            continue;
        }
        try {
            if (fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").some(inside)) {
                found.push(pid);
            }
        } catch {
            // Gone while listing, or not ours to read.
        }
    }
    return found;
}

/** Fails with a message naming the port and the component when something already listens there. */
export async function assertPortFree(port: number, component: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
        const server = net.createServer();
        server.once("error", (e: NodeJS.ErrnoException) => {
            reject(
                e.code === "EADDRINUSE"
                    ? new Error(`${component}: port ${port} on 127.0.0.1 is already in use; stop what holds it or choose another port in the stack config`)
                    : new Error(`${component}: cannot check port ${port}: ${e.message}`),
            );
        });
        server.listen({ port, host: "127.0.0.1", exclusive: true }, () => server.close(() => resolve()));
    });
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export async function isListening(port: number): Promise<boolean> {
    return new Promise(resolve => {
        const socket = net.connect({ port, host: "127.0.0.1" });
        socket.once("connect", () => {
            socket.destroy();
            resolve(true);
        });
        socket.once("error", () => resolve(false));
    });
}

/**
 * Resolves the unprivileged account a server runs as when Pulumi itself runs as root. Returns
 * undefined when not root: the server then runs as the current user.
 */
export function unprivilegedUser(name: string): RunAs | undefined {
    if (process.getuid?.() !== 0) {
        return undefined;
    }
    const entry = fs
        .readFileSync("/etc/passwd", "utf8")
        .split("\n")
        .map(line => line.split(":"))
        .find(fields => fields[0] === name);
    if (!entry) {
        throw new Error(`running as root, but there is no '${name}' user to run the server as; install the server package (scripts/setup-system.sh) or run as a normal user`);
    }
    return { uid: Number(entry[2]), gid: Number(entry[3]) };
}

/**
 * Gives a tree to the account a server runs as. The folders between it and `ownRoot` (the stack's
 * own, `ownRoot` included) are made traversable; a folder above that the account cannot pass is
 * not changed, but named in an error with the way out.
 */
export function handOver(dir: string, runAs: RunAs | undefined, ownRoot: string, what: string): void {
    if (!runAs) {
        return;
    }
    const walk = (p: string) => {
        fs.chownSync(p, runAs.uid, runAs.gid);
        if (fs.statSync(p).isDirectory()) {
            for (const child of fs.readdirSync(p)) {
                walk(path.join(p, child));
            }
        }
    };
    walk(dir);
    const root = path.resolve(ownRoot);
    for (let parent = path.dirname(path.resolve(dir)); parent !== path.dirname(parent); parent = path.dirname(parent)) {
        const stat = fs.statSync(parent);
        if (canTraverse(stat, runAs)) {
            continue;
        }
        if (parent === root || parent.startsWith(`${root}${path.sep}`)) {
            fs.chmodSync(parent, stat.mode | 0o001);
            continue;
        }
        throw new Error(
            `${what}: the server's account (uid ${runAs.uid}) cannot reach ${dir}: ${parent} (mode ${(stat.mode & 0o777).toString(8).padStart(4, "0")}, owner uid ${stat.uid}) does not let it through, and the stack changes no folder but its own. ` +
                `Run \`chmod o+x ${parent}\`, or set datamesh:stateDir to a folder the account can reach`,
        );
    }
}

/** Whether an account (by its uid and primary group) may pass through a folder. */
function canTraverse(stat: fs.Stats, account: RunAs): boolean {
    if (stat.uid === account.uid) {
        return (stat.mode & 0o100) !== 0;
    }
    if (stat.gid === account.gid) {
        return (stat.mode & 0o010) !== 0;
    }
    return (stat.mode & 0o001) !== 0;
}

/** Runs a command to completion; a failure carries the command's own output. */
export function runToCompletion(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; runAs?: RunAs; what: string }): string {
    const result = child_process.spawnSync(command, args, {
        env: options.env ?? process.env,
        cwd: options.cwd,
        uid: options.runAs?.uid,
        gid: options.runAs?.gid,
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
    });
    const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
    if (result.error) {
        throw new Error(`${options.what}: cannot run ${command}: ${result.error.message}`);
    }
    if (result.status !== 0) {
        throw new Error(`${options.what} failed (exit ${result.status}):\n${output.trim()}`);
    }
    return output;
}

/**
 * Starts a long-running server in its own session, with output appended to a log file, so that
 * it outlives the Pulumi process that started it. Returns the server's process id.
 */
export function startDetached(command: string, args: string[], options: { env: NodeJS.ProcessEnv; cwd: string; logFile: string; runAs?: RunAs }): number {
    fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
    const log = fs.openSync(options.logFile, "a");
    if (options.runAs) {
        fs.fchownSync(log, options.runAs.uid, options.runAs.gid);
    }
    try {
        const child = child_process.spawn(command, args, {
            cwd: options.cwd,
            env: options.env,
            detached: true,
            stdio: ["ignore", log, log],
            uid: options.runAs?.uid,
            gid: options.runAs?.gid,
        });
        if (child.pid === undefined) {
            throw new Error(`cannot start ${command}`);
        }
        child.unref();
        return child.pid;
    } finally {
        fs.closeSync(log);
    }
}

function sleep(ms: number): Promise<void> {
    return new Promise(resolve => setTimeout(resolve, ms));
}

/** Stops a server started by startDetached: its stop signal (TERM unless given) to its process group, then KILL after a grace period. */
export async function stopProcess(pid: number | undefined, graceMs = 20_000, stopSignal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (!isAlive(pid)) {
        return;
    }
    const signal = (sig: NodeJS.Signals) => {
        try {
            process.kill(-pid!, sig);
        } catch {
            try {
                process.kill(pid!, sig);
            } catch {
                // Already gone.
            }
        }
    };
    signal(stopSignal);
    const deadline = Date.now() + graceMs;
    while (isAlive(pid) && Date.now() < deadline) {
        await sleep(100);
    }
    if (isAlive(pid)) {
        signal("SIGKILL");
        while (isAlive(pid)) {
            await sleep(50);
        }
    }
}

/** The last lines of a log, to put the server's own words into an error. */
export function logTail(file: string, lines = 30): string {
    try {
        return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
        return "(no log written)";
    }
}

/**
 * Polls until `ready` says yes. Fails early, with the log, when the server process has died, and
 * after `timeoutMs` otherwise.
 */
export async function waitUntilReady(options: { what: string; pid: number; logFile: string; timeoutMs: number; ready: () => Promise<boolean> }): Promise<void> {
    const deadline = Date.now() + options.timeoutMs;
    let lastProbe: string | undefined;
    while (Date.now() < deadline) {
        if (!isAlive(options.pid)) {
            throw new Error(`${options.what} exited while starting; last lines of ${options.logFile}:\n${logTail(options.logFile)}`);
        }
        try {
            if (await options.ready()) {
                return;
            }
        } catch (error) {
            const message = (error as Error).message;
            // A server that refuses the probe's credentials will not change its mind: say so now, in its words.
            if (/password authentication failed|access denied|authentication failed|unauthorized/i.test(message)) {
                await stopProcess(options.pid);
                throw new Error(`${options.what} refused the readiness probe: ${message}`);
            }
            lastProbe = message;
        }
        await sleep(250);
    }
    await stopProcess(options.pid);
    const probe = lastProbe ? ` (the last probe said: ${lastProbe})` : "";
    throw new Error(`${options.what} was not ready after ${options.timeoutMs / 1000}s${probe}; last lines of ${options.logFile}:\n${logTail(options.logFile)}`);
}

/** Writes a file so that readers never see half of it: write beside it, then rename. */
export function writeFileAtomic(file: string, content: string | Buffer, mode = 0o644): void {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const temporary = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(temporary, content, { mode });
    fs.renameSync(temporary, file);
}

/** A scratch folder for one-off files such as a password file that must never stay behind. */
export function withScratchDir<T>(fn: (dir: string) => T): T {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "datamesh-"));
    try {
        return fn(dir);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}
