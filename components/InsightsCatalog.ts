import * as pulumi from "@pulumi/pulumi";
import { CatalogSpec, catalogPasswordEnv } from "../catalogs/trino";
import { Platform } from "../platforms";
import { GeneratedPassword } from "../resources/password";

export interface InsightsCatalogArgs {
    /** Where the metastore database and the warehouse live. */
    platform: Platform;
    /** Trino catalog name of the insights. */
    catalogName: string;
    /** Port of the PostgreSQL server that holds the Iceberg JDBC catalog. */
    metastorePort: number;
}

/**
 * The persisted home of the insights: an Iceberg catalog whose table and view pointers live in a
 * PostgreSQL database and whose files live in a warehouse folder. Unlike Trino's JDBC connectors it
 * supports views, and unlike the memory connector it survives restarts and re-deploys.
 */
export class InsightsCatalog extends pulumi.ComponentResource {
    public readonly catalogName: pulumi.Output<string>;
    /** Where the Iceberg files live: a folder, or a bucket every Trino node reaches. */
    public readonly warehouse: pulumi.Output<string>;
    public readonly metastore: pulumi.Output<{ host: string; port: number; database: string }>;
    /** How Trino reaches the catalog; the password travels separately, in `trinoEnv`. */
    public readonly trinoCatalog: pulumi.Output<CatalogSpec>;
    /** The metastore password for Trino's environment (secret). */
    public readonly trinoEnv: pulumi.Output<Record<string, string>>;

    constructor(name: string, args: InsightsCatalogArgs, opts?: pulumi.ComponentResourceOptions) {
        super("datamesh:index:InsightsCatalog", name, {}, opts);
        const child = { parent: this };
        const adminPassword = new GeneratedPassword(`${name}-admin-password`, {}, child);
        const connectorPassword = new GeneratedPassword(`${name}-connector-password`, {}, child);
        // In clear: it holds Iceberg's table pointers, no domain row, and the stack's TLS work so far covers the domains' servers.
        const server = args.platform.databaseServer(`${name}-metastore`, { component: name, engine: "postgresql", port: args.metastorePort, adminPassword: adminPassword.value, tls: false }, child);
        const database = "iceberg_catalog";
        const connectorUser = "iceberg_trino";
        const jdbcCatalog = args.platform.metastoreSetup(
            `${name}-jdbc-catalog`,
            { component: name, server, database, connector: { user: connectorUser, password: connectorPassword.value } },
            child,
        );
        const warehouse = args.platform.warehouse(`${name}-warehouse`, child);
        const passwordEnv = catalogPasswordEnv(args.catalogName);

        this.catalogName = pulumi.output(args.catalogName);
        this.warehouse = warehouse.storage.apply(storage => (storage.kind === "local" ? storage.dir : `s3://${storage.bucket}/ at ${storage.endpoint}`));
        this.metastore = pulumi.all([server.host, server.port]).apply(([host, port]) => ({ host, port, database }));
        // Tied to the catalog tables so that Trino starts once they exist.
        this.trinoCatalog = pulumi.all([server.meshHost, server.meshPort, warehouse.storage, jdbcCatalog.id]).apply(
            ([host, port, storage]): CatalogSpec => ({
                kind: "iceberg",
                name: args.catalogName,
                metastore: { host, port, database, user: connectorUser, passwordEnv },
                warehouse: storage,
            }),
        );
        this.trinoEnv = pulumi.secret(pulumi.all([connectorPassword.value, warehouse.trinoEnv]).apply(([password, storageEnv]) => ({ ...storageEnv, [passwordEnv]: password })));

        this.registerOutputs({ catalogName: this.catalogName, warehouse: this.warehouse, metastore: this.metastore });
    }
}
