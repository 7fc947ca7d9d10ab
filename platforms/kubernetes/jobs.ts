import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { CHECK_ENV, renderCheckScript, renderDbtScript, renderStatementFile } from "../../catalogs/jobs";
import { projectFiles, shortDigest } from "../../lib/digest";
import { checkStatement } from "../../lib/reconcile";
import { KubernetesJobOutcome } from "../../resources/kubernetesJob";
import { DbtRun, DbtRunRequest, InsightsCheckRequest, InsightsCheckRun } from "../platform";
import { Cluster } from "./cluster";
import { resources, ResourceSize, RESOURCE_SIZES } from "./sizing";

/*
 * The steps that run inside the cluster as Jobs: the dbt build and the check. Each Job is named
 * after a digest of what it runs, so a change runs it anew and nothing else does. Its result is read
 * back from the cluster: the outputs carry the Job's own closing line, and a failure its message.
 */

const DBT_PASSWORD_ENV = "DATAMESH_DBT_PASSWORD";
/** dbt from a plain Python image installs its toolchain first; the whole run gets this long. */
const DBT_TIMEOUT_SECONDS = 1800;
const CHECK_TIMEOUT_SECONDS = 600;

interface JobSpec {
    component: string;
    role: string;
    image: string;
    files: pulumi.Input<Record<string, pulumi.Input<string>>>;
    script: string;
    secrets: pulumi.Input<Record<string, pulumi.Input<string>>>;
    env: Record<string, pulumi.Input<string>>;
    size: ResourceSize;
    runKey: pulumi.Input<string>;
    /** A further ConfigMap mounted as a folder tree (ConfigMap keys cannot hold a '/'). */
    tree?: { configMap: k8s.core.v1.ConfigMap; mountPath: string; items: { key: string; path: string }[] };
    /** The log line that sums the run up. */
    summaryPattern: string;
    timeoutSeconds: number;
}

/** A Job that runs a script from a ConfigMap with its secrets from a Secret, and its result read back. */
function job(cluster: Cluster, name: string, spec: JobSpec, opts: pulumi.CustomResourceOptions): { finished: pulumi.Output<string>; summary: pulumi.Output<string>; resource: pulumi.Resource } {
    const configMap = new k8s.core.v1.ConfigMap(name, { metadata: cluster.metadata(name, spec.component, spec.role), data: spec.files }, cluster.options(opts));
    const secret = cluster.secret(name, spec.component, spec.role, spec.secrets, opts);
    // A Job's pod spec cannot change, so anything in it that can, the image too, names a new run.
    const jobName = pulumi.all([spec.runKey, spec.files]).apply(([key, files]) => `${name}-${shortDigest(key, JSON.stringify(files), spec.image).slice(0, 10)}`);
    const mountPath = `/etc/datamesh/${spec.role}`;
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
                    spec: {
                        restartPolicy: "Never",
                        containers: [
                            {
                                name: spec.role,
                                image: spec.image,
                                command: ["/bin/sh", `${mountPath}/${spec.script}`],
                                env: Object.entries(spec.env).map(([envName, value]) => ({ name: envName, value })),
                                envFrom: [{ secretRef: { name: secret.metadata.name } }],
                                volumeMounts: [
                                    { name: "job-files", mountPath, readOnly: true },
                                    ...(spec.tree ? [{ name: "job-tree", mountPath: spec.tree.mountPath, readOnly: true }] : []),
                                ],
                                resources: resources(spec.size),
                            },
                        ],
                        volumes: [
                            { name: "job-files", configMap: { name: configMap.metadata.name } },
                            ...(spec.tree ? [{ name: "job-tree", configMap: { name: spec.tree.configMap.metadata.name, items: spec.tree.items } }] : []),
                        ],
                    },
                },
            },
        },
        cluster.options(opts, configMap, secret, ...(spec.tree ? [spec.tree.configMap] : [])),
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

