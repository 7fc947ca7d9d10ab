import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { CHECK_ENV, DbtScriptSpec, renderCheckScript, renderDbtScript, renderStatementFile } from "../../catalogs/jobs";
import { DBT_PASSWORD_ENV, dbtProfile } from "../shared/dbtProfile";
import { projectFiles, shortDigest } from "../../lib/digest";
import { checkStatement } from "../../lib/reconcile";
import { KubernetesJobOutcome } from "./jobOutcome";
import { DbtRun, DbtRunRequest, InsightsCheckRequest, InsightsCheckRun } from "../platform";
import { Cluster } from "./cluster";
import { Flow, podsOf, tcp, workloadNetworkPolicy } from "./networkPolicies";
import type { DbtToolchain } from "./dbtToolchain";
import { IMAGE_USERS, ImageUser, restrictedPod } from "./podSecurity";
import { TRINO_CLIENT_JOBS, TRINO_HTTPS_PORT } from "./trino";
import { workloadServiceAccount } from "./serviceAccount";
import { resources, ResourceSize, RESOURCE_SIZES } from "./sizing";

/*
 * The steps that run inside the cluster as Jobs: the dbt build and the check. Each Job is named
 * after a digest of what it runs, so a change runs it anew and nothing else does. Its result is read
 * back from the cluster: the outputs carry the Job's own closing line, and a failure its message.
 */

/** A dbt build of a large mesh takes minutes; a hung one is stopped at this. */
const DBT_TIMEOUT_SECONDS = 1800;
const CHECK_TIMEOUT_SECONDS = 600;

export interface JobSpec {
    component: string;
    role: string;
    image: string;
    files: pulumi.Input<Record<string, pulumi.Input<string>>>;
    script: string;
    secrets: pulumi.Input<Record<string, pulumi.Input<string>>>;
    env: Record<string, pulumi.Input<string>>;
    size: ResourceSize;
    runKey: pulumi.Input<string>;
    /** Where the container finds `files`: the scripts inside them name their neighbours by this path. */
    filesDir: string;
    /** A further ConfigMap mounted as a folder tree (ConfigMap keys cannot hold a '/'). */
    tree?: ProjectTree;
    /** Volume claims the Job mounts. */
    claims?: JobClaim[];
    /** The image's own non-root user. */
    user: ImageUser;
    /** Where the Job connects; nowhere else (DNS aside). */
    egress: Flow[];
    /** The log line that sums the run up. */
    summaryPattern: string;
    timeoutSeconds: number;
}

/** A Job that runs a script from a ConfigMap with its secrets from a Secret, and its result read back. */
export function clusterJob(cluster: Cluster, name: string, spec: JobSpec, opts: pulumi.CustomResourceOptions): { finished: pulumi.Output<string>; summary: pulumi.Output<string>; resource: pulumi.Resource } {
    const configMap = new k8s.core.v1.ConfigMap(name, { metadata: cluster.metadata(name, spec.component, spec.role), data: spec.files }, cluster.options(opts));
    const secret = cluster.secret(name, spec.component, spec.role, spec.secrets, opts);
    const account = workloadServiceAccount(cluster, name, spec.component, spec.role, opts);
    workloadNetworkPolicy(
        cluster,
        name,
        spec.component,
        spec.role,
        { egress: spec.egress },
        opts,
    );
    // A Job's pod spec cannot change, so anything in it that can, the image too, names a new run.
    const claims = spec.claims ?? [];
    const beside = claims.find(claim => claim.besidePodLabels)?.besidePodLabels;
    const jobName = pulumi.all([spec.runKey, spec.files]).apply(([key, files]) => `${name}-${shortDigest(key, JSON.stringify(files), spec.image).slice(0, 10)}`);
    const created = new k8s.batch.v1.Job(
        name,
        {
            metadata: {
                ...cluster.metadata(name, spec.component, spec.role),
                name: jobName,
                // The provider would wait out its whole timeout on an image that cannot be pulled; the outcome below fails fast.
                annotations: { "pulumi.com/skipAwait": "true" },
            },
            spec: {
                backoffLimit: 0,
                activeDeadlineSeconds: spec.timeoutSeconds,
                template: {
                    metadata: { labels: cluster.labels(spec.component, spec.role) },
                    spec: restrictedPod({
                        user: spec.user,
                        serviceAccountName: account.metadata.name,
                        scratch: ["/tmp"],
                        extra: { restartPolicy: "Never", ...(beside ? { affinity: sameNodeAs(beside) } : {}) },
                        containers: [
                            {
                                name: spec.role,
                                image: spec.image,
                                command: ["/bin/sh", `${spec.filesDir}/${spec.script}`],
                                // The images' home folders lie on their read-only root; tools that keep files there (dbt, the Trino CLI's history) get the scratch folder.
                                env: Object.entries({ HOME: "/tmp", ...spec.env }).map(([envName, value]) => ({ name: envName, value })),
                                envFrom: [{ secretRef: { name: secret.metadata.name } }],
                                volumeMounts: [
                                    { name: "job-files", mountPath: spec.filesDir, readOnly: true },
                                    ...(spec.tree ? [{ name: "job-tree", mountPath: spec.tree.mountPath, readOnly: true }] : []),
                                    ...claims.map((claim, i) => ({ name: `claim-${i}`, mountPath: claim.mountPath, readOnly: claim.readOnly })),
                                ],
                                resources: resources(spec.size),
                            },
                        ],
                        volumes: [
                            { name: "job-files", configMap: { name: configMap.metadata.name } },
                            ...(spec.tree ? [{ name: "job-tree", configMap: { name: spec.tree.configMap.metadata.name, items: spec.tree.items } }] : []),
                            ...claims.map((claim, i) => ({ name: `claim-${i}`, persistentVolumeClaim: { claimName: claim.claimName, readOnly: claim.readOnly } })),
                        ],
                    }),
                },
            },
        },
        cluster.options(opts, configMap, secret, account, ...(spec.tree ? [spec.tree.configMap] : [])),
    );
    const target = cluster.target;
    if (!target) {
        return { finished: created.metadata.name, summary: created.metadata.name.apply(n => `rendered as Job ${cluster.namespace}/${n}; not run`), resource: created };
    }
    const outcome = new KubernetesJobOutcome(
        `${name}-outcome`,
        { target, namespace: cluster.namespace, jobName: created.metadata.name, component: spec.component, summaryPattern: spec.summaryPattern, timeoutSeconds: spec.timeoutSeconds },
        { ...opts, dependsOn: [created] },
    );
    // The Job's name once its result is in: whatever takes it as an input runs after the Job has succeeded.
    return { finished: pulumi.all([created.metadata.name, outcome.summary]).apply(([jobName]) => jobName), summary: outcome.summary, resource: outcome };
}

