import { TrinoNodes } from "../../resources/trinoNodes";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { renderDbtScript, renderDocsScript } from "../../catalogs/jobs";
import { NodeSpec } from "../../catalogs/trino";
import { trinoEtc } from "../shared/trinoEtc";
import { ImageKey, PipSettings, PlatformName } from "../../config";
import { DBT_PASSWORD_ENV, dbtProfile } from "../shared/dbtProfile";
import { projectFiles } from "../../lib/digest";
import { Engine } from "../../lib/domains";
import {
    DatabaseServer,
    DatabaseServerRequest,
    DbtRun,
    DbtRunRequest,
    DocsSite,
    DocsSiteRequest,
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
import { docsServerCommand } from "../shared/docsServer";
import { ENGINE_IMAGES } from "../shared/engineImages";
import { assertPinnedTrinoImage, directAccess, withDependencies } from "../shared/options";
import { domainSetupOverTcp, insightsCheckInProcess, metastoreSetupOverTcp } from "../shared/overTcp";
import { serverTlsArgs, StackServerTls } from "../shared/serverTls";
import { containerHealthcheck, HealthcheckTiming } from "./healthcheck";

/** The dbt toolchain image this platform builds from dbt/Dockerfile on the engine itself; a local name, never pushed. */
const DOCKER_DBT_IMAGE = "datamesh/dbt-trino:1.11.0";

/*
 * The mesh as containers on one Docker host, on a network of its own. Servers publish their ports
 * on 127.0.0.1 only, so the deploying process sets up the domains and runs the check over TCP as
 * the local platform does; inside the network, Trino and dbt reach the servers by alias. Secrets
 * reach a container only as uploaded files: environment variables, commands and labels show in
 * `docker inspect`, files inside the container do not.
 *
 * A domain stack's network holds its server alone, until the mesh's Trino containers join it: they
 * are the only other containers that can reach the server, by its container name, which is unique
 * on the host where an alias could clash with the mesh's own.
 */

export interface DockerPlatformArgs {
    stack: string;
    images: Record<ImageKey, string>;
    /** Build arguments for pip while the dbt image builds. */
    pip: PipSettings;
    /** The network the dbt image's RUN steps use (an engine without a default bridge needs host); Docker's default when unset. */
    buildNetwork?: string;
    /** The folder of the stack's own files on the deploying machine, where the build reads pip's index URL from. */
    stateDir: string;
    keytool: string;
    /** The Trino release the stack pins; the Trino image's tag must name it. */
    trinoVersion: string;
    /** A domain stack's platform: its server's network and container name are published for the mesh's Trino. */
    domainStack: boolean;
}

type ServerImageKey = "postgresImage" | "mariadbImage" | "trinoImage";

/**
 * Both images run a server without networking while they initialize; these probes pass only once
 * the real server is up. pg_isready over TCP needs no login, so TLS-only rules do not stop it; the
 * image's own healthcheck.sh asks over the socket whether networking is on (the official image's;
 * the test stand-in's logs in over TCP, where Debian's MariaDB client speaks TLS by default), so
 * require_secure_transport, which refuses a login over TCP in clear, does not stop it either.
 */
const HEALTHCHECKS: Record<Engine, string[]> = {
    postgresql: ["CMD", "pg_isready", "--quiet", "--host=127.0.0.1", "--port=5432", "--username=postgres"],
    mariadb: ["CMD", "healthcheck.sh", "--connect", "--innodb_initialized"],
};
const DATABASE_PROBE: HealthcheckTiming = { intervalSeconds: 2, timeoutSeconds: 5, startPeriodSeconds: 120, retries: 5 };
const DOCS_SITE_PROBE: HealthcheckTiming = { intervalSeconds: 2, timeoutSeconds: 5, startPeriodSeconds: 30, retries: 5 };
const TRINO_PROBE: HealthcheckTiming = { intervalSeconds: 5, timeoutSeconds: 5, startPeriodSeconds: 300, retries: 3 };
const ADMIN_PASSWORD_FILE = "/run/secrets/admin-password";

/*
 * A server that serves TLS: its certificate and PostgreSQL's client rules are uploaded readable by
 * all, its key readable by root alone (Docker writes every upload as root). Before the image's own
 * entrypoint runs, the container's shell installs a copy of the key that the server's account owns,
 * mode 0600: PostgreSQL refuses a key that others may read, and neither server reads root's.
 */
const SERVER_TLS_DIR = "/etc/datamesh/tls";
export const SERVER_TLS_FILES = {
    certificate: `${SERVER_TLS_DIR}/server.crt`,
    key: `${SERVER_TLS_DIR}/server.key`,
    uploadedKey: `${SERVER_TLS_DIR}/upload/server.key`,
    hba: `${SERVER_TLS_DIR}/pg_hba.conf`,
};
/**
 * PostgreSQL's client rules with TLS: over TCP, TLS and a password alone. The socket inside the
 * container, which the official image's entrypoint uses while it initializes the data folder,
 * admits each account as the operating system's account of the same name only.
 */
export const DOCKER_POSTGRES_HBA = "hostssl all all all scram-sha-256\nlocal all all peer\n";

/** How each image runs its server with the certificate, and the account the server runs as. */
const TLS_SERVERS: Record<Engine, { account: string; command: string[] }> = {
    postgresql: {
        account: "postgres",
        command: ["postgres", ...serverTlsArgs("postgresql", SERVER_TLS_FILES)],
    },
    mariadb: {
        account: "mysql",
        command: ["mariadbd", ...serverTlsArgs("mariadb", SERVER_TLS_FILES)],
    },
};

/** The container's entrypoint with TLS: install the key for the server's account, then run the image's own entrypoint with the command. */
function tlsEntrypoint(account: string): string[] {
    const install = `install -o ${account} -g ${account} -m 0600 ${SERVER_TLS_FILES.uploadedKey} ${SERVER_TLS_FILES.key}`;
    return ["/bin/sh", "-c", `${install} && exec docker-entrypoint.sh "$@"`, "sh"];
}

/** The coordinator's alias on the network; the certificate names it, so it is fixed rather than derived. */
const TRINO_ALIAS = "trino";
const TRINO_ETC = "/etc/trino";
const TRINO_SECRETS_FILE = `${TRINO_ETC}/secrets.env`;
const TRINO_NODE: NodeSpec = { environment: "datamesh", dataDir: "/data/trino", pluginDir: "/usr/lib/trino/plugin" };
const WAREHOUSE_DIR = "/data/warehouse";

const DBT_DIRS = { project: "/dbt/project", profiles: "/dbt/profile", work: "/dbt/work" };
const DBT_SCRIPT_FILE = "/dbt/run.sh";
const DBT_SECRETS_FILE = "/dbt/secrets.env";
const DOCS_SITE_DIR = "/site";
const DOCS_SITE_PORT = 8080;

/** A shell command that exports the variables in an uploaded file, then replaces itself with `command`. */
function withSecrets(secretsFile: string, command: string): string[] {
    return ["/bin/sh", "-c", `set -a; . ${secretsFile}; set +a; exec ${command}`];
}

/** `KEY='value'` lines for `withSecrets`; single quotes keep the shell from expanding anything in a value. */
function renderEnvFile(env: Record<string, string>): string {
    return Object.keys(env)
        .sort()
        .map(key => {
            if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
                throw new Error(`'${key}' is not an environment variable name`);
            }
            return `${key}='${env[key].replace(/'/g, "'\\''")}'\n`;
        })
        .join("");
}

