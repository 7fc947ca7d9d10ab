import { envReference, PropertyValue, renderProperties } from "./properties";

/*
 * Trino's configuration as pure functions of plain values, laid out as the Trino Helm chart lays
 * it out: etc/node.properties, etc/config.properties, etc/jvm.config, etc/log.properties and one
 * etc/catalog/<name>.properties per catalog. No function here ever sees a password: catalogs refer
 * to environment variables that the platform sets on the Trino process.
 */

/** How Trino reaches a database: the address, and the variable that holds the password. */
export interface JdbcEndpoint {
    host: string;
    port: number;
    user: string;
    /** Environment variable on the Trino process that holds the password. */
    passwordEnv: string;
}

/** TLS to a domain's database: `require` encrypts; `verify-full` also checks the server's certificate against the CA and the host name. */
export interface CatalogTls {
    mode: "require" | "verify-full";
    /** With verify-full: the CA certificates (PEM), written beside the catalog as catalogCaFile names it. */
    caPem?: string;
}

/** A domain catalog over PostgreSQL: one database. */
export interface PostgresqlCatalog extends JdbcEndpoint {
    kind: "postgresql";
    name: string;
    database: string;
    tls?: CatalogTls;
}

/** A domain catalog over MariaDB: its schemas are the server's databases. */
export interface MariadbCatalog extends JdbcEndpoint {
    kind: "mariadb";
    name: string;
    tls?: CatalogTls;
}

/** Iceberg files in a folder that every Trino node sees at the same path (one machine, or one shared volume). */
export interface LocalWarehouse {
    kind: "local";
    /** Absolute folder that holds the Iceberg data and metadata files. */
    dir: string;
}

/** Iceberg files in an S3-compatible bucket (the stack's SeaweedFS or the user's store), so that every worker reaches them. */
export interface S3Warehouse {
    kind: "s3";
    endpoint: string;
    region: string;
    bucket: string;
    /** Bucket in the path (self-hosted stores) rather than in the host name. */
    pathStyle: boolean;
    /** Environment variables on the Trino processes that hold the access key pair. */
    accessKeyEnv: string;
    secretKeyEnv: string;
}

/** The persisted insights catalog: Iceberg tables and views, metadata in PostgreSQL, files in the warehouse. */
export interface IcebergJdbcCatalog {
    kind: "iceberg";
    name: string;
    metastore: JdbcEndpoint & { database: string };
    warehouse: LocalWarehouse | S3Warehouse;
}

export type CatalogSpec = PostgresqlCatalog | MariadbCatalog | IcebergJdbcCatalog;

/** A domain's catalog: its engine's connector, reaching the domain's database as its reader. */
export function domainCatalog(
    domain: { name: string; engine: "postgresql" | "mariadb" },
    endpoint: { host: string; port: number; database: string; user: string; tls?: CatalogTls },
): CatalogSpec {
    const { host, port, user } = endpoint;
    const passwordEnv = catalogPasswordEnv(domain.name);
    const tls = endpoint.tls ? { tls: { mode: endpoint.tls.mode, ...(endpoint.tls.caPem ? { caPem: endpoint.tls.caPem } : {}) } } : {};
    return domain.engine === "postgresql"
        ? { kind: "postgresql", name: domain.name, host, port, database: endpoint.database, user, passwordEnv, ...tls }
        : { kind: "mariadb", name: domain.name, host, port, user, passwordEnv, ...tls };
}

/** A catalog's CA file, relative to etc/: in etc/catalog/, which every node mounts, and which Trino reads only `.properties` files of. */
export function catalogCaFile(catalogName: string): string {
    return `catalog/${catalogName}-ca.pem`;
}

/**
 * The JDBC parameters that make the catalog's driver use TLS. PostgreSQL's driver (pgjdbc) and
 * MariaDB Connector/J name the same modes differently; both check the host name in verify-full.
 */
