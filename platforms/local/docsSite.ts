import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { changedInputs } from "../../resources/inputs";
import { dbtEnvironment } from "./dbtRun";
import { assertPortFree, isOurProcess, runToCompletion, startDetached, stopProcess, waitUntilReady, writeFileAtomic } from "./process";

/*
 * The dbt docs of the published insights, as a site on this machine: `dbt docs generate --static`
 * writes one self-contained page (the manifest and catalog inside it), and a small HTTP server
 * serves the folder that holds it. A new publication generates the page again; only a page that
 * dbt finished replaces the one served, so a failed generation leaves the last site in place.
 */

interface DocsInputs {
    component: string;
    port: number;
    dbtBin: string;
    projectDir: string;
    profile: string;
    caCert: string;
    caCertFile: string;
    /** dbt's Trino password, by variable; secret. */
    env: Record<string, string>;
    vars: Record<string, string>;
    /** The run the site documents; a new one generates the site again. */
    publishedRun: string;
    projectDigest: string;
    /** Folder for the profile, dbt's target/ and logs/, and the served site. Removed on delete. */
    workDir: string;
    /** The published run's dbt target folder, whose saved parse dbt takes up when nothing it parsed has changed; "" for none. */
    runTargetDir?: string;
}

interface DocsOutputs extends DocsInputs {
    pid: number;
    url: string;
    /** When the page served was generated. */
    generatedAt: string;
}

const STARTUP_TIMEOUT_MS = 30_000;
const GENERATING_KEYS = ["dbtBin", "projectDir", "profile", "vars", "publishedRun", "projectDigest"];

const siteDir = (inputs: DocsInputs) => path.join(inputs.workDir, "site");

/** Where dbt saves its parse of the project, in its target folder. */
const PARTIAL_PARSE_FILE = "partial_parse.msgpack";

function generate(inputs: DocsInputs): string {
    const profilesDir = path.join(inputs.workDir, "profile");
    const targetDir = path.join(inputs.workDir, "target");
    writeFileAtomic(path.join(profilesDir, "profiles.yml"), inputs.profile, 0o600);
    writeFileAtomic(inputs.caCertFile, inputs.caCert, 0o644);
    fs.rmSync(path.join(targetDir, "static_index.html"), { force: true });
    // The run that was just published parsed this project under this same profile: dbt checks that
    // every file, variable and the profile are as that parse saw them, and parses anew otherwise.
    const runParse = inputs.runTargetDir ? path.join(inputs.runTargetDir, PARTIAL_PARSE_FILE) : "";
    if (runParse && fs.existsSync(runParse)) {
        fs.mkdirSync(targetDir, { recursive: true });
        fs.copyFileSync(runParse, path.join(targetDir, PARTIAL_PARSE_FILE));
    }
    runToCompletion(
        inputs.dbtBin,
        [
            "docs",
            "generate",
            "--static",
            "--project-dir",
            inputs.projectDir,
            "--profiles-dir",
            profilesDir,
            "--target-path",
            targetDir,
            "--log-path",
            path.join(inputs.workDir, "logs"),
            "--vars",
            JSON.stringify(inputs.vars),
            "--no-use-colors",
        ],
        {
            cwd: inputs.workDir,
            env: dbtEnvironment(inputs.dbtBin, inputs.env),
            what: `${inputs.component}: dbt docs generate of ${inputs.publishedRun}`,
        },
    );
    const page = path.join(targetDir, "static_index.html");
    if (!fs.existsSync(page)) {
        throw new Error(`${inputs.component}: dbt docs generate finished without writing ${page}; the site served is unchanged`);
    }
    writeFileAtomic(path.join(siteDir(inputs), "index.html"), fs.readFileSync(page), 0o644);
    return new Date().toISOString();
}

