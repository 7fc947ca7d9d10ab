import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { CHECK_ENV, renderBucketScript, renderCheckScript, renderDbtScript, renderDomainSetupScript, renderMetastoreSetupScript, renderStatementFile, SETUP_ENV } from "../../catalogs/jobs";
import { renderEtc, renderWorkerEtc, S3Warehouse } from "../../catalogs/trino";
import { ImageKey, PlatformName } from "../../config";
import { DataSource, domainRows } from "../../lib/dataset";
import { projectFiles, shortDigest } from "../../lib/digest";
import { DOMAINS, DomainSpec } from "../../lib/domains";
import { mismatchQuery } from "../../lib/reconcile";
import { dataScriptSql } from "../../lib/sql";
import { GeneratedPassword } from "../../resources/password";
import {
    DatabaseServer,
    DatabaseServerRequest,
    DbtRun,
    DbtRunRequest,
    DomainSetup,
    DomainSetupRequest,
    InsightsCheckRequest,
    InsightsCheckRun,
    MetastoreSetupRequest,
    Platform,
    TrinoServer,
    TrinoServerRequest,
    Warehouse,
} from "../platform";
import { ENGINE_IMAGES } from "../shared/engineImages";
import { assertPinnedTrinoImage, imageTag, withDependencies } from "../shared/options";
import { resources, ResourceSize, RESOURCE_SIZES } from "./sizing";

/*
 * The mesh in one namespace of a cluster. Servers are StatefulSets with their own volume claims;
 * Trino is laid out as the official Helm chart lays it out (coordinator, worker and catalog
 * ConfigMaps with checksum annotations so that a change rolls the pods); steps that must happen
 * inside a database or against Trino run as Jobs, because the deploying machine cannot reach the
 * cluster's services. Credentials live in Secrets only: ConfigMaps, environment literals and
 * commands hold none.
 */

export interface KubernetesPlatformArgs {
    stack: string;
    namespace: string;
    images: Record<ImageKey, string>;
    /** Write manifests to this folder instead of applying them. */
    renderYamlTo?: string;
    keytool: string;
    trinoVersion: string;
    /** The domains' rows; checked before any resource, since each must fit its setup Job's ConfigMap. */
    dataSource: DataSource;
}

/** ConfigMaps hold at most 1 MiB; domain rows beyond this belong on a platform that loads over TCP. */
const CONFIGMAP_DATA_LIMIT = 900 * 1024;
/** Trino's ports inside the cluster; users reach HTTPS through the Service (e.g. `kubectl port-forward`). */
const TRINO_HTTPS_PORT = 8443;
const TRINO_HTTP_PORT = 8080;
/** The coordinator's Service; the certificate names it, so it is fixed rather than derived. */
const TRINO_SERVICE = "trino";
const DBT_PASSWORD_ENV = "DATAMESH_DBT_PASSWORD";

/** The names the cluster's own Jobs use for the coordinator's Service; its certificate must cover them. */
export function kubernetesTrinoHostnames(namespace: string): string[] {
    return [TRINO_SERVICE, `${TRINO_SERVICE}.${namespace}`, `${TRINO_SERVICE}.${namespace}.svc`, `${TRINO_SERVICE}.${namespace}.svc.cluster.local`];
}

/**
 * A domain's rows as the SQL its setup Job runs, refused as soon as it outgrows a ConfigMap, so an
 * oversized data set fails fast and names the key to change.
 */
