import * as pulumi from "@pulumi/pulumi";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { changedInputs } from "../../resources/inputs";
import { runToCompletion, writeFileAtomic } from "./process";

/*
 * One `dbt build` of the project against the coordinator, run from the cached virtual environment,
 * into the run's own schema. It runs when created and whenever its inputs change (the project's
 * content, the run, the profile), and at no other time, so a no-op `pulumi up` does not rebuild.
 *
 * When only the project changed since the last successful run, the build defers to that run: dbt
 * builds and tests what the edit changed and everything downstream of it (`state:modified+`), and
 * the project's on-run-end hook copies every other model from the last run, so that each run still
 * holds all its models and does not depend on the one before it.
 */

interface DbtInputs {
    component: string;
    dbtBin: string;
    projectDir: string;
    /** Digest of the dbt project's files; a new value means the models changed. */
    projectDigest: string;
    /** Whether the project's on-run-end hook copies what a deferred build leaves out; without it every run builds every model. */
    defersModelEdits?: boolean;
    /** The schema the run builds into; a new value is a new run. */
    runSchema: string;
    /** What the run reads besides the project: equal values mean the domains hold what the last run read. */
    sourcesDigest: string;
    profile: string;
    /** The coordinator's certificate, written where the profile expects it. */
    caCert: string;
    caCertFile: string;
    /** dbt's Trino password and anything else secret, by variable; secret. */
    env: Record<string, string>;
    /** Folder for the profile, dbt's target/ and logs/. Removed on delete. */
    workDir: string;
    vars: Record<string, string>;
}

interface DbtOutputs extends DbtInputs {
    runId: string;
    summary: string;
    /** What the run built: every model, or what a model edit changed with the rest copied from the last run. */
    built: string;
}

/**
 * dbt's own account of a failure: its closing summary ("Completed with N errors" through
 * "Done."), which names each failed model or test with the database's message. When dbt stopped
 * before running anything (a parse or connection error), the tail of its output.
 */
function failureExcerpt(output: string): string {
    const lines = output.split("\n");
    const start = lines.findIndex(l => /Completed with \d+ errors?/.test(l));
    const summary = start >= 0 ? lines.slice(start) : lines.slice(-40);
    return summary.join("\n").trim();
}

/**
 * Each model or test that failed, from dbt's own run results, with the models a test reads: a
 * failing test is then traced to the tables it guards.
 */
function failedNodes(targetDir: string): string[] {
    try {
        const results: { results: { unique_id: string; status: string }[] } = JSON.parse(fs.readFileSync(path.join(targetDir, "run_results.json"), "utf8"));
        const manifest: { nodes: Record<string, { name: string; resource_type: string; depends_on?: { nodes?: string[] } }> } = JSON.parse(
            fs.readFileSync(path.join(targetDir, "manifest.json"), "utf8"),
        );
        return results.results
            .filter(result => result.status === "fail" || result.status === "error")
            .map(result => {
                const node = manifest.nodes[result.unique_id];
                const models = (node?.depends_on?.nodes ?? []).filter(id => id.startsWith("model.")).map(id => manifest.nodes[id]?.name ?? id);
                return `${node?.resource_type ?? "node"} ${node?.name ?? result.unique_id} ${result.status}ed${models.length > 0 ? ` (on ${models.join(", ")})` : ""}`;
            });
    } catch {
        // dbt stopped before writing its results (a parse error): its own output says why.
        return [];
    }
}

/**
 * dbt's environment: only what it needs, so that nothing of the deploying shell (a CA bundle
 * variable, say, which would override the profile's certificate) changes what it does.
 */
export function dbtEnvironment(dbtBin: string, secrets: Record<string, string>): NodeJS.ProcessEnv {
    return {
        ...secrets,
        PATH: `${path.dirname(dbtBin)}:${process.env.PATH ?? "/usr/bin:/bin"}`,
        HOME: process.env.HOME,
        DBT_SEND_ANONYMOUS_USAGE_STATS: "false",
        DO_NOT_TRACK: "1",
        LANG: "C.UTF-8",
    };
}

