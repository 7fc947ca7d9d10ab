import * as pulumi from "@pulumi/pulumi";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Engine } from "../../lib/domains";
import { driverTls } from "../../resources/domainData";
import { KeyPairPem } from "../../resources/serverCertificates";
import { serverTlsArgs } from "../shared/serverTls";
import { assertPortFree, handOver, isOurProcess, processesOn, RunAs, runToCompletion, startDetached, stopProcess, unprivilegedUser, waitUntilReady, withScratchDir } from "./process";

/*
 * A PostgreSQL or MariaDB server as a process on this machine, with its own data folder and port
 * under the stack's state folder. It is never the machine's system service.
 */

export const LOCAL_ADMIN_USER: Record<Engine, string> = { postgresql: "postgres", mariadb: "datamesh_admin" };

export interface ServerInputs {
    /** Names the owning component in errors. */
    component: string;
    engine: Engine;
    port: number;
    /** The server's folder: data, log and run files. Removed when the server is deleted. */
    workDir: string;
    /** Absolute paths of the engine's programs: `init` creates a data folder, `server` runs it. */
    programs: { init: string; server: string };
    adminPassword: string;
    /** The certificate and key the server presents, issued by the stack's CA; with them it accepts TLS connections only over TCP. */
    tls?: KeyPairPem;
    /** The CA that issued `tls`, which the readiness login checks the server against. */
    caPem?: string;
}

export interface ServerOutputs extends ServerInputs {
    pid: number;
    host: string;
    adminUser: string;
}

const STARTUP_TIMEOUT_MS = 90_000;

/**
 * How each engine is asked to stop. PostgreSQL's SIGTERM is a "smart" shutdown that waits for every
 * client to leave, and Trino keeps its connections open; SIGINT is its fast shutdown, which closes
 * them and still writes a clean checkpoint. MariaDB's SIGTERM is already its normal shutdown.
 */
const STOP_SIGNAL: Record<Engine, NodeJS.Signals> = { postgresql: "SIGINT", mariadb: "SIGTERM" };

/** The readiness login's TLS: checked against the stack's CA, as every client of the server checks it. */
function loginTls(inputs: ServerInputs): object {
    const ssl = inputs.tls ? driverTls(inputs.engine, { mode: "verify-full", caPem: inputs.caPem }) : undefined;
    return ssl ? { ssl } : {};
}

async function canLogIn(inputs: ServerInputs): Promise<boolean> {
    if (inputs.engine === "postgresql") {
        const pg = require("pg");
        const client = new pg.Client({ host: "127.0.0.1", port: inputs.port, user: "postgres", password: inputs.adminPassword, database: "postgres", connectionTimeoutMillis: 2000, ...loginTls(inputs) });
        await client.connect();
        await client.end();
        return true;
    }
    const mysql = require("mysql2/promise");
    const connection = await mysql.createConnection({ host: "127.0.0.1", port: inputs.port, user: LOCAL_ADMIN_USER.mariadb, password: inputs.adminPassword, connectTimeout: 2000, ...loginTls(inputs) });
    await connection.end();
    return true;
}

const SOCKET_NAME = "mariadbd.sock";
// A Unix socket path must stay under 108 bytes; leave room for the kernel's terminator and a margin.
const MAX_SOCKET_PATH = 100;

/**
 * The folder of MariaDB's root socket: `run/` in the server's own folder, or, when that path is too
 * long for a socket, a folder under the system's temporary folder named after the server's folder.
 * Either is 0700 and owned by the server's account, so that no other user can plant a socket there
 * and catch the administrator's password.
 */
export function mariadbSocketDir(workDir: string): string {
    const own = path.join(workDir, "run");
    if (path.join(own, SOCKET_NAME).length <= MAX_SOCKET_PATH) {
        return own;
    }
    const digest = crypto.createHash("sha256").update(path.resolve(workDir)).digest("hex").slice(0, 16);
    return path.join(os.tmpdir(), `datamesh-mariadb-${digest}`);
}

function mariadbSocket(workDir: string): string {
    return path.join(mariadbSocketDir(workDir), SOCKET_NAME);
}