function clusterDomainData(domain: DomainSpec, source: DataSource): { sql: string; rowCount: number } {
    let rowCount = 0;
    let bytes = 0;
    const counted = function* () {
        for (const row of domainRows(domain, source)) {
            rowCount++;
            bytes += row.reduce<number>((sum, value) => sum + Buffer.byteLength(String(value)) + 4, 4);
            if (bytes > CONFIGMAP_DATA_LIMIT) {
                throw new Error(
                    `${domain.name}: its rows take more than the ${CONFIGMAP_DATA_LIMIT / 1024} KiB a ConfigMap holds (reached at row ${rowCount}); ` +
                        `lower datamesh:scale (or the files in datamesh:dataDir), or use platform local or docker, which load over TCP`,
                );
            }
            yield row;
        }
    };
    const sql = dataScriptSql(domain.engine, domain, counted());
    if (Buffer.byteLength(sql) > CONFIGMAP_DATA_LIMIT) {
        throw new Error(`${domain.name}: its rows take ${Math.ceil(Buffer.byteLength(sql) / 1024)} KiB, more than a ConfigMap holds; lower datamesh:scale, or use platform local or docker`);
    }
    return { sql, rowCount };
}

export class KubernetesPlatform implements Platform {
    readonly name: PlatformName = "kubernetes";
    readonly keytool: string;
    readonly trinoHostnames: string[];
    private readonly provider: k8s.Provider;
    private readonly namespace: k8s.core.v1.Namespace;
    private readonly ns: string;
    /** Domains' rows as their setup Jobs' SQL, rendered once: the constructor checks them before any resource, the setup uses them. */
    private readonly domainData = new Map<string, { sql: string; rowCount: number }>();

    constructor(private readonly args: KubernetesPlatformArgs) {
        assertPinnedTrinoImage(args.images.trinoImage, args.trinoVersion);
        for (const domain of DOMAINS) {
            this.renderedData(domain, args.dataSource);
        }
        this.keytool = args.keytool;
        this.ns = args.namespace;
        this.trinoHostnames = kubernetesTrinoHostnames(this.ns);
        this.provider = new k8s.Provider("kubernetes-provider", args.renderYamlTo ? { renderYamlToDirectory: args.renderYamlTo } : {});
        this.namespace = new k8s.core.v1.Namespace(
            "kubernetes-namespace",
            { metadata: { name: this.ns, labels: { "app.kubernetes.io/part-of": "datamesh", "app.kubernetes.io/instance": args.stack } } },
            { provider: this.provider },
        );
    }

    private renderedData(domain: DomainSpec, source: DataSource): { sql: string; rowCount: number } {
        const key = `${domain.name}\0${JSON.stringify(source)}`;
        const rendered = this.domainData.get(key) ?? clusterDomainData(domain, source);
        this.domainData.set(key, rendered);
        return rendered;
    }

    private serviceHost(service: string): string {
        return `${service}.${this.ns}.svc.cluster.local`;
    }

    /** The component's options, with this cluster's provider and its namespace created first. */
    private inCluster(opts: pulumi.CustomResourceOptions, ...after: pulumi.Input<pulumi.Resource>[]): pulumi.CustomResourceOptions {
        return { ...withDependencies(opts, this.namespace, ...after), provider: this.provider };
    }

    private labels(component: string, role: string): Record<string, string> {
        return {
            "app.kubernetes.io/part-of": "datamesh",
            "app.kubernetes.io/instance": this.args.stack,
            "app.kubernetes.io/name": component,
            "app.kubernetes.io/component": role,
        };
    }

    private metadata(name: string, component: string, role: string) {
        return { name, namespace: this.ns, labels: this.labels(component, role) };
    }

    private secret(name: string, component: string, role: string, values: pulumi.Input<Record<string, pulumi.Input<string>>>, opts: pulumi.CustomResourceOptions): k8s.core.v1.Secret {
        return new k8s.core.v1.Secret(name, { metadata: this.metadata(name, component, role), type: "Opaque", stringData: pulumi.secret(values) }, this.inCluster(opts));
    }