/** `dbt build` as a Job; the project reaches it as a ConfigMap tree, its password through a Secret. */
export function dbtRun(cluster: Cluster, image: string, name: string, request: DbtRunRequest, opts: pulumi.CustomResourceOptions): DbtRun {
    const projectDir = "/etc/datamesh/dbt-project";
    const profilesDir = "/etc/datamesh/dbt";
    const files = projectFiles(request.projectDir).map(relativePath => ({ relativePath, content: fs.readFileSync(path.join(request.projectDir, relativePath)) }));
    const projectKey = (relativePath: string) => relativePath.replace(/[^A-Za-z0-9._-]/g, "_");
    const keys = files.map(f => projectKey(f.relativePath));
    const clash = keys.find((k, i) => keys.indexOf(k) !== i);
    if (clash) {
        throw new Error(`${request.component}: two dbt project files map to the ConfigMap key '${clash}'`);
    }
    const project = new k8s.core.v1.ConfigMap(
        `${name}-project`,
        {
            metadata: cluster.metadata(`${name}-project`, request.component, "dbt"),
            data: Object.fromEntries(files.map(f => [projectKey(f.relativePath), f.content.toString("utf8")])),
        },
        cluster.options(opts),
    );
    const profile = pulumi
        .all([request.trino.host, request.trino.port, request.runSchema])
        .apply(([host, port, schema]) => request.profile({ host, port, caCertFile: `${profilesDir}/trino-ca.pem`, passwordEnv: DBT_PASSWORD_ENV, schema }));
    const requirements = fs.readFileSync(path.join(request.projectDir, "requirements.txt"), "utf8");
    const run = job(
        cluster,
        name,
        {
            component: request.component,
            role: "dbt",
            image,
            files: pulumi.all([profile, request.trino.caCert]).apply(([profileText, caCert]) => ({
                "profiles.yml": profileText,
                "trino-ca.pem": caCert,
                "requirements.txt": requirements,
                "run.sh": renderDbtScript({ projectDir, profilesDir, workDir: "/tmp/dbt", vars: request.vars, requirementsFile: `${profilesDir}/requirements.txt` }),
            })),
            script: "run.sh",
            secrets: { [DBT_PASSWORD_ENV]: request.password },
            // dbt would otherwise write its anonymous user id into the read-only profile folder and call home.
            env: { DBT_SEND_ANONYMOUS_USAGE_STATS: "false", HOME: "/tmp" },
            size: RESOURCE_SIZES.dbt,
            runKey: pulumi.all([request.projectDigest, request.runSchema]).apply(parts => parts.join(":")),
            tree: { configMap: project, mountPath: projectDir, items: files.map(f => ({ key: projectKey(f.relativePath), path: f.relativePath })) },
            summaryPattern: "Done\\. PASS=",
            timeoutSeconds: DBT_TIMEOUT_SECONDS,
        },
        opts,
    );
    return { runId: run.finished, summary: run.summary, resource: run.resource };
}

/** The check statement, run by the Trino CLI in a Job; it fails naming every table that differs. */
export function insightsCheck(cluster: Cluster, image: string, name: string, request: InsightsCheckRequest, opts: pulumi.CustomResourceOptions): InsightsCheckRun {
    const mountPath = "/etc/datamesh/check";
    const run = job(
        cluster,
        name,
        {
            component: request.component,
            role: "check",
            image,
            files: pulumi.all([request.trino.caCert, request.targets]).apply(([caCert, targets]) => ({
                "check.sh": renderCheckScript({ queryFile: `${mountPath}/check.sql`, caCertFile: `${mountPath}/trino-ca.pem` }),
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
            runKey: request.dbtRunId,
            summaryPattern: "^OK: ",
            timeoutSeconds: CHECK_TIMEOUT_SECONDS,
        },
        opts,
    );
    return { summary: run.summary, resource: run.resource };
}