/** The output of a container run with a TTY, as non-empty lines without the TTY's carriage returns. */
function logLines(logs: string | undefined): string[] {
    return (logs ?? "")
        .split("\n")
        .map(line => line.replace(/\r/g, "").trim())
        .filter(Boolean);
}

/** What sets one Trino container apart from the others. */
interface TrinoNodeRole {
    /** Its etc/ files by path relative to etc/. */
    etc: pulumi.Output<Record<string, string>>;
    aliases: string[];
    /** Extra arguments for run-trino, which passes them to the launcher. */
    runArgs: string[];
    ports: docker.types.input.ContainerPort[];
}

/** dbt/Dockerfile's build arguments; the CA bundle is passed only when set, so that pip otherwise keeps its own. */
function dbtBuildArgs(baseImage: string, pip: PipSettings): Record<string, string> {
    return { DBT_BASE_IMAGE: baseImage, ...(pip.caBundle ? { PIP_CA_BUNDLE: pip.caBundle } : {}) };
}

/** The BuildKit secret dbt/Dockerfile reads pip's index URL from. */
const PIP_INDEX_SECRET_ID = "pip_index_url";

/**
 * pip's index URL, where the build reads it as a BuildKit secret: a file only the user can read,
 * since the provider takes a secret from a file or its own environment, never from an input.
 * A build argument would stay in the image's history, and in the stack's state; this way only the
 * file's path is in either. Removed when the setting is, so that no stale token stays behind.
 */
