import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { renderDocsScript } from "../../catalogs/jobs";
import { DocsSite, DocsSiteRequest } from "../platform";
import { docsServerCommand } from "../shared/docsServer";
import { Cluster } from "./cluster";
import { DbtEnvironment, dbtJob } from "./jobs";
import { TRINO_CLIENT_JOBS } from "./trino";
import { ClientSources, clientPeers, tcp, workloadNetworkPolicy } from "./networkPolicies";
import { IMAGE_USERS, restrictedPod } from "./podSecurity";
import { workloadServiceAccount } from "./serviceAccount";
import { resources, RESOURCE_SIZES } from "./sizing";

/*
 * The dbt docs of the published insights, in the cluster: a small Deployment serves a volume claim
 * over HTTP, and after each publication a Job on the same node runs `dbt docs generate --static`
 * into the claim and swaps the served page in one rename. A failed Job fails `up` with dbt's own
 * message and leaves the page being served. The page is a few megabytes with the manifest and the
 * catalog inside it, too big for a ConfigMap, hence the claim.
 */

const SITE_PORT = 8080;
const SITE_DIR = "/site";

export interface DocsSiteSettings {
    server: string;
    dbt: DbtEnvironment;
    /** Who may reach the site; anyone when unset. */
    clients?: ClientSources[];
}

export function docsSite(cluster: Cluster, images: DocsSiteSettings, name: string, request: DocsSiteRequest, opts: pulumi.CustomResourceOptions): DocsSite {
    const labels = cluster.labels(request.component, "docs");
    const account = workloadServiceAccount(cluster, name, request.component, "docs", opts);
    // The server only answers; it connects nowhere.
    workloadNetworkPolicy(cluster, name, request.component, "docs", { ingress: [{ peers: clientPeers(images.clients), ports: tcp(SITE_PORT) }] }, opts);
    const claim = new k8s.core.v1.PersistentVolumeClaim(
        name,
        {
            metadata: {
                ...cluster.metadata(name, request.component, "docs"),
                // Many storage classes bind a claim only once its first pod is scheduled: waiting for it alone would never end.
                annotations: { "pulumi.com/skipAwait": "true" },
            },
            spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "256Mi" } } },
        },
        cluster.options(opts),
    );
    const server = new k8s.apps.v1.Deployment(
        name,
        {
            metadata: cluster.workloadMetadata(name, request.component, "docs"),
            spec: {
                replicas: 1,
                // The claim attaches to one node: the old pod lets go of it before the new one takes it.
                strategy: { type: "Recreate" },
                selector: { matchLabels: labels },
                template: {
                    metadata: { labels },
                    // The server and the generating Job run as the same user, whose group the claim becomes (fsGroup).
                    spec: restrictedPod({
                        user: IMAGE_USERS.python,
                        serviceAccountName: account.metadata.name,
                        scratch: ["/tmp"],
                        containers: [
                            {
                                name: "server",
                                image: images.server,
                                command: docsServerCommand(SITE_DIR, SITE_PORT),
                                ports: [{ name: "http", containerPort: SITE_PORT }],
                                readinessProbe: { tcpSocket: { port: SITE_PORT }, periodSeconds: 5 },
                                volumeMounts: [{ name: "site", mountPath: SITE_DIR, readOnly: true }],
                                resources: resources(RESOURCE_SIZES.job),
                            },
                        ],
                        volumes: [{ name: "site", persistentVolumeClaim: { claimName: claim.metadata.name } }],
                    }),
                },
            },
        },
        cluster.options(opts, claim, account),
    );
    const service = new k8s.core.v1.Service(
        name,
        { metadata: cluster.metadata(name, request.component, "docs"), spec: { selector: labels, ports: [{ name: "http", port: SITE_PORT, targetPort: SITE_PORT }] } },
        cluster.options(opts),
    );
    const generation = dbtJob(
        cluster,
        images.dbt,
        `${name}-generate`,
        request.run,
        {
            // Not the server's role: its Service must never send a reader to the generating pod.
            role: TRINO_CLIENT_JOBS.docsGeneration,
            schema: request.publishedRun,
            script: (spec, publishedRun) => renderDocsScript({ ...spec, siteDir: SITE_DIR, pageName: publishedRun }),
            runKey: pulumi.all([request.run.projectDigest, request.publishedRun]).apply(parts => parts.join(":")),
            summaryPattern: "^docs site: serving ",
            sharedClaim: { claimName: claim.metadata.name, mountPath: SITE_DIR, readOnly: false, besidePodLabels: labels },
        },
        { ...opts, dependsOn: [cluster.rollout(server, "Deployment", request.component, name, opts)] },
    );
    const url = pulumi.all([service.metadata.name, generation.finished]).apply(([serviceName]) => `http://${cluster.serviceHost(serviceName)}:${SITE_PORT}/`);
    return { url, resource: generation.resource };
}