function tlsParameters(spec: PostgresqlCatalog | MariadbCatalog, etcDir: string): string {
    if (!spec.tls) {
        return "";
    }
    if (spec.tls.mode === "require") {
        return spec.kind === "postgresql" ? "?sslmode=require" : "?sslMode=trust";
    }
    if (!spec.tls.caPem) {
        throw new Error(`catalog '${spec.name}': TLS verify-full needs the CA's certificate`);
    }
    const caFile = `${etcDir}/${catalogCaFile(spec.name)}`;
    // The path goes into the URL as it is: a character the drivers read as a separator would cut it.
    if (!/^\/[A-Za-z0-9._\/-]+$/.test(caFile)) {
        throw new Error(`catalog '${spec.name}': the CA file's path ${caFile} must be absolute and hold only letters, digits, '.', '_', '-' and '/' to go into a JDBC URL`);
    }
    return spec.kind === "postgresql" ? `?sslmode=verify-full&sslrootcert=${caFile}` : `?sslMode=verify-full&serverSslCert=${caFile}`;
}

/** The environment variable that carries a catalog's database password into Trino. */
export function catalogPasswordEnv(catalogName: string): string {
    return `${catalogName.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_DB_PASSWORD`;
}

function assertCatalogName(name: string): void {
    if (!/^[a-z][a-z0-9_]*$/.test(name)) {
        throw new Error(`catalog name '${name}' must be a lower-case identifier (a-z, 0-9, _)`);
    }
}

/** The text of etc/catalog/<name>.properties, for a Trino whose etc/ folder is etcDir. */
export function renderCatalog(spec: CatalogSpec, etcDir: string): string {
    assertCatalogName(spec.name);
    switch (spec.kind) {
        case "postgresql":
            return renderProperties({
                "connector.name": "postgresql",
                "connection-url": `jdbc:postgresql://${spec.host}:${spec.port}/${spec.database}${tlsParameters(spec, etcDir)}`,
                "connection-user": spec.user,
                "connection-password": envReference(spec.passwordEnv),
            });
        case "mariadb":
            return renderProperties({
                "connector.name": "mariadb",
                "connection-url": `jdbc:mariadb://${spec.host}:${spec.port}${tlsParameters(spec, etcDir)}`,
                "connection-user": spec.user,
                "connection-password": envReference(spec.passwordEnv),
            });
        case "iceberg":
            return renderProperties({
                "connector.name": "iceberg",
                "iceberg.catalog.type": "jdbc",
                "iceberg.jdbc-catalog.catalog-name": spec.name,
                "iceberg.jdbc-catalog.connection-password": envReference(spec.metastore.passwordEnv),
                "iceberg.jdbc-catalog.connection-url": `jdbc:postgresql://${spec.metastore.host}:${spec.metastore.port}/${spec.metastore.database}`,
                "iceberg.jdbc-catalog.connection-user": spec.metastore.user,
                "iceberg.jdbc-catalog.driver-class": "org.postgresql.Driver",
                ...warehouseProperties(spec.name, spec.warehouse),
            });
    }
}

function warehouseProperties(catalog: string, warehouse: LocalWarehouse | S3Warehouse): Record<string, PropertyValue> {
    if (warehouse.kind === "local") {
        if (!warehouse.dir.startsWith("/")) {
            throw new Error(`catalog '${catalog}': the warehouse folder must be an absolute path, got '${warehouse.dir}'`);
        }
        return { "fs.native-local.enabled": true, "iceberg.jdbc-catalog.default-warehouse-dir": "local:///", "local.location": warehouse.dir };
    }
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(warehouse.bucket)) {
        throw new Error(`catalog '${catalog}': '${warehouse.bucket}' is not a valid bucket name`);
    }
    return {
        "fs.native-s3.enabled": true,
        "iceberg.jdbc-catalog.default-warehouse-dir": `s3://${warehouse.bucket}/`,
        "s3.aws-access-key": envReference(warehouse.accessKeyEnv),
        "s3.aws-secret-key": envReference(warehouse.secretKeyEnv),
        "s3.endpoint": warehouse.endpoint,
        "s3.path-style-access": warehouse.pathStyle,
        "s3.region": warehouse.region,
    };
}