function pipIndexSecretFile(stateDir: string, indexUrl: string | undefined): string | undefined {
    const file = path.join(stateDir, "pip-index-url");
    if (!indexUrl) {
        fs.rmSync(file, { force: true });
        return undefined;
    }
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(file, indexUrl, { mode: 0o600 });
    // writeFileSync keeps the mode of a file that exists already.
    fs.chmodSync(file, 0o600);
    return file;
}

/** The files the dbt image is built from: a change to any of them rebuilds it, a model edit does not. */
function toolchainDigest(toolchainDir: string): string {
    const hash = crypto.createHash("sha256");
    for (const file of ["Dockerfile", "requirements.txt", ".dockerignore"]) {
        hash.update(`${file}\0${fs.readFileSync(path.join(toolchainDir, file))}\0`);
    }
    return hash.digest("hex");
}

/** A value that resolves once the container is up, so that whoever uses it waits for the container. */
function once<T>(container: docker.Container, value: T): pulumi.Output<T> {
    return container.id.apply(() => value);
}

/** The name the dbt container uses for the coordinator on the network; its certificate must cover it. */
export function dockerTrinoHostnames(): string[] {
    return [TRINO_ALIAS];
}

export class DockerPlatform implements Platform {
    readonly name: PlatformName = "docker";
    readonly keytool: string;
    readonly trinoHostnames: string[] = dockerTrinoHostnames();
    readonly live = true;
    private readonly network: docker.Network;
    private readonly images: Partial<Record<ServerImageKey, docker.RemoteImage>> = {};
    /** Set by warehouse(): Trino's nodes share the Iceberg files through it. */
    private warehouseVolume?: docker.Volume;
    /** Set by dbtRun(): the docs site is generated and served from the same image. */
    private dbtImage?: docker.RemoteImage;
    private readonly serverTls: StackServerTls;

    constructor(private readonly args: DockerPlatformArgs) {
        assertPinnedTrinoImage(args.images.trinoImage, args.trinoVersion);
        this.keytool = args.keytool;
        this.network = new docker.Network("docker-network", { name: `datamesh-${args.stack}` });
        this.serverTls = new StackServerTls(args.stack);
    }

    /** An image, pulled once the stack first runs it: a domain stack runs one server's image and no Trino. */
    private image(key: ServerImageKey): docker.RemoteImage {
        const role = { postgresImage: "postgres", mariadbImage: "mariadb", trinoImage: "trino" }[key];
        // Kept on destroy: other stacks and containers on the host may use the same images.
        this.images[key] ??= new docker.RemoteImage(`docker-image-${role}`, { name: this.args.images[key], keepLocally: true });
        return this.images[key];
    }

    /** Docker's names are per host, so they carry the stack. */
    private dockerName(name: string): string {
        return `datamesh-${this.args.stack}-${name}`;
    }