export interface JobClaim {
    claimName: pulumi.Input<string>;
    mountPath: string;
    readOnly: boolean;
    /** The pod the Job shares a ReadWriteOnce claim with, whose node the Job must run on. */
    besidePodLabels?: Record<string, string>;
}

/** Where a Job that talks to Trino connects: the coordinator's HTTPS port. */
export function coordinatorEgress(cluster: Cluster): Flow {
    return { peers: [podsOf(cluster, "coordinator")], ports: tcp(TRINO_HTTPS_PORT) };
}

export interface ProjectTree {
    configMap: k8s.core.v1.ConfigMap;
    mountPath: string;
    items: { key: string; path: string }[];
}

/** A volume claim's pod must share its node: a ReadWriteOnce volume attaches to one node at a time. */
function sameNodeAs(labels: Record<string, string>): k8s.types.input.core.v1.Affinity {
    return { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: labels }, topologyKey: "kubernetes.io/hostname" }] } };
}

/** The dbt project as a ConfigMap mounted as its folder tree; ConfigMap keys cannot hold a '/', so each file gets a flat key. */
export function dbtProjectTree(cluster: Cluster, name: string, component: string, projectDir: string, mountPath: string, opts: pulumi.CustomResourceOptions): ProjectTree {
    const files = projectFiles(projectDir).map(relativePath => ({ relativePath, content: fs.readFileSync(path.join(projectDir, relativePath)) }));
    const projectKey = (relativePath: string) => relativePath.replace(/[^A-Za-z0-9._-]/g, "_");
    const keys = files.map(f => projectKey(f.relativePath));
    const clash = keys.find((k, i) => keys.indexOf(k) !== i);
    if (clash) {
        throw new Error(`${component}: two dbt project files map to the ConfigMap key '${clash}'`);
    }
    const configMap = new k8s.core.v1.ConfigMap(
        name,
        {
            metadata: cluster.metadata(name, component, "dbt"),
            data: Object.fromEntries(files.map(f => [projectKey(f.relativePath), f.content.toString("utf8")])),
        },
        cluster.options(opts),
    );
    return { configMap, mountPath, items: files.map(f => ({ key: projectKey(f.relativePath), path: f.relativePath })) };
}

const DBT_PROJECT_DIR = "/etc/datamesh/dbt-project";
const DBT_PROFILES_DIR = "/etc/datamesh/dbt";

export interface DbtJobSpec {
    role: string;
    /** The schema the profile points dbt at. */
    schema: pulumi.Input<string>;
    /** The Job's script, given where the project, profile and work folder are, and the schema. */
    script: (spec: DbtScriptSpec, schema: string) => string;
    runKey: pulumi.Input<string>;
    summaryPattern: string;
    /** The claim the Job writes its result to, shared with a server. */
    sharedClaim?: JobClaim;
}

/** What the dbt and docs Jobs run dbt with: the image, and the volume dbt is installed in unless the image has it. */
export interface DbtEnvironment {
    image: string;
    toolchain?: DbtToolchain;
}