    /** A Job that runs a script from a ConfigMap with its secrets from a Secret; a new name for every new content re-runs it. */
    private job(
        name: string,
        spec: {
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
        },
        opts: pulumi.CustomResourceOptions,
    ): k8s.batch.v1.Job {
        const configMap = new k8s.core.v1.ConfigMap(name, { metadata: this.metadata(name, spec.component, spec.role), data: spec.files }, this.inCluster(opts));
        const secret = this.secret(name, spec.component, spec.role, spec.secrets, opts);
        const jobName = pulumi.all([spec.runKey, spec.files]).apply(([key, files]) => `${name}-${shortDigest(key, JSON.stringify(files)).slice(0, 10)}`);
        const mountPath = `/etc/datamesh/${spec.role}`;
        return new k8s.batch.v1.Job(
            name,
            {
                metadata: { ...this.metadata(name, spec.component, spec.role), name: jobName },
                spec: {
                    backoffLimit: 2,
                    activeDeadlineSeconds: 1800,
                    template: {
                        metadata: { labels: this.labels(spec.component, spec.role) },
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
            this.inCluster(opts, configMap, secret, ...(spec.tree ? [spec.tree.configMap] : [])),
        );
    }

    /**
     * One server pod with its own volume claim, as a single-replica StatefulSet, and the Service in
     * front of it. Created means scheduled; the provider waits for the pod to be ready.
     */
    private singleServer(
        name: string,
        spec: {
            component: string;
            role: string;
            container: Omit<k8s.types.input.core.v1.Container, "ports" | "volumeMounts" | "resources">;
            port: { name: string; number: number };
            dataDir: string;
            storage: string;
            size: ResourceSize;
        },
        opts: pulumi.CustomResourceOptions,
    ): { statefulSet: k8s.apps.v1.StatefulSet; service: k8s.core.v1.Service } {
        const labels = this.labels(spec.component, spec.role);
        const statefulSet = new k8s.apps.v1.StatefulSet(
            name,
            {
                metadata: this.metadata(name, spec.component, spec.role),
                spec: {
                    serviceName: name,
                    replicas: 1,
                    selector: { matchLabels: labels },
                    template: {
                        metadata: { labels },
                        spec: {
                            containers: [
                                {
                                    ...spec.container,
                                    ports: [{ name: spec.port.name, containerPort: spec.port.number }],
                                    volumeMounts: [{ name: "data", mountPath: spec.dataDir }],
                                    resources: resources(spec.size),
                                },
                            ],
                        },
                    },
                    volumeClaimTemplates: [{ metadata: { name: "data" }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: spec.storage } } } }],
                },
            },
            this.inCluster(opts),
        );
        const service = new k8s.core.v1.Service(
            name,
            {
                metadata: this.metadata(name, spec.component, spec.role),
                spec: { selector: labels, ports: [{ name: spec.port.name, port: spec.port.number, targetPort: spec.port.number }] },
            },
            this.inCluster(opts),
        );
        return { statefulSet, service };
    }

    databaseServer(name: string, request: DatabaseServerRequest, opts: pulumi.CustomResourceOptions): DatabaseServer {
        const engine = ENGINE_IMAGES[request.engine];
        const postgres = request.engine === "postgresql";
        const adminSecret = this.secret(`${name}-admin`, request.component, "database", { password: request.adminPassword }, opts);
        const { statefulSet, service } = this.singleServer(
            name,
            {
                component: request.component,
                role: "database",
                container: {
                    name: request.engine,
                    image: this.args.images[engine.image],
                    env: [
                        { name: engine.adminPasswordEnv, valueFrom: { secretKeyRef: { name: adminSecret.metadata.name, key: "password" } } },
                        // A volume's root holds lost+found, which initdb refuses as a data directory.
                        ...(postgres ? [{ name: "PGDATA", value: `${engine.dataDir}/pgdata` }] : []),
                    ],
                    readinessProbe: postgres ? { exec: { command: ["pg_isready", "-U", engine.adminUser] }, periodSeconds: 5 } : { tcpSocket: { port: engine.port }, periodSeconds: 5 },
                },
                port: { name: "sql", number: engine.port },
                dataDir: engine.dataDir,
                storage: "1Gi",
                size: RESOURCE_SIZES.database,
            },
            withDependencies(opts, adminSecret),
        );
        const host = pulumi.all([service.metadata.name, statefulSet.id]).apply(([serviceName]) => this.serviceHost(serviceName));
        return {
            host,
            port: pulumi.output(engine.port),
            meshHost: host,
            meshPort: pulumi.output(engine.port),
            adminUser: pulumi.output(engine.adminUser),
            adminPassword: pulumi.secret(pulumi.output(request.adminPassword)),
            resource: statefulSet,
        };
    }