/** A node's identity and where it keeps its own files. */
export interface NodeSpec {
    environment: string;
    /** Fixed for a process on one machine; unset for pods, which Trino then names itself. */
    nodeId?: string;
    dataDir: string;
    pluginDir: string;
    /** Bind to 127.0.0.1 only: right for one machine, wrong where other nodes must reach this one. */
    loopbackOnly?: boolean;
}

export function renderNodeProperties(spec: NodeSpec): string {
    return renderProperties({
        "node.data-dir": spec.dataDir,
        "node.environment": spec.environment,
        ...(spec.nodeId ? { "node.id": spec.nodeId } : {}),
        ...(spec.loopbackOnly ? { "node.bind-ip": "127.0.0.1", "node.internal-address": "127.0.0.1" } : {}),
        "plugin.dir": spec.pluginDir,
    });
}

export interface CoordinatorSpec {
    /** The port clients use: HTTPS with password authentication. */
    httpsPort: number;
    /** Plain HTTP for the coordinator's own internal calls; Trino refuses client authentication on it. */
    internalPort: number;
    /** JVM maximum heap, e.g. 2G: query memory is sized from it. */
    maxHeap: string;
    /** JVM flags after the stack's own (datamesh:trinoJvmOptions). */
    jvmOptions?: string[];
    /** Where etc/ lives, for the absolute paths of the keystore, password file and rules. */
    etcDir: string;
    /** The keystore's file name in etc/: a PKCS12 `.p12` locked with a password, or a `.pem` with key and certificate. */
    keystoreFile: string;
    /** The variable holding the keystore's password; a PEM keystore with an unencrypted key has none. */
    keystorePasswordEnv?: string;
    sharedSecretEnv: string;
    /** Where the keystore and password.db are, when not in etc/ (a mounted Secret on Kubernetes). */
    secretDir?: string;
    /** How nodes find the coordinator; defaults to its internal port on 127.0.0.1. */
    discoveryUri?: string;
    /** Whether the coordinator also runs query work: true unless there are workers. */
    includeCoordinator?: boolean;
    /** A class-data sharing archive of this Trino's classes for the JVM to map as it starts, where one was made for it. */
    classArchive?: string;
}

/** A worker: plain HTTP inside the cluster, authenticated to the coordinator by the shared secret. */
export interface WorkerSpec {
    httpPort: number;
    discoveryUri: string;
    maxHeap: string;
    /** JVM flags after the stack's own (datamesh:trinoJvmOptions). */
    jvmOptions?: string[];
    sharedSecretEnv: string;
    /** A worker that drains when asked: how long it waits before and after its running tasks, and who may ask. */
    drain?: WorkerDrain;
}

export interface WorkerDrain {
    /** `shutdown.grace-period`, in seconds. */
    gracePeriodSeconds: number;
    /** The user whose `PUT /v1/info/state` the worker obeys: Trino's default access control refuses it to everyone. */
    user: string;
    /** The folder of the worker's etc/ files, where its rules file lies. */
    etcDir: string;
}

export function heapMegabytes(maxHeap: string): number {
    const match = /^(\d+)([MG])$/.exec(maxHeap);
    if (!match) {
        throw new Error(`maxHeap must look like 2G or 1536M, got '${maxHeap}'`);
    }
    return Number(match[1]) * (match[2] === "G" ? 1024 : 1);
}

/**
 * A single-node cluster: the coordinator also schedules work on itself. Query memory takes half
 * the heap, leaving Trino's default 30% headroom, so any heap size starts.
 */