/** A dbt command as a Job: the project as a ConfigMap tree, the profile for the given schema, the password through a Secret. */
export function dbtJob(cluster: Cluster, dbt: DbtEnvironment, name: string, request: DbtRunRequest, spec: DbtJobSpec, opts: pulumi.CustomResourceOptions) {
    const tree = dbtProjectTree(cluster, `${name}-project`, request.component, request.projectDir, DBT_PROJECT_DIR, opts);
    const profile = dbtProfile(request, spec.schema, `${DBT_PROFILES_DIR}/trino-ca.pem`);
    const toolchain = dbt.toolchain;
    const scriptSpec: DbtScriptSpec = {
        projectDir: DBT_PROJECT_DIR,
        profilesDir: DBT_PROFILES_DIR,
        workDir: "/tmp/dbt",
        vars: request.vars,
        ...(toolchain ? { toolchain: toolchain.mount } : { missingDbtHint: `set datamesh:dbtToolchain to volume, or choose a dbtImage with dbt (${dbt.image} has none)` }),
    };
    return clusterJob(
        cluster,
        name,
        {
            component: request.component,
            role: spec.role,
            image: dbt.image,
            files: pulumi.all([profile, request.trino.caCert, spec.schema]).apply(([profileText, caCert, schema]) => ({
                "profiles.yml": profileText,
                "trino-ca.pem": caCert,
                "run.sh": spec.script(scriptSpec, schema),
            })),
            script: "run.sh",
            secrets: { [DBT_PASSWORD_ENV]: request.password },
            // dbt would otherwise write its anonymous user id into the read-only profile folder and call home.
            env: { DBT_SEND_ANONYMOUS_USAGE_STATS: "false" },
            size: RESOURCE_SIZES.dbt,
            // A new toolchain runs dbt anew, after its install has succeeded.
            runKey: toolchain ? pulumi.all([spec.runKey, toolchain.installed]).apply(parts => parts.join(":")) : spec.runKey,
            filesDir: DBT_PROFILES_DIR,
            tree,
            claims: [
                ...(toolchain ? [{ claimName: toolchain.claimName, mountPath: toolchain.mount.dir, readOnly: true }] : []),
                ...(spec.sharedClaim ? [spec.sharedClaim] : []),
            ],
            user: IMAGE_USERS.python,
            egress: [coordinatorEgress(cluster)],
            summaryPattern: spec.summaryPattern,
            timeoutSeconds: DBT_TIMEOUT_SECONDS,
        },
        opts,
    );
}

/** `dbt build` as a Job. */
export function dbtRun(cluster: Cluster, dbt: DbtEnvironment, name: string, request: DbtRunRequest, opts: pulumi.CustomResourceOptions): DbtRun {
    const run = dbtJob(
        cluster,
        dbt,
        name,
        request,
        {
            role: TRINO_CLIENT_JOBS.dbt,
            schema: request.runSchema,
            script: renderDbtScript,
            runKey: pulumi.all([request.projectDigest, request.runSchema]).apply(parts => parts.join(":")),
            summaryPattern: "Done\\. PASS=",
        },
        opts,
    );
    return { runId: run.finished, summary: run.summary, resource: run.resource };
}

/** The check statement, run by the Trino CLI in a Job; it fails naming every table that differs. */
export function insightsCheck(cluster: Cluster, image: string, name: string, request: InsightsCheckRequest, opts: pulumi.CustomResourceOptions): InsightsCheckRun {
    const filesDir = "/etc/datamesh/check";
    const run = clusterJob(
        cluster,
        name,
        {
            component: request.component,
            role: TRINO_CLIENT_JOBS.check,
            image,
            files: pulumi.all([request.trino.caCert, request.targets]).apply(([caCert, targets]) => ({
                "check.sh": renderCheckScript({ queryFile: `${filesDir}/check.sql`, caCertFile: `${filesDir}/trino-ca.pem` }),
                "check.sql": renderStatementFile(checkStatement(targets)),
                "trino-ca.pem": caCert,
            })),
            script: "check.sh",
            secrets: pulumi.output(request.credentials).apply(credentials => ({ [CHECK_ENV.password]: credentials.password })),
            env: {
                [CHECK_ENV.server]: pulumi.all([request.trino.meshHost, request.trino.meshPort]).apply(([host, port]) => `https://${host}:${port}`),
                // The user name is not secret; only the password travels in the Secret.
                [CHECK_ENV.user]: pulumi.unsecret(pulumi.output(request.credentials).apply(credentials => credentials.user)),
            },
            size: RESOURCE_SIZES.job,
            user: IMAGE_USERS.trino,
            runKey: request.dbtRunId,
            filesDir,
            egress: [coordinatorEgress(cluster)],
            summaryPattern: "^OK: ",
            timeoutSeconds: CHECK_TIMEOUT_SECONDS,
        },
        opts,
    );
    return { summary: run.summary, resource: run.resource };
}