    domainSetup(name: string, request: DomainSetupRequest, opts: pulumi.CustomResourceOptions): DomainSetup {
        const { domain } = request;
        const { sql: data, rowCount } = this.renderedData(domain, request.source);
        const job = this.job(
            `${name}-setup`,
            {
                component: request.component,
                role: "setup",
                image: this.args.images[ENGINE_IMAGES[domain.engine].image],
                files: pulumi.all([request.owner.user, request.reader.user]).apply(([ownerUser, readerUser]) => ({
                    "setup.sh": renderDomainSetupScript({ engine: domain.engine, domain, ownerUser, readerUser, dataFile: "/etc/datamesh/setup/data.sql" }),
                    "data.sql": data,
                })),
                script: "setup.sh",
                secrets: {
                    [SETUP_ENV.adminPassword]: request.server.adminPassword,
                    [SETUP_ENV.ownerPassword]: request.owner.password,
                    [SETUP_ENV.readerPassword]: request.reader.password,
                },
                env: { [SETUP_ENV.host]: request.server.meshHost, [SETUP_ENV.port]: request.server.meshPort.apply(String), [SETUP_ENV.adminUser]: request.server.adminUser },
                size: RESOURCE_SIZES.job,
                runKey: request.fingerprint,
            },
            // The rows live in the server's volume claim, which stays protected; a Job is one run, and new data replaces it.
            { ...opts, protect: false, dependsOn: [request.server.resource] },
        );
        return { database: job.id.apply(() => domain.name), rowCount: job.id.apply(() => rowCount), resource: job };
    }

    metastoreSetup(name: string, request: MetastoreSetupRequest, opts: pulumi.CustomResourceOptions): pulumi.CustomResource {
        return this.job(
            name,
            {
                component: request.component,
                role: "setup",
                image: this.args.images.postgresImage,
                files: pulumi.output(request.connector.user).apply(connectorUser => ({ "setup.sh": renderMetastoreSetupScript({ database: request.database, connectorUser }) })),
                script: "setup.sh",
                secrets: { [SETUP_ENV.adminPassword]: request.server.adminPassword, [SETUP_ENV.connectorPassword]: request.connector.password },
                env: { [SETUP_ENV.host]: request.server.meshHost, [SETUP_ENV.port]: request.server.meshPort.apply(String), [SETUP_ENV.adminUser]: request.server.adminUser },
                size: RESOURCE_SIZES.job,
                runKey: request.database,
            },
            { ...opts, dependsOn: [request.server.resource] },
        );
    }

