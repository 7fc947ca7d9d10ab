import { envReference, renderProperties } from "./properties";

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

/** A domain catalog over PostgreSQL: one database. */
export interface PostgresqlCatalog extends JdbcEndpoint {
    kind: "postgresql";
    name: string;
    database: string;
}

/** A domain catalog over MariaDB: its schemas are the server's databases. */
export interface MariadbCatalog extends JdbcEndpoint {
    kind: "mariadb";
    name: string;
}

/** The persisted insights catalog: Iceberg tables and views, metadata in PostgreSQL, files on local disk. */
export interface IcebergJdbcCatalog {
    kind: "iceberg";
    name: string;
    metastore: JdbcEndpoint & { database: string };
    /** Absolute folder that holds the Iceberg data and metadata files. */
    warehouseDir: string;
}

export type CatalogSpec = PostgresqlCatalog | MariadbCatalog | IcebergJdbcCatalog;

/** The environment variable that carries a catalog's database password into Trino. */
export function catalogPasswordEnv(catalogName: string): string {
    return `${catalogName.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_DB_PASSWORD`;
}

function assertCatalogName(name: string): void {
    if (!/^[a-z][a-z0-9_]*$/.test(name)) {
        throw new Error(`catalog name '${name}' must be a lower-case identifier (a-z, 0-9, _)`);
    }
}

/** The text of etc/catalog/<name>.properties. */
export function renderCatalog(spec: CatalogSpec): string {
    assertCatalogName(spec.name);
    switch (spec.kind) {
        case "postgresql":
            return renderProperties({
                "connector.name": "postgresql",
                "connection-url": `jdbc:postgresql://${spec.host}:${spec.port}/${spec.database}`,
                "connection-user": spec.user,
                "connection-password": envReference(spec.passwordEnv),
            });
        case "mariadb":
            return renderProperties({
                "connector.name": "mariadb",
                "connection-url": `jdbc:mariadb://${spec.host}:${spec.port}`,
                "connection-user": spec.user,
                "connection-password": envReference(spec.passwordEnv),
            });
        case "iceberg":
            if (!spec.warehouseDir.startsWith("/")) {
                throw new Error(`catalog '${spec.name}': warehouseDir must be an absolute path, got '${spec.warehouseDir}'`);
            }
            return renderProperties({
                "connector.name": "iceberg",
                "fs.native-local.enabled": true,
                "iceberg.catalog.type": "jdbc",
                "iceberg.jdbc-catalog.catalog-name": spec.name,
                "iceberg.jdbc-catalog.connection-password": envReference(spec.metastore.passwordEnv),
                "iceberg.jdbc-catalog.connection-url": `jdbc:postgresql://${spec.metastore.host}:${spec.metastore.port}/${spec.metastore.database}`,
                "iceberg.jdbc-catalog.connection-user": spec.metastore.user,
                "iceberg.jdbc-catalog.default-warehouse-dir": "local:///",
                "iceberg.jdbc-catalog.driver-class": "org.postgresql.Driver",
                "local.location": spec.warehouseDir,
            });
    }
}

/** The coordinator's node identity and where it keeps its own files. */
export interface NodeSpec {
    environment: string;
    nodeId: string;
    dataDir: string;
    pluginDir: string;
}

export function renderNodeProperties(spec: NodeSpec): string {
    return renderProperties({
        "node.data-dir": spec.dataDir,
        "node.environment": spec.environment,
        "node.id": spec.nodeId,
        "node.bind-ip": "127.0.0.1",
        "node.internal-address": "127.0.0.1",
        "plugin.dir": spec.pluginDir,
    });
}

export interface CoordinatorSpec {
    httpPort: number;
    /** Memory for one query across the cluster, e.g. 1GB. */
    queryMaxMemory: string;
    queryMaxMemoryPerNode: string;
}

/** A single-node cluster: the coordinator also schedules work on itself. */
export function renderCoordinatorConfig(spec: CoordinatorSpec): string {
    return renderProperties({
        "catalog.management": "static",
        coordinator: true,
        "discovery.uri": `http://127.0.0.1:${spec.httpPort}`,
        "http-server.http.port": spec.httpPort,
        "node-scheduler.include-coordinator": true,
        "query.max-memory": spec.queryMaxMemory,
        "query.max-memory-per-node": spec.queryMaxMemoryPerNode,
    });
}

/**
 * JVM options in the order Trino documents them. jvm.config is a list of flags, not key=value
 * pairs, so the order is fixed here rather than sorted.
 */
export function renderJvmConfig(spec: { maxHeap: string }): string {
    if (!/^\d+[MG]$/.test(spec.maxHeap)) {
        throw new Error(`maxHeap must look like 2G or 1536M, got '${spec.maxHeap}'`);
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
        "",
    ].join("\n");
}

export function renderLogProperties(): string {
    return renderProperties({ "io.trino": "INFO" });
}

/** Every file of a coordinator's etc/ folder, keyed by path relative to etc/, in sorted order. */
export function renderEtc(spec: { node: NodeSpec; coordinator: CoordinatorSpec; maxHeap: string; catalogs: CatalogSpec[] }): Record<string, string> {
    const names = spec.catalogs.map(c => c.name);
    const duplicate = names.find((n, i) => names.indexOf(n) !== i);
    if (duplicate) {
        throw new Error(`catalog '${duplicate}' is declared twice`);
    }
    const files: Record<string, string> = {
        "config.properties": renderCoordinatorConfig(spec.coordinator),
        "jvm.config": renderJvmConfig({ maxHeap: spec.maxHeap }),
        "log.properties": renderLogProperties(),
        "node.properties": renderNodeProperties(spec.node),
    };
    for (const catalog of spec.catalogs) {
        files[`catalog/${catalog.name}.properties`] = renderCatalog(catalog);
    }
    return Object.fromEntries(Object.keys(files).sort().map(k => [k, files[k]]));
}
