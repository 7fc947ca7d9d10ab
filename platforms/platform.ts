import * as pulumi from "@pulumi/pulumi";
import { CatalogSpec } from "../catalogs/trino";
import { PlatformName } from "../config";
import { Engine } from "../lib/domains";
import { SourceTable } from "../lib/sourceSchema";

/*
 * The seam between the components and where they run. A component asks its platform for a
 * database server, a warehouse, a Trino server or a dbt run, and gets back endpoints; it never
 * asks which platform it has.
 */

export interface DatabaseServerRequest {
    /** Names the owning component in errors, e.g. "customers". */
    component: string;
    engine: Engine;
    /** The port users and the deployment reach the server on. */
    port: number;
    adminPassword: pulumi.Input<string>;
}

export interface DatabaseServer {
    /** The address users and the deployment use. */
    host: pulumi.Output<string>;
    port: pulumi.Output<number>;
    /** The address Trino uses, which can differ from the user's (container names, services). */
    meshHost: pulumi.Output<string>;
    meshPort: pulumi.Output<number>;
    adminUser: pulumi.Output<string>;
    adminPassword: pulumi.Output<string>;
    /** The resource to depend on: the server is up when it is created. */
    resource: pulumi.Resource;
}

export interface Warehouse {
    /** Folder for Iceberg files as Trino sees it. */
    location: pulumi.Output<string>;
    resource: pulumi.Resource;
}

export interface TrinoServerRequest {
    component: string;
    /** HTTPS port for clients. */
    port: number;
    /** Plain HTTP port for the coordinator's internal calls only. */
    internalPort: number;
    maxHeap: string;
    catalogs: pulumi.Input<CatalogSpec[]>;
    /** Variables that Trino's files reference with ${ENV:...}: the only way secrets reach Trino. */
    env: pulumi.Input<Record<string, pulumi.Input<string>>>;
    /** The name of the variable in `env` that holds the internal shared secret. */
    sharedSecretEnv: string;
    /** The keystore: its file name in etc/, its content base64 (secret), and the variable in `env` with its password, if any. */
    keystore: { file: string; base64: pulumi.Input<string>; passwordEnv?: string };
    /** The certificate clients trust, PEM. */
    caCert: pulumi.Input<string>;
    /** Trino's users with bcrypt hashes of their passwords. */
    users: pulumi.Input<{ user: string; bcryptHash: string }[]>;
    /** The access control rules file. */
    accessRules: pulumi.Input<string>;
    /** A user that may run `SELECT 1`, to prove the coordinator ready. */
    probe: pulumi.Input<{ user: pulumi.Input<string>; password: pulumi.Input<string> }>;
}

export interface TrinoServer {
    url: pulumi.Output<string>;
    host: pulumi.Output<string>;
    port: pulumi.Output<number>;
    version: pulumi.Output<string>;
    resource: pulumi.Resource;
}

export interface DbtRunRequest {
    component: string;
    projectDir: string;
    projectDigest: string;
    dataFingerprint: pulumi.Input<string>;
    /** profiles.yml for the coordinator as the platform's dbt process reaches it, and where it finds the CA file. */
    profile: (trino: { host: string; port: number; caCertFile: string; passwordEnv: string }) => string;
    /** The coordinator's address as the deployment sees it, and the certificate to trust. */
    trino: { host: pulumi.Output<string>; port: pulumi.Output<number>; caCert: pulumi.Input<string> };
    /** dbt's Trino password (secret); it reaches dbt through its environment only. */
    password: pulumi.Input<string>;
    vars: Record<string, string>;
    /** The coordinator's URL and the source tables whose columns the job watches between runs. */
    watch: { url: pulumi.Input<string>; user: string; sources: SourceTable[] };
}

export interface DbtRun {
    runId: pulumi.Output<string>;
    summary: pulumi.Output<string>;
    resource: pulumi.Resource;
}

export interface Platform {
    readonly name: PlatformName;
    /** keytool of a JDK the deployment can run, to make TLS keystores. */
    readonly keytool: string;
    databaseServer(name: string, request: DatabaseServerRequest, opts: pulumi.CustomResourceOptions): DatabaseServer;
    warehouse(name: string, opts: pulumi.CustomResourceOptions): Warehouse;
    trinoServer(name: string, request: TrinoServerRequest, opts: pulumi.CustomResourceOptions): TrinoServer;
    dbtRun(name: string, request: DbtRunRequest, opts: pulumi.CustomResourceOptions): DbtRun;
}