    warehouse(name: string, opts: pulumi.CustomResourceOptions): Warehouse {
        const accessKey = new GeneratedPassword(`${name}-access-key`, { length: 20 }, opts);
        const secretKey = new GeneratedPassword(`${name}-secret-key`, { length: 40 }, opts);
        const component = name.split("-")[0];
        const host = this.serviceHost(name);
        const endpoint = `http://${host}:9000`;
        const credentials = this.secret(
            name,
            component,
            "warehouse",
            pulumi.all([accessKey.value, secretKey.value]).apply(([user, password]) => ({
                MINIO_ROOT_USER: user,
                MINIO_ROOT_PASSWORD: password,
                MC_HOST_warehouse: `http://${user}:${password}@${host}:9000`,
            })),
            opts,
        );
        const minioEnv = (variable: string) => ({ name: variable, valueFrom: { secretKeyRef: { name: credentials.metadata.name, key: variable } } });
        const { statefulSet: store, service } = this.singleServer(
            name,
            {
                component,
                role: "warehouse",
                container: {
                    name: "minio",
                    image: this.args.images.minioImage,
                    args: ["server", "/data"],
                    env: [minioEnv("MINIO_ROOT_USER"), minioEnv("MINIO_ROOT_PASSWORD")],
                    readinessProbe: { httpGet: { path: "/minio/health/ready", port: 9000 }, periodSeconds: 5 },
                },
                port: { name: "s3", number: 9000 },
                dataDir: "/data",
                storage: "5Gi",
                size: RESOURCE_SIZES.objectStore,
            },
            withDependencies(opts, credentials),
        );
        const bucket = new k8s.batch.v1.Job(
            `${name}-bucket`,
            {
                metadata: this.metadata(`${name}-bucket`, component, "warehouse"),
                spec: {
                    backoffLimit: 4,
                    template: {
                        metadata: { labels: this.labels(component, "warehouse-bucket") },
                        spec: {
                            restartPolicy: "Never",
                            containers: [
                                {
                                    name: "bucket",
                                    image: this.args.images.minioClientImage,
                                    command: ["/bin/sh", "-c", renderBucketScript(name)],
                                    env: [minioEnv("MC_HOST_warehouse")],
                                    resources: resources(RESOURCE_SIZES.job),
                                },
                            ],
                        },
                    },
                },
            },
            this.inCluster(opts, store, service),
        );
        const storage: pulumi.Output<S3Warehouse> = bucket.id.apply(() => ({
            kind: "s3" as const,
            endpoint,
            region: "us-east-1",
            bucket: name,
            accessKeyEnv: "WAREHOUSE_ACCESS_KEY",
            secretKeyEnv: "WAREHOUSE_SECRET_KEY",
        }));
        const trinoEnv = pulumi.secret(pulumi.all([accessKey.value, secretKey.value]).apply(([user, password]): Record<string, string> => ({ WAREHOUSE_ACCESS_KEY: user, WAREHOUSE_SECRET_KEY: password })));
        return { storage, trinoEnv, resource: bucket };
    }

