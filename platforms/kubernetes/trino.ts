import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { catalogFilesOf, trinoEtc } from "../shared/trinoEtc";
import { shortDigest } from "../../lib/digest";
import { TrinoNodes } from "../../resources/trinoNodes";
import { TrinoServer, TrinoServerRequest } from "../platform";
import { imageTag } from "../shared/options";
import { Cluster } from "./cluster";
import { WorkerAutoscaling, workerAutoscaler } from "./autoscaler";
import { disruptionBudget } from "./disruptionBudget";
import { catalogFlows, ClientSources, clientPeers, podsOf, tcp, workloadNetworkPolicy } from "./networkPolicies";
import { IMAGE_USERS, restrictedPod } from "./podSecurity";
import { workloadServiceAccount } from "./serviceAccount";
import { resources, RESOURCE_SIZES } from "./sizing";

/*
 * Trino laid out as the official Helm chart lays it out: coordinator, worker and catalog ConfigMaps
 * with checksum annotations so that a change rolls the pods, a coordinator Deployment and Service,
 * and a worker Deployment. Credentials reach Trino through a Secret only.
 */

/** Trino's ports inside the cluster; users reach HTTPS through the Service (e.g. `kubectl port-forward`). */
export const TRINO_HTTPS_PORT = 8443;
const TRINO_HTTP_PORT = 8080;
/** The coordinator's Service; the certificate names it, so it is fixed rather than derived. */
export const TRINO_SERVICE = "trino";

/** The names the cluster's own Jobs use for the coordinator's Service; its certificate must cover them. */
export function kubernetesTrinoHostnames(namespace: string): string[] {
    return [TRINO_SERVICE, `${TRINO_SERVICE}.${namespace}`, `${TRINO_SERVICE}.${namespace}.svc`, `${TRINO_SERVICE}.${namespace}.svc.cluster.local`];
}

/** The roles of Trino's pods: they talk to each other, and to the servers their catalogs name. */
export const TRINO_NODES = ["coordinator", "worker"];
/** The Jobs that connect to the coordinator's HTTPS port, by role: each Job takes its role from here, and the coordinator's NetworkPolicy lets exactly these in. */
export const TRINO_CLIENT_JOBS = { dbt: "dbt", check: "check", docsGeneration: "docs-generation" } as const;

/** The user a worker's preStop hook asks it to shut down as; the worker's rules let only it. */
const DRAIN_USER = "datamesh_drain";

/** Time for the queries a draining worker still runs, beyond its two grace periods. */
const WORKER_DRAIN_SECONDS = 300;

/** Checks of the coordinator in a row that find nothing answering before a draining worker stops waiting. */
const COORDINATOR_MISSES = 5;

/**
 * A worker's preStop hook: it asks the worker to shut down, which Trino does only once its running
 * tasks have finished, and waits for it to exit, so that the kubelet's SIGTERM never cuts a query.
 * A query lives on its coordinator: once none answers (the stack is being destroyed, or the
 * coordinator was deleted with the worker), the worker's tasks belong to queries that have already
 * failed, and the hook stops waiting rather than hold the pod for two grace periods.
 */
function drainWorker(httpPort: number, coordinatorUri: string): string[] {
    return [
        "/bin/sh",
        "-c",
        `missed=0; curl --silent --show-error --fail --max-time 10 -X PUT -H 'Content-Type: application/json' -H 'X-Trino-User: ${DRAIN_USER}' --data '"SHUTTING_DOWN"' http://127.0.0.1:${httpPort}/v1/info/state && while kill -0 1 2>/dev/null; do sleep 1; ` +
            `if curl --silent --max-time 2 -o /dev/null ${coordinatorUri}/v1/info; then missed=0; else missed=$((missed + 1)); [ "$missed" -lt ${COORDINATOR_MISSES} ] || exit 0; fi; done`,
    ];
}

