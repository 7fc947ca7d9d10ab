import * as pulumi from "@pulumi/pulumi";
import { CatalogSpec, LocalWarehouse, S3Warehouse } from "../catalogs/trino";
import { PlatformName } from "../config";
import { DataSource } from "../lib/dataset";
import { DatabaseTls, DomainSpec, Engine } from "../lib/domains";
import { KubeTunnel } from "../lib/kubectl";
import { CheckTargets } from "../lib/reconcile";
import { TrinoAccess, TrinoConnection } from "../lib/trinoQuery";

/*
 * The seam between the components and where they run. A component asks its platform for a
 * database server, a warehouse, a Trino server or a dbt run, and gets back endpoints; it never
 * asks which platform it has.
 */

export interface DatabaseServerRequest {
    /** Names the owning component in errors: a domain's name, "trino", "dbt". */
    component: string;
    engine: Engine;
    /** The port users and the deployment reach the server on. */
    port: number;
    adminPassword: pulumi.Input<string>;
    /** Serve TLS alone, with a certificate from the stack's CA, where the platform can; `tls` in the answer says whether it does. */
    tls: boolean;
}

export interface DatabaseServer {
    /** The address users and the deployment use. */
    host: pulumi.Output<string>;
    port: pulumi.Output<number>;
    /** The address Trino uses, which can differ from the user's (container names, services). */
    meshHost: pulumi.Output<string>;
    meshPort: pulumi.Output<number>;
    /** A domain stack's server on a container network of its own: the network Trino must join to reach meshHost. */
    network?: pulumi.Output<string>;
    adminUser: pulumi.Output<string>;
    adminPassword: pulumi.Output<string>;
    /** Inside a cluster: the Service the deployment reaches through a port-forward instead of host and port. */
    tunnel?: pulumi.Output<KubeTunnel>;
    /** How every client must connect: TLS checked against the stack's CA. Unset, the server speaks in clear. */
    tls?: pulumi.Output<DatabaseTls>;
    /** The resource to depend on: the server is up when it is created. */
    resource: pulumi.Resource;
}

export interface Credentials {
    user: pulumi.Input<string>;
    password: pulumi.Input<string>;
}

export interface DomainSetupRequest {
    component: string;
    server: DatabaseServer;
    domain: DomainSpec;
    /** The domain owner, who owns and loads the tables. */
    owner: Credentials;
    /** The read-only user Trino connects as. */
    reader: Credentials;
    source: DataSource;
    /** Changes exactly when the domain's data changes; a new value reloads its tables. */
    fingerprint: string;
}

export interface DomainSetup {
    database: pulumi.Output<string>;
    /** Rows each of the domain's tables holds after the load, counted there; undefined when manifests are only rendered. */
    rowCounts: pulumi.Output<Record<string, number> | undefined>;
    /** Created when the domain's database, users, table and rows are in place; its id resolves then. */
    resource: pulumi.CustomResource;
}

export interface MetastoreSetupRequest {
    component: string;
    server: DatabaseServer;
    database: string;
    /** The user Trino's Iceberg connector reads and writes the catalog tables as. */
    connector: Credentials;
}

export interface Warehouse {
    /** Where Iceberg files go, as every Trino node sees it. */
    storage: pulumi.Output<LocalWarehouse | S3Warehouse>;
    /** Variables the storage needs on the Trino processes (secret), e.g. an access key pair. */
    trinoEnv: pulumi.Output<Record<string, string>>;
    resource: pulumi.Resource;
}

export interface TrinoServerRequest {
    component: string;
    /** HTTPS port for clients. */
    port: number;
    /** Plain HTTP port for the coordinator's internal calls only. */
    internalPort: number;
    maxHeap: string;
    /** JVM flags after the stack's own, on every node. */
    jvmOptions: string[];
    /** Worker nodes besides the coordinator; 0 means the coordinator schedules work itself. */
    workers: number;
    catalogs: pulumi.Input<CatalogSpec[]>;
    /** Variables that Trino's files reference with ${ENV:...}: the only way secrets reach Trino. */
    env: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /** The name of the variable in `env` that holds the internal shared secret. */
    sharedSecretEnv: string;
    /** Container networks of domain stacks' servers, which every Trino node joins to reach them. */
    domainNetworks: string[];
    /** The keystore: its file name in etc/, its content base64 (secret), and the variable in `env` with its password, if any. */
    keystore: { file: string; base64: pulumi.Input<string>; passwordEnv?: string };
    /** The certificate clients trust, PEM. */
    caCert: pulumi.Input<string>;
    /** Trino's users with bcrypt hashes of their passwords (secret): the platform writes them to password.db as a secret file. */
    users: pulumi.Input<{ user: string; bcryptHash: string }[]>;
    /** The access control rules file. */
    accessRules: pulumi.Input<string>;
    /** A user that may run `SELECT 1`, to prove the coordinator ready. */
    probe: pulumi.Input<{ user: pulumi.Input<string>; password: pulumi.Input<string> }>;
}