function runDbt(inputs: DbtInputs, args: string[], what: string, extraVars: Record<string, string> = {}): string {
    const profilesDir = path.join(inputs.workDir, "profile");
    return runToCompletion(
        inputs.dbtBin,
        [
            ...args,
            "--project-dir",
            inputs.projectDir,
            "--profiles-dir",
            profilesDir,
            "--target-path",
            path.join(inputs.workDir, "target"),
            "--log-path",
            path.join(inputs.workDir, "logs"),
            "--vars",
            JSON.stringify({ ...inputs.vars, ...extraVars }),
            "--no-use-colors",
        ],
        {
            cwd: inputs.workDir,
            env: dbtEnvironment(inputs.dbtBin, inputs.env),
            what: `${inputs.component}: ${what}`,
        },
    );
}

/** Where the last successful run's manifest is kept, for a model edit's run to defer to. */
function lastRunDir(inputs: DbtInputs): string {
    return path.join(inputs.workDir, "last-run");
}

/** What a run's result depends on; a change to anything else updates the stored inputs without running dbt. */
const REBUILDING_KEYS: string[] = ["dbtBin", "projectDir", "projectDigest", "runSchema", "sourcesDigest", "workDir", "vars"];

/** The last successful run, when the new one may build only what the project's edit changed and copy the rest from it. */
function deferrableRun(olds: DbtOutputs | undefined, news: DbtInputs): string | undefined {
    if (!olds || news.defersModelEdits === false) {
        return undefined;
    }
    const rebuilding = changedInputs(olds, news).filter(key => REBUILDING_KEYS.includes(key));
    // Only the project and so the run's name changed: the sources, the configuration and dbt are the last run's.
    if (!rebuilding.includes("projectDigest") || rebuilding.some(key => key !== "projectDigest" && key !== "runSchema")) {
        return undefined;
    }
    const dir = lastRunDir(news);
    const lastRun = fs.existsSync(path.join(dir, "run-schema")) ? fs.readFileSync(path.join(dir, "run-schema"), "utf8").trim() : "";
    return lastRun === olds.runSchema && fs.existsSync(path.join(dir, "manifest.json")) ? lastRun : undefined;
}

function rememberRun(inputs: DbtInputs): void {
    const dir = lastRunDir(inputs);
    fs.rmSync(path.join(dir, "run-schema"), { force: true });
    writeFileAtomic(path.join(dir, "manifest.json"), fs.readFileSync(path.join(inputs.workDir, "target", "manifest.json")), 0o600);
    writeFileAtomic(path.join(dir, "run-schema"), `${inputs.runSchema}\n`, 0o600);
}

function build(inputs: DbtInputs, deferTo: string | undefined): { output: string; deferred: boolean } {
    if (deferTo) {
        const output = runDbt(
            inputs,
            // Without the cache of every relation in the insights catalog, which a build of a few models does not need (about 0.5 s).
            ["build", "--select", "state:modified+", "--defer", "--state", lastRunDir(inputs), "--no-populate-cache"],
            `dbt build of what changed since ${deferTo}`,
            { copy_unbuilt_from: deferTo },
        );
        // An edit that changes no node (a README) selects nothing, and dbt then runs no hook either.
        if (!/Nothing to do\./.test(output)) {
            return { output, deferred: true };
        }
    }
    return { output: runDbt(inputs, ["build"], "dbt build"), deferred: false };
}

/**
 * Builds, the project's on-run-start hook checking every domain's source contract first: a domain
 * that renamed or retyped a column stops the build before any model is written, so the published
 * insights stay as they were.
 */
