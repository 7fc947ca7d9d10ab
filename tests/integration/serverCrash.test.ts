import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { databaseServerProvider, mariadbSocketDir, ServerInputs, ServerOutputs, startServer } from "../../platforms/local/databaseServer";
import { isAlive, processesOn } from "../../platforms/local/process";
import { findDatabasePrograms } from "../../platforms/local/toolchain";
import { Engine } from "../../lib/domains";
import { freePortRange } from "./harness";

jest.setTimeout(300_000);

/*
 * The local platform's database servers after a crash, on real PostgreSQL and MariaDB: what
 * `pulumi up` does when it finds a server killed (the provider's diff, then its update), and what
 * `pulumi destroy` does after an update that failed half-way.
 */

const toolchain = findDatabasePrograms();
const workDirs: string[] = [];

afterAll(async () => {
    for (const dir of workDirs) {
        for (const pid of processesOn(dir)) {
            process.kill(pid, "SIGKILL");
        }
        fs.rmSync(dir, { recursive: true, force: true });
    }
});

async function newServerInputs(engine: Engine): Promise<ServerInputs> {
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `datamesh-it-crash-${engine}-`));
    // The test's own folder: a server's account passes through it when the server's folder lies deeper (the stack opens only its own).
    fs.chmodSync(workDir, 0o711);
    workDirs.push(workDir);
    return {
        component: `crash-${engine}`,
        engine,
        port: await freePortRange(1),
        workDir,
        programs: engine === "postgresql" ? toolchain.postgres : toolchain.mariadb,
        adminPassword: crypto.randomBytes(18).toString("hex"),
    };
}

/** Runs one statement as the administrator and returns its rows. */
async function adminQuery(server: ServerOutputs, sql: string): Promise<any[]> {
    if (server.engine === "postgresql") {
        const pg = require("pg");
        const client = new pg.Client({ host: server.host, port: server.port, user: server.adminUser, password: server.adminPassword, database: "postgres" });
        await client.connect();
        try {
            return (await client.query(sql)).rows;
        } finally {
            await client.end();
        }
    }
    const mysql = require("mysql2/promise");
    const connection = await mysql.createConnection({ host: server.host, port: server.port, user: server.adminUser, password: server.adminPassword, database: "mysql" });
    try {
        return (await connection.query(sql))[0];
    } finally {
        await connection.end();
    }
}

async function killHard(pid: number): Promise<void> {
    process.kill(pid, "SIGKILL");
    for (let i = 0; i < 100 && isAlive(pid); i++) {
        await new Promise(r => setTimeout(r, 50));
    }
    expect(isAlive(pid)).toBe(false);
}

describe.each(["mariadb", "postgresql"] as const)("a %s server killed with SIGKILL", engine => {
    it("is started again on its data by the next pulumi up", async () => {
        const inputs = await newServerInputs(engine);
        const first = (await databaseServerProvider.create!(inputs)).outs as ServerOutputs;
        await adminQuery(first, "CREATE TABLE survivor (id int primary key)");
        await adminQuery(first, "INSERT INTO survivor VALUES (42)");
        await killHard(first.pid);
        if (engine === "mariadb") {
            // The crash leaves the socket file behind, which a restart must not take for a listening server.
            expect(fs.existsSync(path.join(mariadbSocketDir(inputs.workDir), "mariadbd.sock"))).toBe(true);
        }

        const diff = await databaseServerProvider.diff!(inputs.workDir, first, inputs);
        expect(diff).toMatchObject({ changes: true, replaces: [] });
        const healed = (await databaseServerProvider.update!(inputs.workDir, first, inputs)).outs as ServerOutputs;
        expect(healed.pid).not.toBe(first.pid);
        expect(isAlive(healed.pid)).toBe(true);
        expect(await adminQuery(healed, "SELECT id FROM survivor")).toEqual([{ id: 42 }]);
        expect(await databaseServerProvider.diff!(inputs.workDir, healed, inputs)).toMatchObject({ changes: false });

        await databaseServerProvider.delete!(inputs.workDir, healed);
        expect(isAlive(healed.pid)).toBe(false);
        expect(fs.existsSync(inputs.workDir)).toBe(false);
    });

    it("is stopped by pulumi destroy even when the up that restarted it failed and recorded no process", async () => {
        const inputs = await newServerInputs(engine);
        const recorded = (await databaseServerProvider.create!(inputs)).outs as ServerOutputs;
        await killHard(recorded.pid);
        // What a failed update leaves: a server running on the folder while the state still holds the dead process.
        const unrecorded = await startServer(inputs);
        expect(processesOn(inputs.workDir)).toEqual([unrecorded.pid]);

        await databaseServerProvider.delete!(inputs.workDir, recorded);
        expect(isAlive(unrecorded.pid)).toBe(false);
        expect(processesOn(inputs.workDir)).toEqual([]);
        expect(fs.existsSync(inputs.workDir)).toBe(false);
    });
});

it("keeps MariaDB's socket in a folder only the server's account can enter", async () => {
    const inputs = await newServerInputs("mariadb");
    const server = (await databaseServerProvider.create!(inputs)).outs as ServerOutputs;
    try {
        const dir = mariadbSocketDir(inputs.workDir);
        expect(dir.startsWith(inputs.workDir + "/")).toBe(true);
        expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
        expect(fs.readFileSync(`/proc/${server.pid}/cmdline`, "utf8").split("\0")).toContain(`--socket=${path.join(dir, "mariadbd.sock")}`);
    } finally {
        await databaseServerProvider.delete!(inputs.workDir, server);
    }
});

it("refuses a socket folder another account could have planted, naming it", async () => {
    // Deep enough that the socket cannot live in the server's own folder.
    const inputs = await newServerInputs("mariadb");
    const deep = path.join(inputs.workDir, "x".repeat(60), "y".repeat(30));
    const planted = mariadbSocketDir(deep);
    expect(planted.startsWith(os.tmpdir())).toBe(true);
    fs.mkdirSync(planted, { mode: 0o777 });
    fs.chmodSync(planted, 0o777);
    try {
        await expect(startServer({ ...inputs, workDir: deep })).rejects.toThrow(`crash-mariadb: the MariaDB socket folder ${planted} exists and is not a private folder of this stack`);
        expect(processesOn(deep)).toEqual([]);
    } finally {
        fs.rmSync(planted, { recursive: true, force: true });
    }
});
