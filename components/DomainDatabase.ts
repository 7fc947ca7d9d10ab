import * as pulumi from "@pulumi/pulumi";
import { CatalogSpec, catalogPasswordEnv, domainCatalog } from "../catalogs/trino";
import { DataSource } from "../lib/dataset";
import { ClientTls, clientTls, DatabaseTls, DomainSpec, Engine } from "../lib/domains";
import { Platform } from "../platforms";
import { GeneratedPassword } from "../resources/password";

/** What the mesh needs of a domain, managed or external: how to reach it, what it holds, and Trino's catalog for it. */
export interface MeshDomain extends pulumi.Resource {
    engine: pulumi.Output<Engine>;
    host: pulumi.Output<string>;
    port: pulumi.Output<number>;
    database: pulumi.Output<string>;
    /** Who the `domains` output names: a managed domain's owner, an external domain's reader. */
    user: pulumi.Output<string>;
    /** That user's password (secret). */
    password: pulumi.Output<string>;
    tables: pulumi.Output<string[]>;
    rowCounts: pulumi.Output<Record<string, number>>;
    /** How Trino reaches the domain; the password travels separately, in `trinoEnv`. */
    trinoCatalog: pulumi.Output<CatalogSpec>;
    /** The environment variable that carries Trino's password for the domain (secret). */
    trinoEnv: pulumi.Output<Record<string, string>>;
    /** How a client must connect to the database: the TLS mode and the CA certificate it checks the server against; null in clear. */
    tls: pulumi.Output<ClientTls>;
}

export interface DomainDatabaseArgs {
    /** The domain's declaration: engine, owner, tables and columns. */
    domain: DomainSpec;
    /** Where the domain's server runs. */
    platform: Platform;
    /** Port the domain's server listens on. */
    port: number;
    /** Where the domain's rows come from. */
    dataSource: DataSource;
    /** Changes exactly when the domain's data changes; a new value reloads its tables. */
    dataFingerprint: string;
    /** Refuse to delete the server, its users and its rows (`pulumi destroy` fails instead). */
    protect: boolean;
}

/**
 * One domain of the mesh in a database of its own: the server instance, the database, an owner
 * user who holds the data, a read-only user for Trino, the tables and their rows.
 */
export class DomainDatabase extends pulumi.ComponentResource implements MeshDomain {
    public readonly engine: pulumi.Output<Engine>;
    public readonly host: pulumi.Output<string>;
    public readonly port: pulumi.Output<number>;
    public readonly database: pulumi.Output<string>;
    /** The domain owner, who owns and loads the tables. */
    public readonly user: pulumi.Output<string>;
    /** The owner's password (secret). */
    public readonly password: pulumi.Output<string>;
    /** The read-only user Trino connects as. */
    public readonly readerUser: pulumi.Output<string>;
    /** That user's password (secret). */
    public readonly readerPassword: pulumi.Output<string>;
    /** Where Trino reaches the server, which on some platforms is not where the deploying process does. */
    public readonly endpoint: pulumi.Output<{ host: string; port: number }>;
    /** The container network of its own the server is on, which the mesh's Trino joins; unset where Trino needs none. */
    public readonly network?: pulumi.Output<string>;
    public readonly tables: pulumi.Output<string[]>;
    public readonly rowCounts: pulumi.Output<Record<string, number>>;
    /** How Trino reaches the domain; the password travels separately, in `trinoEnv`. */
    public readonly trinoCatalog: pulumi.Output<CatalogSpec>;
    /** The environment variable that carries the reader's password into Trino (secret). */
    public readonly trinoEnv: pulumi.Output<Record<string, string>>;
    /** TLS checked against the stack's CA where the platform serves it; null where the server speaks in clear. */
    public readonly tls: pulumi.Output<ClientTls>;
    /** The same, with the CA as Trino's catalog and the loaders take it. */
    public readonly databaseTls: pulumi.Output<DatabaseTls | undefined>;

    constructor(name: string, args: DomainDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
        super("datamesh:index:DomainDatabase", name, {}, opts);
        const { domain } = args;
        const child = { parent: this };
        const adminPassword = new GeneratedPassword(`${name}-admin-password`, {}, child);
        const ownerPassword = new GeneratedPassword(`${name}-owner-password`, {}, child);
        const readerPassword = new GeneratedPassword(`${name}-reader-password`, {}, child);
        const ownerUser = domain.owner;
        const readerUser = `${domain.name}_trino`;

        const keep = { parent: this, protect: args.protect };
        const server = args.platform.databaseServer(`${name}-server`, { component: name, engine: domain.engine, port: args.port, adminPassword: adminPassword.value, tls: true }, keep);
        const setup = args.platform.domainSetup(
            name,
            {
                component: name,
                server,
                domain,
                owner: { user: ownerUser, password: ownerPassword.value },
                reader: { user: readerUser, password: readerPassword.value },
                source: args.dataSource,
                fingerprint: args.dataFingerprint,
            },
            keep,
        );

        this.engine = pulumi.output(domain.engine);
        this.host = server.host;
        this.port = server.port;
        this.database = setup.database;
        this.user = pulumi.output(ownerUser);
        this.password = pulumi.secret(ownerPassword.value);
        this.readerUser = pulumi.output(readerUser);
        this.readerPassword = pulumi.secret(readerPassword.value);
        this.endpoint = pulumi.all([server.meshHost, server.meshPort]).apply(([host, port]) => ({ host, port }));
        this.network = server.network;
        this.tables = pulumi.output(domain.tables.map(t => t.name));
        this.rowCounts = setup.rowCounts.apply(counts => counts ?? {});
        const passwordEnv = catalogPasswordEnv(domain.name);
        // Not tied to the data load: Trino connects to a catalog only when queried, so it starts while
        // the domains load, and what reads the domains (the fingerprint, dbt) waits for the loads itself.
        this.databaseTls = server.tls ?? pulumi.output(undefined);
        this.tls = this.databaseTls.apply(clientTls);
        this.trinoCatalog = pulumi
            .all([server.meshHost, server.meshPort, this.databaseTls])
            .apply(([host, port, tls]) => domainCatalog(domain, { host, port, database: domain.name, user: readerUser, ...(tls ? { tls } : {}) }));
        this.trinoEnv = pulumi.secret(readerPassword.value.apply(password => ({ [passwordEnv]: password })));

        this.registerOutputs({
            engine: this.engine,
            host: this.host,
            port: this.port,
            database: this.database,
            user: this.user,
            password: this.password,
            readerUser: this.readerUser,
            readerPassword: this.readerPassword,
            endpoint: this.endpoint,
            network: this.network,
            tables: this.tables,
            rowCounts: this.rowCounts,
            tls: this.tls,
        });
    }
}