/** Creates the socket folder, or takes it over only when it is a private folder already ours, and clears a stale socket a killed server left. */
function prepareSocketDir(inputs: ServerInputs, runAs: RunAs | undefined): void {
    const dir = mariadbSocketDir(inputs.workDir);
    const owner = runAs?.uid ?? process.getuid?.() ?? 0;
    try {
        fs.mkdirSync(dir, { mode: 0o700 });
    } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
            throw error;
        }
    }
    const stat = fs.lstatSync(dir);
    const ownedByUs = stat.uid === owner || stat.uid === process.getuid?.();
    if (!stat.isDirectory() || !ownedByUs || (stat.mode & 0o077) !== 0) {
        throw new Error(`${inputs.component}: the MariaDB socket folder ${dir} exists and is not a private folder of this stack (a folder, mode 0700, owned by the server's account); remove it and run pulumi up again`);
    }
    if (runAs) {
        fs.chownSync(dir, runAs.uid, runAs.gid);
    }
    fs.rmSync(path.join(dir, SOCKET_NAME), { force: true });
}

function initialize(inputs: ServerInputs, dataDir: string, runAs: RunAs | undefined): void {
    if (inputs.engine === "postgresql") {
        if (fs.existsSync(path.join(dataDir, "PG_VERSION"))) {
            return;
        }
        withScratchDir(scratch => {
            const passwordFile = path.join(scratch, "pw");
            fs.writeFileSync(passwordFile, inputs.adminPassword, { mode: 0o600 });
            handOver(scratch, runAs, scratch, `${inputs.component}: initdb`);
            runToCompletion(
                inputs.programs.init,
                ["-D", dataDir, "-U", "postgres", `--pwfile=${passwordFile}`, "--auth-local=peer", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"],
                { runAs, cwd: inputs.workDir, what: `${inputs.component}: initdb` },
            );
        });
        return;
    }
    if (fs.existsSync(path.join(dataDir, "mysql"))) {
        return;
    }
    runToCompletion(
        inputs.programs.init,
        ["--no-defaults", `--datadir=${dataDir}`, "--auth-root-authentication-method=socket", "--skip-test-db", "--skip-name-resolve", ...(runAs ? ["--user=mysql"] : [])],
        { cwd: inputs.workDir, what: `${inputs.component}: mariadb-install-db` },
    );
}

const TLS_DIR = "tls";
const TLS_FILES = { certificate: "server.crt", key: "server.key", hba: "pg_hba.conf" };

/**
 * Writes the server's certificate and key where only its account can read the key (PostgreSQL
 * refuses a key others may read), and PostgreSQL's client rules: password logins over TLS alone.
 * Written on every start, so a renewed certificate is the one the restarted server presents.
 */
function writeTlsFiles(inputs: ServerInputs, runAs: RunAs | undefined): void {
    const dir = path.join(inputs.workDir, TLS_DIR);
    if (!inputs.tls) {
        fs.rmSync(dir, { recursive: true, force: true });
        return;
    }
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const files: [string, string, number][] = [
        [TLS_FILES.certificate, inputs.tls.certificatePem, 0o644],
        [TLS_FILES.key, inputs.tls.privateKeyPem, 0o600],
        [TLS_FILES.hba, "hostssl all all 127.0.0.1/32 scram-sha-256\n", 0o600],
    ];
    for (const [name, text, mode] of files) {
        const file = path.join(dir, name);
        fs.writeFileSync(file, text, { mode });
        fs.chmodSync(file, mode);
    }
    handOver(dir, runAs, inputs.workDir, inputs.component);
}

function tlsArgs(inputs: ServerInputs): string[] {
    if (!inputs.tls) {
        return [];
    }
    const file = (name: string) => path.join(inputs.workDir, TLS_DIR, name);
    return serverTlsArgs(inputs.engine, { certificate: file(TLS_FILES.certificate), key: file(TLS_FILES.key), hba: file(TLS_FILES.hba) });
}

/** How the server is started on its data folder; tests start it so with options of their own added. */
export function serverCommand(inputs: ServerInputs, dataDir: string, runAs: RunAs | undefined): { command: string; args: string[] } {
    if (inputs.engine === "postgresql") {
        return {
            command: inputs.programs.server,
            args: [
                "-D", dataDir, "-p", String(inputs.port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "shared_buffers=32MB", "-c", "max_connections=50", "-c", "logging_collector=off",
                ...tlsArgs(inputs),
            ],
        };
    }
    return {
        command: inputs.programs.server,
        args: [
            "--no-defaults",
            `--datadir=${dataDir}`,
            `--port=${inputs.port}`,
            "--bind-address=127.0.0.1",
            `--socket=${mariadbSocket(inputs.workDir)}`,
            `--pid-file=${path.join(inputs.workDir, "mariadbd.pid")}`,
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=64M",
            "--max-connections=50",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_bin",
            ...tlsArgs(inputs),
            ...(runAs ? ["--user=mysql"] : []),
        ],
    };
}

/**
 * Gives MariaDB's administrator a password over the socket, as the account mariadb-install-db made
 * for socket logins: root's when the server runs as `mysql` under root, the current user's
 * otherwise. Says false while the server does not accept on its socket yet.
 */
export async function provisionMariadbAdmin(inputs: ServerInputs, runAs: RunAs | undefined): Promise<boolean> {
    const mysql = require("mysql2/promise");
    const socket = mariadbSocket(inputs.workDir);
    const socketUser = runAs || process.getuid?.() === 0 ? "root" : os.userInfo().username;
    let connection;
    try {
        connection = await mysql.createConnection({ socketPath: socket, user: socketUser });
    } catch (error) {
        const failure = error as { code?: string; message: string };
        if (failure.code === "ENOENT" || failure.code === "ECONNREFUSED") {
            return false;
        }
        throw new Error(`${inputs.component}: MariaDB refused the socket login of '${socketUser}' on ${socket}, so its administrator cannot be set up: ${failure.message}`);
    }
    try {
        const account = `'${LOCAL_ADMIN_USER.mariadb}'@'127.0.0.1'`;
        await connection.query(`CREATE USER IF NOT EXISTS ${account} IDENTIFIED BY ?`, [inputs.adminPassword]);
        await connection.query(`ALTER USER ${account} IDENTIFIED BY ?`, [inputs.adminPassword]);
        await connection.query(`GRANT ALL PRIVILEGES ON *.* TO ${account} WITH GRANT OPTION`);
        await connection.query("DELETE FROM mysql.global_priv WHERE User = ''");
        await connection.query("FLUSH PRIVILEGES");
    } finally {
        await connection.end();
    }
    return true;
}

/** Stops every process that runs on this server's folder: the recorded one, and one a failed start or update left unrecorded. */
async function stopServerProcesses(workDir: string, engine: Engine, recordedPid: number | undefined): Promise<void> {
    const pids = new Set(processesOn(workDir));
    if (isOurProcess(recordedPid, workDir)) {
        pids.add(recordedPid!);
    }
    for (const pid of pids) {
        await stopProcess(pid, undefined, STOP_SIGNAL[engine]);
    }
}

/** Starts the server on its folder (created and initialised when new) and waits until the administrator can log in. */
export async function startServer(inputs: ServerInputs): Promise<ServerOutputs> {
    await assertPortFree(inputs.port, inputs.component);
    const runAs = unprivilegedUser(inputs.engine === "postgresql" ? "postgres" : "mysql");
    const dataDir = path.join(inputs.workDir, "data");
    fs.mkdirSync(inputs.workDir, { recursive: true, mode: 0o750 });
    // The server's folder lies in the stack's state folder, which the stack made and may open.
    handOver(inputs.workDir, runAs, path.dirname(inputs.workDir), inputs.component);
    if (inputs.engine === "mariadb") {
        prepareSocketDir(inputs, runAs);
    }
    initialize(inputs, dataDir, runAs);
    writeTlsFiles(inputs, runAs);
    const logFile = path.join(inputs.workDir, "server.log");
    const { command, args } = serverCommand(inputs, dataDir, runAs);
    const pid = startDetached(command, args, {
        cwd: inputs.workDir,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C.UTF-8" },
        logFile,
        runAs: inputs.engine === "postgresql" ? runAs : undefined,
    });
    const what = `${inputs.component}: ${inputs.engine} on port ${inputs.port}`;
    try {
        if (inputs.engine === "mariadb") {
            await waitUntilReady({ what, pid, logFile, timeoutMs: STARTUP_TIMEOUT_MS, ready: () => provisionMariadbAdmin(inputs, runAs) });
        }
        await waitUntilReady({ what, pid, logFile, timeoutMs: STARTUP_TIMEOUT_MS, ready: () => canLogIn(inputs) });
    } catch (error) {
        // A server that never became ready is not recorded in the state, so nothing else would ever stop it.
        await stopProcess(pid, undefined, STOP_SIGNAL[inputs.engine]);
        throw error;
    }
    return { ...inputs, pid, host: "127.0.0.1", adminUser: LOCAL_ADMIN_USER[inputs.engine] };
}

/** Stops the server the engine's fast way and removes its folder, data included. */
export async function stopAndRemove(server: ServerOutputs): Promise<void> {
    await stopServerProcesses(server.workDir, server.engine, server.pid);
    fs.rmSync(server.workDir, { recursive: true, force: true });
    if (server.engine === "mariadb") {
        fs.rmSync(mariadbSocketDir(server.workDir), { recursive: true, force: true });
    }
}

/** A new engine, folder or administrator means a new server; a new port or new programs restart this one on its data. */
const REPLACING_INPUTS: (keyof ServerInputs)[] = ["engine", "workDir", "adminPassword"];

export const databaseServerProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: ServerInputs) {
        const outs = await startServer(inputs);
        return { id: inputs.workDir, outs };
    },
    async diff(_id: string, olds: ServerOutputs, news: ServerInputs) {
        const replaces = REPLACING_INPUTS.filter(key => olds[key] !== news[key]);
        const restart =
            olds.component !== news.component ||
            olds.port !== news.port ||
            JSON.stringify(olds.programs) !== JSON.stringify(news.programs) ||
            JSON.stringify([olds.tls, olds.caPem]) !== JSON.stringify([news.tls, news.caPem]);
        // A server that is no longer running is started again by an update: `pulumi up` heals.
        const changes = replaces.length > 0 || restart || !isOurProcess(olds.pid, olds.workDir);
        return { changes, replaces, deleteBeforeReplace: true };
    },
    async update(_id: string, olds: ServerOutputs, news: ServerInputs) {
        await stopServerProcesses(olds.workDir, olds.engine, olds.pid);
        return { outs: await startServer(news) };
    },
    async delete(_id: string, olds: ServerOutputs) {
        await stopAndRemove(olds);
    },
};