    trinoServer(_name: string, request: TrinoServerRequest, opts: pulumi.CustomResourceOptions): TrinoServer {
        const component = request.component;
        const etcDir = "/etc/trino";
        const secretDir = `${etcDir}/secrets`;
        const node = { environment: "datamesh", dataDir: "/data/trino", pluginDir: "/usr/lib/trino/plugin" };
        const discoveryUri = `http://${this.serviceHost(TRINO_SERVICE)}:${TRINO_HTTP_PORT}`;
        const etc = pulumi.all([request.catalogs, request.users, request.accessRules]).apply(([catalogs, users, accessRules]) =>
            renderEtc({
                node,
                coordinator: {
                    httpsPort: TRINO_HTTPS_PORT,
                    internalPort: TRINO_HTTP_PORT,
                    maxHeap: request.maxHeap,
                    etcDir,
                    secretDir,
                    keystoreFile: request.keystore.file,
                    keystorePasswordEnv: request.keystore.passwordEnv,
                    sharedSecretEnv: request.sharedSecretEnv,
                    discoveryUri,
                    includeCoordinator: request.workers === 0,
                },
                catalogs,
                users,
                accessRules,
            }),
        );
        const catalogFiles = etc.apply(files => Object.fromEntries(Object.entries(files).filter(([file]) => file.startsWith("catalog/")).map(([file, text]) => [file.slice("catalog/".length), text])));
        const coordinatorFiles = etc.apply(files => Object.fromEntries(Object.entries(files).filter(([file]) => !file.startsWith("catalog/") && file !== "password.db")));
        const workerFiles = renderWorkerEtc({ node, worker: { httpPort: TRINO_HTTP_PORT, discoveryUri, maxHeap: request.maxHeap, sharedSecretEnv: request.sharedSecretEnv } });

        const configMap = (role: string, data: pulumi.Input<Record<string, string>>) =>
            new k8s.core.v1.ConfigMap(`${component}-${role}`, { metadata: this.metadata(`${component}-${role}`, component, role), data }, this.inCluster(opts));
        const coordinatorConfig = configMap("coordinator", coordinatorFiles);
        const workerConfig = configMap("worker", workerFiles);
        const catalogConfig = configMap("catalog", catalogFiles);
        const env = this.secret(`${component}-env`, component, "coordinator", request.env, opts);
        const passwordDb = etc.apply(files => files["password.db"]);
        const files = new k8s.core.v1.Secret(
            `${component}-files`,
            {
                metadata: this.metadata(`${component}-files`, component, "coordinator"),
                type: "Opaque",
                data: pulumi.secret(
                    pulumi.all([request.keystore.base64, passwordDb]).apply(([keystore, db]) => ({ [request.keystore.file]: keystore, "password.db": Buffer.from(db).toString("base64") })),
                ),
            },
            this.inCluster(opts),
        );

        // A digest reveals nothing of what it covers; kept secret, it would hide the whole pod spec in every diff.
        const checksum = (...parts: pulumi.Input<unknown>[]) => pulumi.unsecret(pulumi.all(parts).apply(values => shortDigest(JSON.stringify(values))));
        const annotations = (config: pulumi.Input<Record<string, string>>) => ({
            "checksum/config": checksum(config),
            "checksum/catalog": checksum(catalogFiles),
            "checksum/secrets": checksum(request.env, request.keystore.base64, passwordDb),
        });
        const heap = request.maxHeap;
        const trinoContainer = (mounts: { name: string; mountPath: string; readOnly?: boolean }[], ports: { name: string; containerPort: number }[]) => ({
            name: "trino",
            image: this.args.images.trinoImage,
            ports,
            envFrom: [{ secretRef: { name: env.metadata.name } }],
            volumeMounts: [...mounts, { name: "data", mountPath: node.dataDir }],
            readinessProbe: { exec: { command: ["/usr/lib/trino/bin/health-check"] }, initialDelaySeconds: 10, periodSeconds: 5 },
            livenessProbe: { exec: { command: ["/usr/lib/trino/bin/health-check"] }, initialDelaySeconds: 60, periodSeconds: 10, failureThreshold: 6 },
            resources: resources(RESOURCE_SIZES.trino(heap)),
            securityContext: { allowPrivilegeEscalation: false },
        });
        const coordinatorLabels = this.labels(component, "coordinator");
        const coordinator = new k8s.apps.v1.Deployment(
            `${component}-coordinator`,
            {
                metadata: this.metadata(`${component}-coordinator`, component, "coordinator"),
                spec: {
                    replicas: 1,
                    selector: { matchLabels: coordinatorLabels },
                    template: {
                        metadata: { labels: coordinatorLabels, annotations: annotations(coordinatorFiles) },
                        spec: {
                            // The image runs Trino as uid/gid 1000; the group lets it read the Secret's files, which nobody else may.
                            securityContext: { fsGroup: 1000 },
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
                        },
                    },
                },
            },
            this.inCluster(opts, env, files, coordinatorConfig, catalogConfig),
        );
        const workerLabels = this.labels(component, "worker");
        new k8s.apps.v1.Deployment(
            `${component}-worker`,
            {
                metadata: this.metadata(`${component}-worker`, component, "worker"),
                spec: {
                    replicas: request.workers,
                    selector: { matchLabels: workerLabels },
                    template: {
                        metadata: { labels: workerLabels, annotations: annotations(workerFiles) },
                        spec: {
                            containers: [
                                trinoContainer(
                                    [
                                        { name: "config", mountPath: etcDir, readOnly: true },
                                        { name: "catalog", mountPath: `${etcDir}/catalog`, readOnly: true },
                                    ],
                                    [{ name: "http", containerPort: TRINO_HTTP_PORT }],
                                ),
                            ],
                            volumes: [
                                { name: "config", configMap: { name: workerConfig.metadata.name } },
                                { name: "catalog", configMap: { name: catalogConfig.metadata.name } },
                                { name: "data", emptyDir: {} },
                            ],
                        },
                    },
                },
            },
            this.inCluster(opts, env, workerConfig, catalogConfig),
        );
        const service = new k8s.core.v1.Service(
            `${component}-service`,
            {
                metadata: this.metadata(TRINO_SERVICE, component, "coordinator"),
                spec: {
                    selector: coordinatorLabels,
                    ports: [
                        { name: "https", port: TRINO_HTTPS_PORT, targetPort: TRINO_HTTPS_PORT },
                        { name: "http", port: TRINO_HTTP_PORT, targetPort: TRINO_HTTP_PORT },
                    ],
                },
            },
            this.inCluster(opts),
        );
        const host = pulumi.all([service.metadata.name, coordinator.id]).apply(([serviceName]) => this.serviceHost(serviceName));
        const port = pulumi.output(TRINO_HTTPS_PORT);
        return {
            url: host.apply(h => `https://${h}:${TRINO_HTTPS_PORT}`),
            host,
            port,
            meshHost: host,
            meshPort: port,
            version: coordinator.id.apply(() => imageTag(this.args.images.trinoImage) ?? ""),
            resource: coordinator,
        };
    }