function httpStatus(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
        const request = http.get({ host: "127.0.0.1", port, path: "/", timeout: 2000 }, response => {
            response.resume();
            resolve(response.statusCode ?? 0);
        });
        request.on("timeout", () => request.destroy(new Error("timeout")));
        request.on("error", reject);
    });
}

async function serve(inputs: DocsInputs): Promise<{ pid: number; url: string }> {
    await assertPortFree(inputs.port, inputs.component);
    const logFile = path.join(inputs.workDir, "server.log");
    // Python's own static file server, from dbt's virtual environment: it serves the one folder, on loopback only.
    const pid = startDetached(path.join(path.dirname(inputs.dbtBin), "python"), ["-m", "http.server", "--bind", "127.0.0.1", "--directory", siteDir(inputs), String(inputs.port)], {
        cwd: inputs.workDir,
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C.UTF-8" },
        logFile,
    });
    await waitUntilReady({
        what: `${inputs.component}: the docs site on port ${inputs.port}`,
        pid,
        logFile,
        timeoutMs: STARTUP_TIMEOUT_MS,
        ready: async () => (await httpStatus(inputs.port)) === 200,
    });
    return { pid, url: `http://127.0.0.1:${inputs.port}/` };
}

export const localDocsProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: DocsInputs) {
        fs.mkdirSync(siteDir(inputs), { recursive: true });
        await assertPortFree(inputs.port, inputs.component);
        const generatedAt = generate(inputs);
        return { id: inputs.workDir, outs: { ...inputs, generatedAt, ...(await serve(inputs)) } };
    },
    async diff(_id: string, olds: DocsOutputs, news: DocsInputs) {
        const changed = changedInputs(olds, news);
        return { changes: changed.length > 0 || !isOurProcess(olds.pid, siteDir(olds)), replaces: changed.includes("workDir") ? ["workDir"] : [], deleteBeforeReplace: true };
    },
    async update(_id: string, olds: DocsOutputs, news: DocsInputs) {
        const changed = changedInputs(olds, news);
        const generatedAt = changed.some(key => GENERATING_KEYS.includes(key)) ? generate(news) : olds.generatedAt;
        const running = isOurProcess(olds.pid, siteDir(olds));
        if (running && olds.port === news.port) {
            return { outs: { ...news, generatedAt, pid: olds.pid, url: olds.url } };
        }
        if (running) {
            await stopProcess(olds.pid);
        }
        return { outs: { ...news, generatedAt, ...(await serve(news)) } };
    },
    async delete(_id: string, olds: DocsOutputs) {
        if (isOurProcess(olds.pid, siteDir(olds))) {
            await stopProcess(olds.pid);
        }
        fs.rmSync(olds.workDir, { recursive: true, force: true });
    },
};

export interface LocalDocsSiteArgs {
    component: pulumi.Input<string>;
    port: pulumi.Input<number>;
    dbtBin: pulumi.Input<string>;
    projectDir: pulumi.Input<string>;
    profile: pulumi.Input<string>;
    caCert: pulumi.Input<string>;
    caCertFile: pulumi.Input<string>;
    env: pulumi.Input<Record<string, pulumi.Input<string>>>;
    vars: pulumi.Input<Record<string, pulumi.Input<string>>>;
    publishedRun: pulumi.Input<string>;
    projectDigest: pulumi.Input<string>;
    workDir: pulumi.Input<string>;
    runTargetDir: pulumi.Input<string>;
}

export class LocalDocsSite extends pulumi.dynamic.Resource {
    public readonly pid!: pulumi.Output<number>;
    public readonly url!: pulumi.Output<string>;
    public readonly generatedAt!: pulumi.Output<string>;

    constructor(name: string, args: LocalDocsSiteArgs, opts?: pulumi.CustomResourceOptions) {
        super(localDocsProvider, name, { ...args, pid: undefined, url: undefined, generatedAt: undefined }, { ...opts, additionalSecretOutputs: ["env"] }, "datamesh", "LocalDocsSite");
    }
}