export function renderCoordinatorConfig(spec: CoordinatorSpec): string {
    const queryMemory = queryMemoryOf(spec.maxHeap);
    const secretDir = spec.secretDir ?? spec.etcDir;
    return renderProperties({
        "catalog.management": "static",
        coordinator: true,
        "discovery.uri": spec.discoveryUri ?? `http://127.0.0.1:${spec.internalPort}`,
        "http-server.authentication.type": "PASSWORD",
        "http-server.http.port": spec.internalPort,
        "http-server.https.enabled": true,
        ...(spec.keystorePasswordEnv ? { "http-server.https.keystore.key": envReference(spec.keystorePasswordEnv) } : {}),
        "http-server.https.keystore.path": `${secretDir}/${spec.keystoreFile}`,
        "http-server.https.port": spec.httpsPort,
        "internal-communication.shared-secret": envReference(spec.sharedSecretEnv),
        "node-scheduler.include-coordinator": spec.includeCoordinator ?? true,
        "query.max-memory": queryMemory,
        "query.max-memory-per-node": queryMemory,
    });
}

function queryMemoryOf(maxHeap: string): string {
    return `${Math.floor(heapMegabytes(maxHeap) / 2)}MB`;
}

export function renderWorkerConfig(spec: WorkerSpec): string {
    return renderProperties({
        "catalog.management": "static",
        coordinator: false,
        "discovery.uri": spec.discoveryUri,
        "http-server.http.port": spec.httpPort,
        "internal-communication.shared-secret": envReference(spec.sharedSecretEnv),
        "query.max-memory-per-node": queryMemoryOf(spec.maxHeap),
        ...(spec.drain ? { "shutdown.grace-period": `${spec.drain.gracePeriodSeconds}s` } : {}),
    });
}

/** Every file of a worker's etc/ folder except the catalogs, which it shares with the coordinator. */
export function renderWorkerEtc(spec: { node: NodeSpec; worker: WorkerSpec }): Record<string, string> {
    const drain = spec.worker.drain;
    return {
        // A worker checks no query's access (the coordinator does); these rules decide who may manage it, and only the drain user may.
        ...(drain
            ? {
                  "access-control.properties": renderProperties({ "access-control.name": "file", "security.config-file": `${drain.etcDir}/worker-rules.json` }),
                  "worker-rules.json": `${JSON.stringify({ system_information: [{ user: drain.user, allow: ["read", "write"] }] }, null, 2)}\n`,
              }
            : {}),
        "config.properties": renderWorkerConfig(spec.worker),
        "jvm.config": renderJvmConfig({ maxHeap: spec.worker.maxHeap, jvmOptions: spec.worker.jvmOptions }),
        "log.properties": renderLogProperties(),
        "node.properties": renderNodeProperties(spec.node),
    };
}

export function renderPasswordAuthenticator(passwordFileDir: string): string {
    return renderProperties({ "file.password-file": `${passwordFileDir}/password.db`, "password-authenticator.name": "file" });
}

/** Points Trino at rules.json, which lies beside password.db: it holds the PII mask key, so it travels as a secret. */
export function renderAccessControl(secretDir: string): string {
    return renderProperties({ "access-control.name": "file", "security.config-file": `${secretDir}/rules.json`, "security.refresh-period": "5s" });
}

/**
 * Trino's password file: one `user:bcrypt-hash` line per user, sorted. It holds no password, but
 * each hash lets whoever reads it test guesses, so it travels and is stored as a secret.
 */
export function renderPasswordDb(users: { user: string; bcryptHash: string }[]): string {
    const seen = new Set<string>();
    return [...users]
        .sort((a, b) => a.user.localeCompare(b.user))
        .map(({ user, bcryptHash }) => {
            if (!/^[a-z_][a-z0-9_]*$/.test(user)) {
                throw new Error(`Trino user '${user}' must be a lower-case name`);
            }
            if (seen.has(user)) {
                throw new Error(`Trino user '${user}' is declared twice`);
            }
            seen.add(user);
            if (!/^\$2y\$\d\d\$[./A-Za-z0-9]{53}$/.test(bcryptHash)) {
                throw new Error(`Trino user '${user}': the password file takes a $2y$ bcrypt hash, never a password`);
            }
            return `${user}:${bcryptHash}\n`;
        })
        .join("");
}