    dbtRun(name: string, request: DbtRunRequest, opts: pulumi.CustomResourceOptions): DbtRun {
        const projectDir = "/etc/datamesh/dbt-project";
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
                metadata: this.metadata(`${name}-project`, request.component, "dbt"),
                data: Object.fromEntries(files.map(f => [projectKey(f.relativePath), f.content.toString("utf8")])),
            },
            this.inCluster(opts),
        );
        const profile = pulumi
            .all([request.trino.host, request.trino.port])
            .apply(([host, port]) => request.profile({ host, port, caCertFile: "/etc/datamesh/dbt/trino-ca.pem", passwordEnv: DBT_PASSWORD_ENV }));
        const job = this.job(
            name,
            {
                component: request.component,
                role: "dbt",
                image: this.args.images.dbtImage,
                files: pulumi.all([profile, request.trino.caCert]).apply(([profileText, caCert]) => ({
                    "profiles.yml": profileText,
                    "trino-ca.pem": caCert,
                    "run.sh": renderDbtScript({ projectDir, profilesDir: "/etc/datamesh/dbt", workDir: "/tmp/dbt", vars: request.vars }),
                })),
                script: "run.sh",
                secrets: { [DBT_PASSWORD_ENV]: request.password },
                // dbt would otherwise write its anonymous user id into the read-only profile folder and call home.
                env: { DBT_SEND_ANONYMOUS_USAGE_STATS: "false" },
                size: RESOURCE_SIZES.dbt,
                runKey: pulumi.all([request.projectDigest, request.dataFingerprint]).apply(parts => parts.join(":")),
                tree: { configMap: project, mountPath: projectDir, items: files.map(f => ({ key: projectKey(f.relativePath), path: f.relativePath })) },
            },
            opts,
        );
        return { runId: job.metadata.name, summary: job.metadata.name.apply(jobName => `dbt build ran as Job ${this.ns}/${jobName}`), resource: job };
    }

    insightsCheck(name: string, request: InsightsCheckRequest, opts: pulumi.CustomResourceOptions): InsightsCheckRun {
        const mountPath = "/etc/datamesh/check";
        const job = this.job(
            name,
            {
                component: request.component,
                role: "check",
                image: this.args.images.trinoImage,
                files: pulumi.output(request.trino.caCert).apply(caCert => ({
                    "check.sh": renderCheckScript({ queryFile: `${mountPath}/mismatches.sql`, caCertFile: `${mountPath}/trino-ca.pem` }),
                    "mismatches.sql": renderStatementFile(mismatchQuery(request.targets)),
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
            },
            opts,
        );
        return { summary: job.metadata.name.apply(jobName => `checked by Job ${this.ns}/${jobName}`), resource: job };
    }
}