export interface LocalDatabaseServerArgs {
    component: pulumi.Input<string>;
    engine: pulumi.Input<Engine>;
    port: pulumi.Input<number>;
    workDir: pulumi.Input<string>;
    programs: pulumi.Input<{ init: pulumi.Input<string>; server: pulumi.Input<string> }>;
    adminPassword: pulumi.Input<string>;
    /** The certificate and key to present (the key is secret); unset, the server speaks in clear. */
    tls?: pulumi.Input<KeyPairPem>;
    /** The CA that issued `tls`. */
    caPem?: pulumi.Input<string>;
}

export class LocalDatabaseServer extends pulumi.dynamic.Resource {
    public readonly pid!: pulumi.Output<number>;
    public readonly host!: pulumi.Output<string>;
    public readonly port!: pulumi.Output<number>;
    public readonly adminUser!: pulumi.Output<string>;
    public readonly adminPassword!: pulumi.Output<string>;

    constructor(name: string, args: LocalDatabaseServerArgs, opts?: pulumi.CustomResourceOptions) {
        super(databaseServerProvider, name, { ...args, pid: undefined, host: undefined, adminUser: undefined }, { ...opts, additionalSecretOutputs: ["adminPassword", "tls"] }, "datamesh", "LocalDatabaseServer");
    }
}