    databaseServer(name: string, request: DatabaseServerRequest, opts: pulumi.CustomResourceOptions): DatabaseServer {
        const engine = ENGINE_IMAGES[request.engine];
        const alias = name.replace(/-server$/, "");
        const volume = new docker.Volume(`${name}-volume`, { name: this.dockerName(`${name}-volume`) }, opts);
        const containerName = this.dockerName(name);
        // What Trino's containers connect to; the deploying process and the domain's owner use the published port on 127.0.0.1.
        const meshHost = this.args.domainStack ? containerName : alias;
        // localhost beside the address: mysql2 checks a certificate against 'localhost' when it connects to an address.
        const tls = request.tls ? this.serverTls.issue(name, request.component, { hostnames: [meshHost, "localhost"], ipAddresses: ["127.0.0.1"] }, opts) : undefined;
        const tlsServer = TLS_SERVERS[request.engine];
        // A renewed certificate changes the uploads, which replaces the container: the new one is what it presents.
        const uploads = tls
            ? pulumi.secret(
                  pulumi.all([request.adminPassword, tls.keyPair]).apply(([adminPassword, keyPair]) => [
                      { file: ADMIN_PASSWORD_FILE, content: adminPassword },
                      { file: SERVER_TLS_FILES.certificate, content: keyPair.certificatePem, permissions: "0644" },
                      { file: SERVER_TLS_FILES.uploadedKey, content: keyPair.privateKeyPem, permissions: "0600" },
                      ...(request.engine === "postgresql" ? [{ file: SERVER_TLS_FILES.hba, content: DOCKER_POSTGRES_HBA, permissions: "0644" }] : []),
                  ]),
              )
            : [{ file: ADMIN_PASSWORD_FILE, content: pulumi.secret(request.adminPassword) }];
        const container = new docker.Container(
            name,
            {
                name: containerName,
                image: this.image(engine.image).imageId,
                envs: [`${engine.adminPasswordEnv}_FILE=${ADMIN_PASSWORD_FILE}`],
                uploads,
                ...(tls ? { entrypoints: tlsEntrypoint(tlsServer.account), command: tlsServer.command } : {}),
                volumes: [{ volumeName: volume.name, containerPath: engine.dataDir }],
                networksAdvanced: [{ name: this.network.name, aliases: [alias] }],
                ports: [{ internal: engine.port, external: request.port, ip: "127.0.0.1", protocol: "tcp" }],
                healthcheck: containerHealthcheck(HEALTHCHECKS[request.engine], DATABASE_PROBE),
                wait: true,
                waitTimeout: 180,
                restart: "unless-stopped",
            },
            // The replacement needs the published port and the data volume that the old container holds.
            // The data is the volume's, which keeps the protection the request asks for: the container is
            // replaced to present a renewed certificate, and starts again on the same volume.
            { ...opts, protect: false, deleteBeforeReplace: true },
        );
        return {
            host: once(container, "127.0.0.1"),
            port: once(container, request.port),
            meshHost: once(container, meshHost),
            meshPort: once(container, engine.port),
            ...(this.args.domainStack ? { network: pulumi.all([container.id, this.network.name]).apply(([, network]) => network) } : {}),
            adminUser: once(container, engine.adminUser),
            adminPassword: pulumi.secret(request.adminPassword),
            ...(tls ? { tls: tls.tls } : {}),
            resource: container,
        };
    }

    /** An external database must answer Trino's containers and the deploying machine at one address: no port of it is published here. */
    tunnelTo(): undefined {
        return undefined;
    }

    domainSetup(name: string, request: DomainSetupRequest, opts: pulumi.CustomResourceOptions): DomainSetup {
        return domainSetupOverTcp(name, request, opts);
    }

    metastoreSetup(name: string, request: MetastoreSetupRequest, opts: pulumi.CustomResourceOptions): pulumi.CustomResource {
        return metastoreSetupOverTcp(name, request, opts);
    }

    warehouse(name: string, opts: pulumi.CustomResourceOptions): Warehouse {
        const volume = new docker.Volume(name, { name: this.dockerName(name) }, opts);
        // Docker makes a new volume's root belong to root when the image has no such folder; Trino runs as its own user.
        const owner = new docker.Container(
            `${name}-owner`,
            {
                name: this.dockerName(`${name}-owner`),
                image: this.image("trinoImage").imageId,
                user: "root",
                entrypoints: ["chown"],
                command: ["trino:trino", WAREHOUSE_DIR],
                volumes: [{ volumeName: volume.name, containerPath: WAREHOUSE_DIR }],
                attach: true,
                mustRun: false,
            },
            { ...opts, deleteBeforeReplace: true },
        );
        this.warehouseVolume = volume;
        const storage = owner.exitCode.apply(exitCode => {
            if (exitCode !== 0) {
                throw new Error(`${name}: giving the warehouse volume to Trino's user failed with exit code ${exitCode}`);
            }
            return { kind: "local" as const, dir: WAREHOUSE_DIR };
        });
        return { storage, trinoEnv: pulumi.output<Record<string, string>>({}), resource: owner };
    }

    insightsCheck(name: string, request: InsightsCheckRequest, opts: pulumi.CustomResourceOptions): InsightsCheckRun {
        return insightsCheckInProcess(name, request, opts);
    }