export interface TrinoServer {
    /** How users reach the coordinator. */
    url: pulumi.Output<string>;
    host: pulumi.Output<string>;
    port: pulumi.Output<number>;
    /** How the platform's own jobs (dbt, the check) reach it: container or service names. */
    meshHost: pulumi.Output<string>;
    meshPort: pulumi.Output<number>;
    version: pulumi.Output<string>;
    /** How the deploying process reaches the coordinator with a connection: directly, or by a way only the platform knows. */
    access(connection: pulumi.Output<TrinoConnection>): pulumi.Output<TrinoAccess>;
    resource: pulumi.Resource;
}

export interface DbtRunRequest {
    component: string;
    /** The dbt project: the repository's dbt/, or the user's own (datamesh:dbtProject). */
    projectDir: string;
    /** The dbt toolchain's files, whatever the project: requirements.txt and the Dockerfile (the repository's dbt/). */
    toolchainDir: string;
    projectDigest: string;
    /** Whether a model edit may build only what it changed: the project copies the models such a build leaves out (copy_unbuilt_models). */
    defersModelEdits: boolean;
    /** The schema this run builds into, one per run; a new value is a new run. */
    runSchema: pulumi.Input<string>;
    /** What the run reads besides the project (the sources' content, the build's configuration); equal values mean a model edit may reuse the last run's other models. */
    sourcesDigest: pulumi.Input<string>;
    /** profiles.yml for the coordinator as the platform's dbt process reaches it, where it finds the CA file, and the run's schema. */
    profile: (trino: { host: string; port: number; caCertFile: string; passwordEnv: string; schema: string }) => string;
    /** The coordinator's address as the deployment sees it, and the certificate to trust. */
    trino: { host: pulumi.Output<string>; port: pulumi.Output<number>; caCert: pulumi.Input<string> };
    /** dbt's Trino password (secret); it reaches dbt through its environment only. */
    password: pulumi.Input<string>;
    vars: Record<string, string>;
}

export interface DocsSiteRequest {
    component: string;
    /** The port the site listens on, where the platform publishes ports. */
    port: number;
    /** The dbt project, profile and credentials, as for the run. */
    run: DbtRunRequest;
    /** The published run; a new one generates the site again. */
    publishedRun: pulumi.Input<string>;
}

export interface DocsSite {
    url: pulumi.Output<string>;
    resource: pulumi.Resource;
}

export interface DbtRun {
    runId: pulumi.Output<string>;
    summary: pulumi.Output<string>;
    resource: pulumi.Resource;
}

export interface InsightsCheckRequest {
    component: string;
    /** The coordinator as users reach it, and as the platform's jobs reach it. */
    trino: { url: pulumi.Input<string>; meshHost: pulumi.Input<string>; meshPort: pulumi.Input<number>; caCert: pulumi.Input<string> };
    /** The check's Trino user and password (secret). */
    credentials: pulumi.Input<{ user: string; password: string }>;
    /** The run's tables and the domain tables. */
    targets: pulumi.Input<CheckTargets>;
    /** The dbt run being checked; a new run is checked again. */
    dbtRunId: pulumi.Input<string>;
}

export interface InsightsCheckRun {
    summary: pulumi.Output<string>;
    resource: pulumi.Resource;
}

export interface Platform {
    readonly name: PlatformName;
    /** keytool of a JDK the deployment can run, to make TLS keystores. */
    readonly keytool: string;
    /** Names the platform's own jobs use for the coordinator; its certificate must cover them. */
    readonly trinoHostnames: string[];
    /** False when the platform only writes manifests: nothing runs, so nothing can be read back or published. */
    readonly live: boolean;
    databaseServer(name: string, request: DatabaseServerRequest, opts: pulumi.CustomResourceOptions): DatabaseServer;
    /**
     * How the deploying process reaches a database the stack does not run, at the address Trino
     * reaches it on: through a port-forward when that address is a Service of the cluster, which the
     * deploying machine cannot resolve; undefined when it connects to the address itself.
     */
    tunnelTo(endpoint: { host: string; port: number }): KubeTunnel | undefined;
    domainSetup(name: string, request: DomainSetupRequest, opts: pulumi.CustomResourceOptions): DomainSetup;
    /** The returned resource's id resolves once the catalog tables exist. */
    metastoreSetup(name: string, request: MetastoreSetupRequest, opts: pulumi.CustomResourceOptions): pulumi.CustomResource;
    warehouse(name: string, opts: pulumi.CustomResourceOptions): Warehouse;
    trinoServer(name: string, request: TrinoServerRequest, opts: pulumi.CustomResourceOptions): TrinoServer;
    dbtRun(name: string, request: DbtRunRequest, opts: pulumi.CustomResourceOptions): DbtRun;
    /** The dbt docs site of the published insights; undefined where the platform does not serve one yet. */
    docsSite(name: string, request: DocsSiteRequest, opts: pulumi.CustomResourceOptions): DocsSite | undefined;
    insightsCheck(name: string, request: InsightsCheckRequest, opts: pulumi.CustomResourceOptions): InsightsCheckRun;
}