async function runBuild(inputs: DbtInputs, olds?: DbtOutputs): Promise<DbtOutputs> {
    writeFileAtomic(path.join(inputs.workDir, "profile", "profiles.yml"), inputs.profile, 0o600);
    writeFileAtomic(inputs.caCertFile, inputs.caCert, 0o644);
    const deferTo = deferrableRun(olds, inputs);
    let result: { output: string; deferred: boolean };
    try {
        try {
            result = build(inputs, deferTo);
        } catch (e) {
            // The last run is gone (dropped by hand): build everything instead.
            if (!deferTo || !new RegExp(`${deferTo}\\S* does not exist`, "i").test((e as Error).message)) {
                throw e;
            }
            result = build(inputs, undefined);
        }
    } catch (e) {
        const message = (e as Error).message;
        const broken = message.split("\n").filter(line => /source contract broken|not found or not visible/.test(line));
        if (broken.length > 0) {
            throw new Error(`${inputs.component}: a domain broke its source contract; nothing was built and the published insights are unchanged.\n${broken.map(line => line.trim()).join("\n")}`);
        }
        const failed = failedNodes(path.join(inputs.workDir, "target"));
        throw new Error(
            `${inputs.component}: dbt build of ${inputs.runSchema} failed; nothing was published, and the published insights are unchanged.\n` +
                `${failed.length > 0 ? `${failed.join("\n")}\n` : ""}${failureExcerpt(message)}`,
        );
    }
    rememberRun(inputs);
    const doneLine = result.output.split("\n").filter(l => /Done\. PASS=/.test(l)).pop() ?? "";
    const summary = doneLine.replace(/^.*?(Done\.)/, "$1").trim();
    const built = result.deferred ? `what changed since ${deferTo} (state:modified+), the other models copied from it` : "every model";
    return { ...inputs, runId: crypto.randomUUID(), summary, built };
}

export const localDbtProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: DbtInputs) {
        fs.mkdirSync(inputs.workDir, { recursive: true });
        return { id: inputs.workDir, outs: await runBuild(inputs) };
    },
    async diff(_id: string, olds: DbtOutputs, news: DbtInputs) {
        return { changes: changedInputs(olds, news).length > 0 };
    },
    async update(_id: string, olds: DbtOutputs, news: DbtInputs) {
        // How dbt reaches Trino (address, certificate, password) does not change what it builds.
        if (!changedInputs(olds, news).some(key => REBUILDING_KEYS.includes(key))) {
            return { outs: { ...olds, ...news } };
        }
        return { outs: await runBuild(news, olds) };
    },
    async delete(_id: string, olds: DbtOutputs) {
        fs.rmSync(olds.workDir, { recursive: true, force: true });
    },
};

export interface LocalDbtRunArgs {
    component: pulumi.Input<string>;
    dbtBin: pulumi.Input<string>;
    projectDir: pulumi.Input<string>;
    projectDigest: pulumi.Input<string>;
    defersModelEdits: pulumi.Input<boolean>;
    runSchema: pulumi.Input<string>;
    sourcesDigest: pulumi.Input<string>;
    profile: pulumi.Input<string>;
    caCert: pulumi.Input<string>;
    caCertFile: pulumi.Input<string>;
    env: pulumi.Input<Record<string, pulumi.Input<string>>>;
    workDir: pulumi.Input<string>;
    vars: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

export class LocalDbtRun extends pulumi.dynamic.Resource {
    /** New on every run; what runs after dbt depends on it. */
    public readonly runId!: pulumi.Output<string>;
    /** dbt's closing line, e.g. "Done. PASS=40 WARN=0 ERROR=0 SKIP=0 TOTAL=40". */
    public readonly summary!: pulumi.Output<string>;
    /** Every model, or what a model edit changed with the rest copied from the last run. */
    public readonly built!: pulumi.Output<string>;

    constructor(name: string, args: LocalDbtRunArgs, opts?: pulumi.CustomResourceOptions) {
        super(localDbtProvider, name, { ...args, runId: undefined, summary: undefined, built: undefined }, { ...opts, additionalSecretOutputs: ["env"] }, "datamesh", "LocalDbtRun");
    }
}