export interface TrinoImageSettings {
    image: string;
    /** Seconds a worker asked to shut down waits before and after its running tasks. */
    workerGracePeriodSeconds: number;
    /** Who may reach the coordinator's HTTPS port besides the stack's Jobs; anyone when unset. */
    clients?: ClientSources[];
    /** Workers scaled on CPU between min and max (the request's `workers` is the min); a fixed count when unset. */
    autoscaling?: WorkerAutoscaling;
}

export function trinoServer(cluster: Cluster, settings: TrinoImageSettings, request: TrinoServerRequest, opts: pulumi.CustomResourceOptions): TrinoServer {
    const image = settings.image;
    const component = request.component;
    const etcDir = "/etc/trino";
    const secretDir = `${etcDir}/secrets`;
    const node = { environment: "datamesh", dataDir: "/data/trino", pluginDir: "/usr/lib/trino/plugin" };
    const discoveryUri = `http://${cluster.serviceHost(TRINO_SERVICE)}:${TRINO_HTTP_PORT}`;
    const etc = trinoEtc(request, {
        node,
        etcDir,
        secretDir,
        httpsPort: TRINO_HTTPS_PORT,
        internalPort: TRINO_HTTP_PORT,
        discoveryUri,
        drain: { gracePeriodSeconds: settings.workerGracePeriodSeconds, user: DRAIN_USER, etcDir },
    });
    // The catalogs get a ConfigMap of their own, mounted into every node's etc/catalog.
    const withoutCatalogs = (files: Record<string, string>) => Object.fromEntries(Object.entries(files).filter(([file]) => !file.startsWith("catalog/")));
    const catalogFiles = etc.coordinator.apply(files => Object.fromEntries(Object.entries(catalogFilesOf(files)).map(([file, text]) => [file.slice("catalog/".length), text])));
    const coordinatorFiles = etc.coordinator.apply(withoutCatalogs);
    const workerFiles = etc.worker.apply(withoutCatalogs);
    const passwordDb = etc.secretFiles.apply(files => files["password.db"]);

    const configMap = (role: string, data: pulumi.Input<Record<string, string>>) =>
        new k8s.core.v1.ConfigMap(`${component}-${role}`, { metadata: cluster.metadata(`${component}-${role}`, component, role), data }, cluster.options(opts));
    const coordinatorConfig = configMap("coordinator", coordinatorFiles);
    const workerConfig = configMap("worker", workerFiles);
    const catalogConfig = configMap("catalog", catalogFiles);
    const env = cluster.secret(`${component}-env`, component, "coordinator", request.env, opts);
    const files = new k8s.core.v1.Secret(
        `${component}-files`,
        {
            metadata: cluster.metadata(`${component}-files`, component, "coordinator"),
            type: "Opaque",
            data: pulumi.secret(
                pulumi.all([request.keystore.base64, etc.secretFiles]).apply(([keystore, secretFiles]) => ({
                    [request.keystore.file]: keystore,
                    ...Object.fromEntries(Object.entries(secretFiles).map(([file, text]) => [file, Buffer.from(text).toString("base64")])),
                })),
            ),
        },
        cluster.options(opts),
    );

    // A digest reveals nothing of what it covers; kept secret, it would hide the whole pod spec in every diff.
    const checksum = (...parts: pulumi.Input<unknown>[]) => pulumi.unsecret(pulumi.all(parts).apply(values => shortDigest(JSON.stringify(values))));
    const annotations = (config: pulumi.Input<Record<string, string>>) => ({
        "checksum/config": checksum(config),
        "checksum/catalog": checksum(catalogFiles),
        "checksum/secrets": checksum(request.env, request.keystore.base64, passwordDb, request.accessRules),
    });
    const heap = request.maxHeap;
    const trinoContainer = (mounts: { name: string; mountPath: string; readOnly?: boolean }[], ports: { name: string; containerPort: number }[]) => ({
        name: "trino",
        image: image,
        ports,
        envFrom: [{ secretRef: { name: env.metadata.name } }],
        volumeMounts: [...mounts, { name: "data", mountPath: node.dataDir }],
        // A first start on a busy node can take minutes; liveness only begins once it is over.
        startupProbe: { exec: { command: ["/usr/lib/trino/bin/health-check"] }, periodSeconds: 5, failureThreshold: 120 },
        readinessProbe: { exec: { command: ["/usr/lib/trino/bin/health-check"] }, periodSeconds: 5 },
        livenessProbe: { exec: { command: ["/usr/lib/trino/bin/health-check"] }, periodSeconds: 10, failureThreshold: 6 },
        resources: resources(RESOURCE_SIZES.trino(heap)),
    });
    const coordinatorAccount = workloadServiceAccount(cluster, `${component}-coordinator`, component, "coordinator", opts);
    const workerAccount = workloadServiceAccount(cluster, `${component}-worker`, component, "worker", opts);
    const coordinatorLabels = cluster.labels(component, "coordinator");
    const coordinator = new k8s.apps.v1.Deployment(
        `${component}-coordinator`,
        {
            metadata: cluster.workloadMetadata(`${component}-coordinator`, component, "coordinator"),
            spec: {
                replicas: 1,
                selector: { matchLabels: coordinatorLabels },
                template: {
                    metadata: { labels: coordinatorLabels, annotations: annotations(coordinatorFiles) },
                    // The image's user is also the group that may read the Secret's files, which nobody else may.
                    spec: restrictedPod({
                        user: IMAGE_USERS.trino,
                        serviceAccountName: coordinatorAccount.metadata.name,
                        scratch: ["/tmp"],
                        containers: [
                            trinoContainer(
                                [
                                    { name: "config", mountPath: etcDir, readOnly: true },
                                    { name: "catalog", mountPath: `${etcDir}/catalog`, readOnly: true },
                                    { name: "secrets", mountPath: secretDir, readOnly: true },
                                ],
                                [
                                    { name: "https", containerPort: TRINO_HTTPS_PORT },
                                    { name: "http", containerPort: TRINO_HTTP_PORT },
                                ],
                            ),
                        ],
                        volumes: [
                            { name: "config", configMap: { name: coordinatorConfig.metadata.name } },
                            { name: "catalog", configMap: { name: catalogConfig.metadata.name } },
                            { name: "secrets", secret: { secretName: files.metadata.name, defaultMode: 0o440 } },
                            { name: "data", emptyDir: {} },
                        ],
                    }),
                },
            },
        },
        cluster.options(opts, env, files, coordinatorConfig, catalogConfig, coordinatorAccount),
    );
    const workerLabels = cluster.labels(component, "worker");
    const worker = new k8s.apps.v1.Deployment(
        `${component}-worker`,
        {
            metadata: cluster.workloadMetadata(`${component}-worker`, component, "worker"),
            spec: {
                // An autoscaler owns the count once there is one: the stack leaves it alone on every later up.
                ...(settings.autoscaling ? {} : { replicas: request.workers }),
                selector: { matchLabels: workerLabels },
                template: {
                    metadata: { labels: workerLabels, annotations: annotations(workerFiles) },
                    spec: restrictedPod({
                        user: IMAGE_USERS.trino,
                        serviceAccountName: workerAccount.metadata.name,
                        scratch: ["/tmp"],
                        containers: [
                            {
                                ...trinoContainer(
                                    [
                                        { name: "config", mountPath: etcDir, readOnly: true },
                                        { name: "catalog", mountPath: `${etcDir}/catalog`, readOnly: true },
                                    ],
                                    [{ name: "http", containerPort: TRINO_HTTP_PORT }],
                                ),
                                lifecycle: { preStop: { exec: { command: drainWorker(TRINO_HTTP_PORT, discoveryUri) } } },
                            },
                        ],
                        volumes: [
                            { name: "config", configMap: { name: workerConfig.metadata.name } },
                            { name: "catalog", configMap: { name: catalogConfig.metadata.name } },
                            { name: "data", emptyDir: {} },
                        ],
                        // Trino waits a grace period, then for its tasks, then a grace period again before it exits.
                        extra: { terminationGracePeriodSeconds: 2 * settings.workerGracePeriodSeconds + WORKER_DRAIN_SECONDS },
                    }),
                },
            },
        },
        cluster.options(opts, env, workerConfig, catalogConfig, workerAccount),
    );
    const nodes = TRINO_NODES.map(role => podsOf(cluster, role));
    // Every node talks to the others (the coordinator to itself too, through the Service), and to what its catalogs name.
    const trinoEgress = pulumi.output(request.catalogs).apply(catalogs => [{ peers: nodes, ports: tcp(TRINO_HTTP_PORT) }, ...catalogFlows(cluster, catalogs)]);
    workloadNetworkPolicy(
        cluster,
        `${component}-coordinator`,
        component,
        "coordinator",
        {
            ingress: [
                { peers: nodes, ports: tcp(TRINO_HTTP_PORT) },
                { peers: Object.values(TRINO_CLIENT_JOBS).map(role => podsOf(cluster, role)), ports: tcp(TRINO_HTTPS_PORT) },
                { peers: clientPeers(settings.clients), ports: tcp(TRINO_HTTPS_PORT) },
            ],
            egress: trinoEgress,
        },
        opts,
    );
    workloadNetworkPolicy(cluster, `${component}-worker`, component, "worker", { ingress: [{ peers: nodes, ports: tcp(TRINO_HTTP_PORT) }], egress: trinoEgress }, opts);
    disruptionBudget(cluster, `${component}-coordinator`, component, "coordinator", { minAvailable: 1 }, opts);
    if (settings.autoscaling) {
        workerAutoscaler(cluster, `${component}-worker`, component, worker.metadata.name, settings.autoscaling, opts);
    }
    if ((settings.autoscaling?.max ?? request.workers) >= 2) {
        disruptionBudget(cluster, `${component}-worker`, component, "worker", { maxUnavailable: 1 }, opts);
    }
    const service = new k8s.core.v1.Service(
        `${component}-service`,
        {
            metadata: cluster.metadata(TRINO_SERVICE, component, "coordinator"),
            spec: {
                selector: coordinatorLabels,
                ports: [
                    { name: "https", port: TRINO_HTTPS_PORT, targetPort: TRINO_HTTPS_PORT },
                    { name: "http", port: TRINO_HTTP_PORT, targetPort: TRINO_HTTP_PORT },
                ],
            },
        },
        cluster.options(opts),
    );
    const coordinatorReady = cluster.rollout(coordinator, "Deployment", component, `${component}-coordinator`, opts);
    const workersReady = cluster.rollout(worker, "Deployment", component, `${component}-worker`, opts);
    const host = pulumi.all([service.metadata.name, coordinatorReady.urn]).apply(([serviceName]) => cluster.serviceHost(serviceName));
    const port = pulumi.output(TRINO_HTTPS_PORT);
    const tunnel = cluster.tunnel(service.metadata.name, TRINO_HTTPS_PORT);
    // What runs is read from the coordinator once every node has joined; a render has only the image to go by.
    const running = tunnel
        ? new TrinoNodes(
              `${component}-nodes`,
              {
                  access: pulumi
                      .all([tunnel, request.caCert, pulumi.output(request.probe)])
                      .apply(([forward, caCert, probe]) => ({ connection: { url: `https://${forward.service}:${TRINO_HTTPS_PORT}`, user: probe.user, password: probe.password, caCert }, tunnel: forward })),
                  where: `namespace ${cluster.namespace}`,
                  nodes: 1 + request.workers,
                  rollout: checksum(image, request.workers, coordinatorFiles, workerFiles, catalogFiles, request.env, request.keystore.base64, passwordDb),
                  component,
              },
              { ...opts, dependsOn: [coordinatorReady, workersReady, service] },
          )
        : undefined;
    return {
        url: host.apply(h => `https://${h}:${TRINO_HTTPS_PORT}`),
        host,
        port,
        meshHost: host,
        meshPort: port,
        version: running ? running.version : coordinatorReady.urn.apply(() => imageTag(image) ?? ""),
        // Through a port-forward to the coordinator's Service: its address is the cluster's own.
        access: connection => pulumi.all([connection, tunnel]).apply(([c, forward]) => (forward ? { connection: c, tunnel: forward } : { connection: c })),
        resource: running ?? coordinatorReady,
    };
}