/**
 * JVM options in the order Trino documents them, then the class archive if any, then the user's
 * own flags. jvm.config is a list of flags, not key=value pairs, so the order is fixed here rather
 * than sorted.
 */
export function renderJvmConfig(spec: { maxHeap: string; classArchive?: string; jvmOptions?: string[] }): string {
    if (!/^\d+[MG]$/.test(spec.maxHeap)) {
        throw new Error(`maxHeap must look like 2G or 1536M, got '${spec.maxHeap}'`);
    }
    const unfit = (spec.jvmOptions ?? []).find(flag => !/^-\S+$/.test(flag));
    if (unfit !== undefined) {
        throw new Error(`a JVM flag must start with - and hold no space or line break, got ${JSON.stringify(unfit)}`);
    }
    return [
        "-server",
        `-Xmx${spec.maxHeap}`,
        "-XX:+UseG1GC",
        "-XX:G1HeapRegionSize=4M",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-XX:+ExitOnOutOfMemoryError",
        "-XX:-OmitStackTraceInFastThrow",
        "-XX:ReservedCodeCacheSize=256M",
        "-XX:PerMethodRecompilationCutoff=10000",
        "-XX:PerBytecodeRecompilationCutoff=10000",
        "-XX:+EnableDynamicAgentLoading",
        "-Djdk.attach.allowAttachSelf=true",
        "-Djdk.nio.maxCachedBufferSize=2000000",
        "-Dfile.encoding=UTF-8",
        // A JVM that cannot use the archive (another JDK, a changed lib/) says so in its log and starts without it.
        ...(spec.classArchive ? [`-XX:SharedArchiveFile=${spec.classArchive}`] : []),
        // Last, because the JVM takes the last of two flags that disagree: the user's choice wins over the stack's defaults.
        ...(spec.jvmOptions ?? []),
        "",
    ].join("\n");
}

export function renderLogProperties(): string {
    return renderProperties({ "io.trino": "INFO" });
}

/**
 * Every file of a coordinator's etc/ folder but password.db (see renderPasswordDb) and rules.json
 * (catalogs/accessRules.ts), keyed by path relative to etc/, in sorted order. They hold no secret,
 * so a diff can show them; the two secret files go to the secret folder (etc/ itself locally).
 */
export function renderEtc(spec: { node: NodeSpec; coordinator: CoordinatorSpec; catalogs: CatalogSpec[] }): Record<string, string> {
    const names = spec.catalogs.map(c => c.name);
    const duplicate = names.find((n, i) => names.indexOf(n) !== i);
    if (duplicate) {
        throw new Error(`catalog '${duplicate}' is declared twice`);
    }
    const files: Record<string, string> = {
        "access-control.properties": renderAccessControl(spec.coordinator.secretDir ?? spec.coordinator.etcDir),
        "config.properties": renderCoordinatorConfig(spec.coordinator),
        "jvm.config": renderJvmConfig({ maxHeap: spec.coordinator.maxHeap, classArchive: spec.coordinator.classArchive, jvmOptions: spec.coordinator.jvmOptions }),
        "log.properties": renderLogProperties(),
        "node.properties": renderNodeProperties(spec.node),
        "password-authenticator.properties": renderPasswordAuthenticator(spec.coordinator.secretDir ?? spec.coordinator.etcDir),
    };
    for (const catalog of spec.catalogs) {
        files[`catalog/${catalog.name}.properties`] = renderCatalog(catalog, spec.coordinator.etcDir);
        if (catalog.kind !== "iceberg" && catalog.tls?.caPem) {
            files[catalogCaFile(catalog.name)] = catalog.tls.caPem;
        }
    }
    return Object.fromEntries(Object.keys(files).sort().map(k => [k, files[k]]));
}
