import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Engine } from "../../lib/domains";
import { assertPortFree, handOver, isOurProcess, RunAs, runToCompletion, startDetached, stopProcess, unprivilegedUser, waitUntilReady, withScratchDir } from "./process";

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

async function canLogIn(inputs: ServerInputs): Promise<boolean> {
    if (inputs.engine === "postgresql") {
        const pg = require("pg");
        const client = new pg.Client({ host: "127.0.0.1", port: inputs.port, user: "postgres", password: inputs.adminPassword, database: "postgres", connectionTimeoutMillis: 2000 });
        await client.connect();
        await client.end();
        return true;
    }
    const mysql = require("mysql2/promise");
    const connection = await mysql.createConnection({ host: "127.0.0.1", port: inputs.port, user: LOCAL_ADMIN_USER.mariadb, password: inputs.adminPassword, connectTimeout: 2000 });
    await connection.end();
    return true;
}

function mariadbSocket(inputs: ServerInputs): string {
    // A Unix socket path must stay under ~100 bytes, and state folders can be deep.
    return path.join(os.tmpdir(), `datamesh-mariadb-${inputs.port}.sock`);
}

function initialize(inputs: ServerInputs, dataDir: string, runAs: RunAs | undefined): void {
    if (inputs.engine === "postgresql") {
        if (fs.existsSync(path.join(dataDir, "PG_VERSION"))) {
            return;
        }
        withScratchDir(scratch => {
            const passwordFile = path.join(scratch, "pw");
            fs.writeFileSync(passwordFile, inputs.adminPassword, { mode: 0o600 });
            handOver(scratch, runAs);
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

function serverCommand(inputs: ServerInputs, dataDir: string, runAs: RunAs | undefined): { command: string; args: string[] } {
    if (inputs.engine === "postgresql") {
        return {
            command: inputs.programs.server,
            args: ["-D", dataDir, "-p", String(inputs.port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "shared_buffers=32MB", "-c", "max_connections=50", "-c", "logging_collector=off"],
        };
    }
    return {
        command: inputs.programs.server,
        args: [
            "--no-defaults",
            `--datadir=${dataDir}`,
            `--port=${inputs.port}`,
            "--bind-address=127.0.0.1",
            `--socket=${mariadbSocket(inputs)}`,
            `--pid-file=${path.join(inputs.workDir, "mariadbd.pid")}`,
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=64M",
            "--max-connections=50",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_bin",
            ...(runAs ? ["--user=mysql"] : []),
        ],
    };
}

/** Gives MariaDB's administrator a password over the root socket, once, right after install. */
export async function provisionMariadbAdmin(inputs: ServerInputs): Promise<void> {
    const mysql = require("mysql2/promise");
    let connection;
    try {
        connection = await mysql.createConnection({ socketPath: mariadbSocket(inputs), user: "root" });
    } catch (error) {
        const failure = error as { code?: string; message: string };
        // Root's socket login works for the OS root user only; refused, the administrator is not ours to set up.
        if (failure.code === "ER_ACCESS_DENIED_ERROR" || failure.code === "ER_ACCESS_DENIED_NO_PASSWORD_ERROR") {
            return;
        }
        throw new Error(`${inputs.component}: cannot reach MariaDB's root socket ${mariadbSocket(inputs)} to set up its administrator: ${failure.message}`);
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
}

/** Starts the server on its folder (created and initialised when new) and waits until the administrator can log in. */
export async function startServer(inputs: ServerInputs): Promise<ServerOutputs> {
    await assertPortFree(inputs.port, inputs.component);
    const runAs = unprivilegedUser(inputs.engine === "postgresql" ? "postgres" : "mysql");
    const dataDir = path.join(inputs.workDir, "data");
    fs.mkdirSync(inputs.workDir, { recursive: true, mode: 0o750 });
    if (inputs.engine === "postgresql") {
        handOver(inputs.workDir, runAs);
    } else if (runAs) {
        handOver(inputs.workDir, runAs);
    }
    initialize(inputs, dataDir, runAs);
    const logFile = path.join(inputs.workDir, "server.log");
    const { command, args } = serverCommand(inputs, dataDir, runAs);
    const pid = startDetached(command, args, {
        cwd: inputs.workDir,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C.UTF-8" },
        logFile,
        runAs: inputs.engine === "postgresql" ? runAs : undefined,
    });
    const what = `${inputs.component}: ${inputs.engine} on port ${inputs.port}`;
    if (inputs.engine === "mariadb") {
        await waitUntilReady({ what, pid, logFile, timeoutMs: STARTUP_TIMEOUT_MS, ready: async () => fs.existsSync(mariadbSocket(inputs)) });
        await provisionMariadbAdmin(inputs);
    }
    await waitUntilReady({ what, pid, logFile, timeoutMs: STARTUP_TIMEOUT_MS, ready: () => canLogIn(inputs) });
    return { ...inputs, pid, host: "127.0.0.1", adminUser: LOCAL_ADMIN_USER[inputs.engine] };
}

/** Stops the server the engine's fast way and removes its folder, data included. */
export async function stopAndRemove(server: ServerOutputs): Promise<void> {
    if (isOurProcess(server.pid, server.workDir)) {
        await stopProcess(server.pid, undefined, STOP_SIGNAL[server.engine]);
    }
    fs.rmSync(server.workDir, { recursive: true, force: true });
    if (server.engine === "mariadb") {
        fs.rmSync(mariadbSocket(server), { force: true });
    }
}

/** A new engine, folder or administrator means a new server; a new port or new programs restart this one on its data. */
const REPLACING_INPUTS: (keyof ServerInputs)[] = ["engine", "workDir", "adminPassword"];

const serverProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: ServerInputs) {
        const outs = await startServer(inputs);
        return { id: inputs.workDir, outs };
    },
    async diff(_id: string, olds: ServerOutputs, news: ServerInputs) {
        const replaces = REPLACING_INPUTS.filter(key => olds[key] !== news[key]);
        const restart = olds.component !== news.component || olds.port !== news.port || JSON.stringify(olds.programs) !== JSON.stringify(news.programs);
        // A server that is no longer running is started again by an update: `pulumi up` heals.
        const changes = replaces.length > 0 || restart || !isOurProcess(olds.pid, olds.workDir);
        return { changes, replaces, deleteBeforeReplace: true };
    },
    async update(_id: string, olds: ServerOutputs, news: ServerInputs) {
        if (isOurProcess(olds.pid, olds.workDir)) {
            await stopProcess(olds.pid, undefined, STOP_SIGNAL[olds.engine]);
        }
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
}

export class LocalDatabaseServer extends pulumi.dynamic.Resource {
    public readonly pid!: pulumi.Output<number>;
    public readonly host!: pulumi.Output<string>;
    public readonly port!: pulumi.Output<number>;
    public readonly adminUser!: pulumi.Output<string>;
    public readonly adminPassword!: pulumi.Output<string>;

    constructor(name: string, args: LocalDatabaseServerArgs, opts?: pulumi.CustomResourceOptions) {
        super(serverProvider, name, { ...args, pid: undefined, host: undefined, adminUser: undefined }, { ...opts, additionalSecretOutputs: ["adminPassword"] }, "datamesh", "LocalDatabaseServer");
    }
}
