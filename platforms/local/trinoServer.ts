import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { queryTrino } from "../../lib/trinoQuery";
import { assertPortFree, isOurProcess, startDetached, stopProcess, waitUntilReady, writeFileAtomic } from "./process";

/*
 * A Trino coordinator as a process on this machine, started from the cached Trino server and a
 * generated etc/ folder. Secrets reach it only through its environment.
 */

interface TrinoInputs {
    component: string;
    port: number;
    internalPort: number;
    trinoHome: string;
    javaHome: string;
    workDir: string;
    /** etc/ files by relative path. */
    files: Record<string, string>;
    /** Binary etc/ files by relative path, base64; secret. */
    secretFiles: Record<string, string>;
    /** Environment that Trino's files reference with ${ENV:...}; secret. */
    env: Record<string, string>;
    /** Credentials for the readiness query; secret. */
    probe: { user: string; password: string };
    /** The certificate the coordinator presents, PEM. */
    caCert: string;
}

interface TrinoOutputs extends TrinoInputs {
    pid: number;
    url: string;
    version: string;
}

const STARTUP_TIMEOUT_MS = 180_000;

function fetchInfo(port: number): Promise<{ starting: boolean; nodeVersion: { version: string } }> {
    return new Promise((resolve, reject) => {
        // The internal plain-HTTP port answers /v1/info without authentication.
        const request = http.get({ host: "127.0.0.1", port, path: "/v1/info", timeout: 2000 }, response => {
            let body = "";
            response.setEncoding("utf8");
            response.on("data", chunk => (body += chunk));
            response.on("end", () => {
                try {
                    resolve(JSON.parse(body));
                } catch (e) {
                    reject(e);
                }
            });
        });
        request.on("timeout", () => request.destroy(new Error("timeout")));
        request.on("error", reject);
    });
}

function writeEtc(inputs: TrinoInputs): string {
    const etcDir = path.join(inputs.workDir, "etc");
    const catalogDir = path.join(etcDir, "catalog");
    // Catalogs no longer declared must go, or Trino would keep serving them.
    if (fs.existsSync(catalogDir)) {
        for (const file of fs.readdirSync(catalogDir)) {
            if (!inputs.files[`catalog/${file}`]) {
                fs.rmSync(path.join(catalogDir, file));
            }
        }
    }
    for (const [relative, content] of Object.entries(inputs.files)) {
        writeFileAtomic(path.join(etcDir, relative), content, 0o600);
    }
    for (const [relative, base64] of Object.entries(inputs.secretFiles)) {
        writeFileAtomic(path.join(etcDir, relative), Buffer.from(base64, "base64"), 0o600);
    }
    return etcDir;
}

async function start(inputs: TrinoInputs): Promise<TrinoOutputs> {
    await assertPortFree(inputs.port, inputs.component);
    await assertPortFree(inputs.internalPort, inputs.component);
    fs.mkdirSync(inputs.workDir, { recursive: true, mode: 0o750 });
    const etcDir = writeEtc(inputs);
    const dataDir = path.join(inputs.workDir, "data");
    fs.mkdirSync(dataDir, { recursive: true });
    const logFile = path.join(inputs.workDir, "trino.log");
    const pid = startDetached(path.join(inputs.trinoHome, "bin", "launcher"), ["run", `--etc-dir=${etcDir}`, `--data-dir=${dataDir}`], {
        cwd: inputs.workDir,
        env: {
            ...inputs.env,
            JAVA_HOME: inputs.javaHome,
            PATH: `${path.join(inputs.javaHome, "bin")}:${process.env.PATH ?? "/usr/bin:/bin"}`,
            LANG: "C.UTF-8",
        },
        logFile,
    });
    let version = "";
    await waitUntilReady({
        what: `${inputs.component}: Trino on port ${inputs.port}`,
        pid,
        logFile,
        timeoutMs: STARTUP_TIMEOUT_MS,
        // `/v1/info` stops saying "starting" a moment before the node accepts work, so a query proves it.
        ready: async () => {
            const info = await fetchInfo(inputs.internalPort);
            version = info.nodeVersion.version;
            if (info.starting) {
                return false;
            }
            const probe = await queryTrino({ url: `https://127.0.0.1:${inputs.port}`, user: inputs.probe.user, password: inputs.probe.password, caCert: inputs.caCert }, "SELECT 1");
            return probe.rows.length === 1;
        },
    });
    return { ...inputs, pid, url: `https://127.0.0.1:${inputs.port}`, version };
}

/** A new folder means a new server; anything else, new ports included, restarts this one (the insights live in the warehouse and the metastore). */
const REPLACING_INPUTS: (keyof TrinoInputs)[] = ["workDir"];
const RESTARTING_INPUTS: (keyof TrinoInputs)[] = ["port", "internalPort", "trinoHome", "javaHome", "files", "secretFiles", "env", "component"];

const trinoProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: TrinoInputs) {
        return { id: inputs.workDir, outs: await start(inputs) };
    },
    async diff(_id: string, olds: TrinoOutputs, news: TrinoInputs) {
        const differs = (key: keyof TrinoInputs) => JSON.stringify(olds[key]) !== JSON.stringify(news[key]);
        const replaces = REPLACING_INPUTS.filter(differs);
        const changes = replaces.length > 0 || RESTARTING_INPUTS.some(differs) || !isOurProcess(olds.pid, olds.workDir);
        return { changes, replaces, deleteBeforeReplace: true };
    },
    async update(_id: string, olds: TrinoOutputs, news: TrinoInputs) {
        if (isOurProcess(olds.pid, olds.workDir)) {
            await stopProcess(olds.pid);
        }
        return { outs: await start(news) };
    },
    async delete(_id: string, olds: TrinoOutputs) {
        if (isOurProcess(olds.pid, olds.workDir)) {
            await stopProcess(olds.pid);
        }
        fs.rmSync(olds.workDir, { recursive: true, force: true });
    },
};

export interface LocalTrinoServerArgs {
    component: pulumi.Input<string>;
    port: pulumi.Input<number>;
    internalPort: pulumi.Input<number>;
    trinoHome: pulumi.Input<string>;
    javaHome: pulumi.Input<string>;
    workDir: pulumi.Input<string>;
    files: pulumi.Input<Record<string, pulumi.Input<string>>>;
    secretFiles: pulumi.Input<Record<string, pulumi.Input<string>>>;
    env: pulumi.Input<Record<string, pulumi.Input<string>>>;
    probe: pulumi.Input<{ user: pulumi.Input<string>; password: pulumi.Input<string> }>;
    caCert: pulumi.Input<string>;
}

export class LocalTrinoServer extends pulumi.dynamic.Resource {
    public readonly pid!: pulumi.Output<number>;
    public readonly url!: pulumi.Output<string>;
    public readonly version!: pulumi.Output<string>;

    constructor(name: string, args: LocalTrinoServerArgs, opts?: pulumi.CustomResourceOptions) {
        super(trinoProvider, name, { ...args, pid: undefined, url: undefined, version: undefined }, { ...opts, additionalSecretOutputs: ["env", "secretFiles", "probe"] }, "datamesh", "LocalTrinoServer");
    }
}