    trinoServer(name: string, request: TrinoServerRequest, opts: pulumi.CustomResourceOptions): TrinoServer {
        const warehouse = this.warehouseVolume;
        if (!warehouse) {
            throw new Error(`${request.component}: on docker, the warehouse must be declared before the Trino server that mounts it`);
        }
        const discoveryUri = `http://${TRINO_ALIAS}:${request.internalPort}`;
        const etc = trinoEtc(request, { node: TRINO_NODE, etcDir: TRINO_ETC, httpsPort: request.port, internalPort: request.internalPort, discoveryUri });
        const coordinatorEtc = pulumi.secret(pulumi.all([etc.coordinator, etc.secretFiles]).apply(([files, secretFiles]): Record<string, string> => ({ ...files, ...secretFiles })));
        const workerFiles = etc.worker;
        const secretUploads = pulumi.secret(
            pulumi.all([request.keystore.base64, pulumi.output(request.env)]).apply(([keystore, env]) => [
                { file: `${TRINO_ETC}/${request.keystore.file}`, contentBase64: keystore },
                { file: TRINO_SECRETS_FILE, content: renderEnvFile(env) },
            ]),
        );
        const trinoNode = (nodeName: string, role: TrinoNodeRole, nodeOpts: pulumi.CustomResourceOptions) =>
            new docker.Container(
                nodeName,
                {
                    name: this.dockerName(nodeName),
                    image: this.image("trinoImage").imageId,
                    entrypoints: withSecrets(TRINO_SECRETS_FILE, ["/usr/lib/trino/bin/run-trino", ...role.runArgs].join(" ")),
                    uploads: pulumi
                        .all([role.etc, secretUploads])
                        .apply(([etcFiles, secrets]) => [...Object.entries(etcFiles).map(([file, content]) => ({ file: `${TRINO_ETC}/${file}`, content })), ...secrets]),
                    volumes: [{ volumeName: warehouse.name, containerPath: WAREHOUSE_DIR }],
                    // A domain stack's network is where its server is reached: the coordinator and the workers all read domains.
                    networksAdvanced: [{ name: this.network.name, aliases: role.aliases }, ...request.domainNetworks.map(network => ({ name: network }))],
                    ports: role.ports,
                    healthcheck: containerHealthcheck(["CMD", "/usr/lib/trino/bin/health-check"], TRINO_PROBE),
                    wait: true,
                    waitTimeout: 300,
                    restart: "unless-stopped",
                },
                { ...nodeOpts, deleteBeforeReplace: true },
            );
        const workers = Array.from({ length: request.workers }, (_, index) =>
            trinoNode(`${name}-worker-${index + 1}`, { etc: workerFiles, aliases: [], runArgs: [], ports: [] }, opts),
        );
        const coordinator = trinoNode(
            name,
            {
                etc: coordinatorEtc,
                aliases: [TRINO_ALIAS],
                // Workers announce themselves shortly after the coordinator is healthy; queries wait for them instead of failing for want of nodes.
                runArgs: request.workers > 0 ? [`-Dquery-manager.required-workers=${request.workers}`] : [],
                ports: [{ internal: request.port, external: request.port, ip: "127.0.0.1", protocol: "tcp" }],
            },
            withDependencies(opts, ...workers),
        );
        // What runs is read from the coordinator through its published port, once every worker has joined.
        const nodes = new TrinoNodes(
            `${name}-nodes`,
            {
                access: pulumi
                    .all([request.caCert, pulumi.output(request.probe)])
                    .apply(([caCert, probe]) => ({ connection: { url: `https://127.0.0.1:${request.port}`, user: probe.user, password: probe.password, caCert } })),
                where: `container ${this.dockerName(name)}`,
                nodes: 1 + request.workers,
                rollout: pulumi.all([coordinator.id, ...workers.map(worker => worker.id)]).apply(ids => ids.join(",")),
                component: request.component,
            },
            { ...opts, dependsOn: [coordinator, ...workers] },
        );
        return {
            url: once(coordinator, `https://127.0.0.1:${request.port}`),
            host: once(coordinator, "127.0.0.1"),
            port: once(coordinator, request.port),
            meshHost: once(coordinator, TRINO_ALIAS),
            meshPort: once(coordinator, request.port),
            version: nodes.version,
            access: directAccess,
            resource: nodes,
        };
    }

