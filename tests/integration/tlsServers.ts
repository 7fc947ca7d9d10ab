import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { serverCommand, ServerOutputs } from "../../platforms/local/databaseServer";
import { startDetached, stopProcess, unprivilegedUser, waitUntilReady } from "../../platforms/local/process";
import { KeyPair } from "../selfSigned";

/*
 * A team's database as a careful team runs it: TLS connections only. The tests start a local
 * server of the toolchain in clear (startServer), then switch it as its administrator would.
 * PostgreSQL, while it runs: a key pair in its data folder, `ssl = on`, and a pg_hba.conf with
 * `hostssl` lines alone, taken by a reload. MariaDB reads its certificate only when it starts, so
 * it is restarted on its data with the key pair and `require_secure_transport`.
 */

const SERVER_CERT = "server.crt";
const SERVER_KEY = "server.key";

/** The administrator's connection: in clear until the server serves TLS, then over TLS without checking (the checks are what the tests test). */
async function asAdministrator<T>(server: ServerOutputs, use: (client: any) => Promise<T>): Promise<T> {
    const pg = require("pg");
    const servesTls = fs.existsSync(path.join(server.workDir, "data", SERVER_CERT));
    const client = new pg.Client({
        host: "127.0.0.1",
        port: server.port,
        user: server.adminUser,
        password: server.adminPassword,
        database: "postgres",
        ...(servesTls ? { ssl: { rejectUnauthorized: false } } : {}),
    });
    await client.connect();
    try {
        return await use(client);
    } finally {
        await client.end();
    }
}

/** The certificate a TLS connection to the server is shown, by SHA-256 fingerprint. */
async function presentedFingerprint(server: ServerOutputs): Promise<string | undefined> {
    const pg = require("pg");
    const client = new pg.Client({ host: "127.0.0.1", port: server.port, user: server.adminUser, password: server.adminPassword, database: "postgres", ssl: { rejectUnauthorized: false } });
    try {
        await client.connect();
        return client.connection.stream.getPeerCertificate().fingerprint256;
    } catch {
        return undefined;
    } finally {
        await client.end().catch(() => undefined);
    }
}

/**
 * Makes the server present this key pair and accept TLS connections only; called again, it
 * swaps the certificate. Returns once a new connection is shown the new certificate.
 */
export async function serveTlsOnly(server: ServerOutputs, pair: KeyPair): Promise<void> {
    const dataDir = path.join(server.workDir, "data");
    const owner = fs.statSync(dataDir);
    const files: [string, string, number][] = [
        [SERVER_CERT, pair.cert, 0o644],
        // PostgreSQL refuses a key that others may read.
        [SERVER_KEY, pair.key, 0o600],
        ["pg_hba.conf", "hostssl all all 127.0.0.1/32 scram-sha-256\n", 0o600],
    ];
    const firstTime = !fs.existsSync(path.join(dataDir, SERVER_CERT));
    await asAdministrator(server, async client => {
        for (const [name, text, mode] of files) {
            const file = path.join(dataDir, name);
            fs.writeFileSync(file, text, { mode });
            fs.chmodSync(file, mode);
            fs.chownSync(file, owner.uid, owner.gid);
        }
        if (firstTime) {
            await client.query("ALTER SYSTEM SET ssl = on");
        }
        await client.query("SELECT pg_reload_conf()");
    });
    const expected = new crypto.X509Certificate(pair.cert).fingerprint256;
    for (let waited = 0; waited < 10_000; waited += 100) {
        if ((await presentedFingerprint(server)) === expected) {
            return;
        }
        await new Promise(resolve => setTimeout(resolve, 100));
    }
    throw new Error(`PostgreSQL on port ${server.port} does not present the new certificate 10 s after its reload; see ${path.join(server.workDir, "server.log")}`);
}

/**
 * Restarts a local MariaDB on its data, presenting this key pair and refusing connections in clear
 * over TCP (its socket, which the stack's administrator setup uses, stays as it was). Returns the
 * server with its new process.
 */
export async function restartMariadbTlsOnly(server: ServerOutputs, pair: KeyPair): Promise<ServerOutputs> {
    await stopProcess(server.pid, undefined, "SIGTERM");
    const runAs = unprivilegedUser("mysql");
    const tlsDir = path.join(server.workDir, "tls");
    fs.mkdirSync(tlsDir, { recursive: true, mode: 0o700 });
    const files = { cert: path.join(tlsDir, "server-cert.pem"), key: path.join(tlsDir, "server-key.pem") };
    fs.writeFileSync(files.cert, pair.cert, { mode: 0o644 });
    fs.writeFileSync(files.key, pair.key, { mode: 0o600 });
    if (runAs) {
        for (const file of [tlsDir, files.cert, files.key]) {
            fs.chownSync(file, runAs.uid, runAs.gid);
        }
    }
    const { command, args } = serverCommand(server, path.join(server.workDir, "data"), runAs);
    const logFile = path.join(server.workDir, "server.log");
    const pid = startDetached(command, [...args, `--ssl-cert=${files.cert}`, `--ssl-key=${files.key}`, "--require-secure-transport=ON"], {
        cwd: server.workDir,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C.UTF-8" },
        logFile,
    });
    const expected = new crypto.X509Certificate(pair.cert).fingerprint256;
    await waitUntilReady({
        what: `MariaDB on port ${server.port}, restarted with TLS`,
        pid,
        logFile,
        timeoutMs: 60_000,
        ready: async () => {
            const mysql = require("mysql2/promise");
            const connection = await mysql.createConnection({ host: "127.0.0.1", port: server.port, user: server.adminUser, password: server.adminPassword, ssl: { rejectUnauthorized: false }, connectTimeout: 2000 });
            try {
                return connection.connection.stream.getPeerCertificate().fingerprint256 === expected;
            } finally {
                await connection.end();
            }
        },
    });
    return { ...server, pid };
}