    dbtRun(name: string, request: DbtRunRequest, opts: pulumi.CustomResourceOptions): DbtRun {
        // Only the toolchain is in the image, so it builds in parallel with the servers dbt waits for.
        const indexUrlFile = pipIndexSecretFile(this.args.stateDir, this.args.pip.indexUrl);
        this.dbtImage = new docker.RemoteImage(
            `${name}-image`,
            {
                name: DOCKER_DBT_IMAGE,
                build: {
                    context: request.toolchainDir,
                    dockerfile: path.join(request.toolchainDir, "Dockerfile"),
                    buildArgs: dbtBuildArgs(this.args.images.dbtBaseImage, this.args.pip),
                    // The engine's own BuildKit, through buildx's builder for it: the legacy builder has no secrets.
                    builder: "default",
                    ...(this.args.buildNetwork ? { networkMode: this.args.buildNetwork } : {}),
                    ...(indexUrlFile ? { secrets: [{ id: PIP_INDEX_SECRET_ID, src: indexUrlFile }] } : {}),
                },
                triggers: { toolchain: toolchainDigest(request.toolchainDir) },
                // Another stack on the engine may run the same tag; the image is only ever local.
                keepLocally: true,
            },
            { ...opts, dependsOn: [] },
        );
        const run = this.dbtContainer(
            name,
            request,
            {
                image: this.dbtImage,
                schema: request.runSchema,
                script: renderDbtScript({ projectDir: DBT_DIRS.project, profilesDir: DBT_DIRS.profiles, workDir: DBT_DIRS.work, vars: request.vars }),
                labels: [
                    { label: "datamesh.dbt.project-digest", value: request.projectDigest },
                    { label: "datamesh.dbt.run-schema", value: request.runSchema },
                ],
                failure: "dbt exited with code {code}; nothing was published, and the published insights are unchanged",
            },
            opts,
        );
        return { runId: pulumi.all([run.container.id, run.summary]).apply(([id]) => id), summary: run.summary, resource: run.container };
    }

    /**
     * The dbt docs of the published insights: a volume the site lives in, a container from the dbt
     * image that serves it on 127.0.0.1, and after each publication a one-shot container that
     * generates the page into the volume and swaps the served link in one rename, so a failed
     * generation leaves the last page served.
     */
    docsSite(name: string, request: DocsSiteRequest, opts: pulumi.CustomResourceOptions): DocsSite {
        const image = this.dbtImage;
        if (!image) {
            throw new Error(`${request.component}: the docs site is generated with the dbt image, which the dbt run builds; declare the dbt job first`);
        }
        const volume = new docker.Volume(`${name}-volume`, { name: this.dockerName(`${name}-volume`) }, opts);
        const siteMount = { volumeName: volume.name, containerPath: DOCS_SITE_DIR };
        // Docker makes a new volume's root belong to root; the dbt image runs as its own user.
        const owner = new docker.Container(
            `${name}-owner`,
            {
                name: this.dockerName(`${name}-owner`),
                image: image.imageId,
                user: "root",
                entrypoints: ["chown"],
                command: ["dbt:dbt", DOCS_SITE_DIR],
                volumes: [siteMount],
                attach: true,
                mustRun: false,
            },
            { ...opts, deleteBeforeReplace: true },
        );
        const owned = owner.exitCode.apply(exitCode => {
            if (exitCode !== 0) {
                throw new Error(`${request.component}: giving the docs volume to dbt's user failed with exit code ${exitCode}`);
            }
            return volume.name;
        });
        const server = new docker.Container(
            name,
            {
                name: this.dockerName(name),
                image: image.imageId,
                entrypoints: docsServerCommand(DOCS_SITE_DIR, DOCS_SITE_PORT),
                ports: [{ internal: DOCS_SITE_PORT, external: request.port, ip: "127.0.0.1", protocol: "tcp" }],
                volumes: [{ volumeName: owned, containerPath: DOCS_SITE_DIR, readOnly: true }],
                // Listening is all it takes: before the first generation the server answers 404.
                healthcheck: containerHealthcheck(["CMD", "python3", "-c", `import socket; socket.create_connection(("127.0.0.1", ${DOCS_SITE_PORT}), 2)`], DOCS_SITE_PROBE),
                wait: true,
                waitTimeout: 60,
                restart: "unless-stopped",
            },
            // The replacement needs the published port that the old container holds.
            { ...opts, deleteBeforeReplace: true },
        );
        const generation = this.dbtContainer(
            `${name}-generate`,
            request.run,
            {
                image,
                schema: request.publishedRun,
                script: pulumi
                    .output(request.publishedRun)
                    .apply(publishedRun =>
                        renderDocsScript({ projectDir: DBT_DIRS.project, profilesDir: DBT_DIRS.profiles, workDir: DBT_DIRS.work, vars: request.run.vars, siteDir: DOCS_SITE_DIR, pageName: publishedRun }),
                    ),
                labels: [
                    { label: "datamesh.dbt.project-digest", value: request.run.projectDigest },
                    { label: "datamesh.docs.published-run", value: request.publishedRun },
                ],
                volumes: [{ volumeName: owned, containerPath: DOCS_SITE_DIR }],
                failure: "dbt docs generate exited with code {code}; the docs site still serves the last page",
            },
            { ...opts, dependsOn: [server] },
        );
        const url = pulumi.all([server.id, generation.summary]).apply(() => `http://127.0.0.1:${request.port}/`);
        return { url, resource: generation.container };
    }

    /** A one-shot container of the dbt image on the network, its project, profile, CA and secrets uploaded; its failure raised with its log. */
    private dbtContainer(
        name: string,
        request: DbtRunRequest,
        spec: {
            image: docker.RemoteImage;
            schema: pulumi.Input<string>;
            script: pulumi.Input<string>;
            labels: docker.types.input.ContainerLabel[];
            volumes?: docker.types.input.ContainerVolume[];
            /** What the error says; {code} is the exit code. */
            failure: string;
        },
        opts: pulumi.CustomResourceOptions,
    ): { container: docker.Container; summary: pulumi.Output<string> } {
        const caCertFile = `${DBT_DIRS.profiles}/trino-ca.pem`;
        const profile = dbtProfile(request, spec.schema, caCertFile);
        const project = projectFiles(request.projectDir).map(file => ({
            file: `${DBT_DIRS.project}/${file.split(path.sep).join("/")}`,
            content: fs.readFileSync(path.join(request.projectDir, file), "utf8"),
        }));
        const secrets = pulumi.secret(pulumi.output(request.password).apply(password => renderEnvFile({ [DBT_PASSWORD_ENV]: password })));
        const container = new docker.Container(
            name,
            {
                name: this.dockerName(name),
                image: spec.image.imageId,
                entrypoints: withSecrets(DBT_SECRETS_FILE, `/bin/sh ${DBT_SCRIPT_FILE}`),
                uploads: pulumi.all([profile, request.trino.caCert, secrets, spec.script]).apply(([profileYml, caCert, env, script]) => [
                    ...project,
                    { file: `${DBT_DIRS.profiles}/profiles.yml`, content: profileYml },
                    { file: caCertFile, content: caCert },
                    { file: DBT_SCRIPT_FILE, content: script },
                    { file: DBT_SECRETS_FILE, content: env },
                ]),
                networksAdvanced: [{ name: this.network.name }],
                // Labels cannot change on a container, so a new project or a new run replaces it: that replacement is the re-run.
                labels: spec.labels,
                ...(spec.volumes ? { volumes: spec.volumes } : {}),
                // Without a TTY, Docker frames the output with binary headers, which the provider would keep in the saved logs.
                tty: true,
                attach: true,
                logs: true,
                mustRun: false,
            },
            { ...opts, deleteBeforeReplace: true },
        );
        // Docker records a failed run like any other exit, so the failure is raised here, where the deployment sees it.
        const summary = pulumi.all([container.exitCode, container.containerLogs]).apply(([exitCode, logs]) => {
            const lines = logLines(logs);
            if (exitCode !== 0) {
                throw new Error(
                    `${request.component}: ${spec.failure.replace("{code}", String(exitCode))}. ` +
                        `It runs again when the project or the data change, or with \`pulumi up --replace\` on its container.\n${lines.slice(-40).join("\n")}`,
                );
            }
            const last = lines.pop();
            return last ? last.replace(/^\d\d:\d\d:\d\d\s+/, "") : "dbt finished without output";
        });
        return { container, summary };
    }
}
