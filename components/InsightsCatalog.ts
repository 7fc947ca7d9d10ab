import * as pulumi from "@pulumi/pulumi";
import { CatalogSpec, catalogPasswordEnv } from "../catalogs/trino";
import { Platform } from "../platforms";
import { IcebergMetastore } from "../resources/icebergMetastore";
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
        const server = args.platform.databaseServer(`${name}-metastore`, { component: name, engine: "postgresql", port: args.metastorePort, adminPassword: adminPassword.value }, child);
        const database = "iceberg_catalog";
        const connectorUser = "iceberg_trino";
        const jdbcCatalog = new IcebergMetastore(
            `${name}-jdbc-catalog`,
            {
                host: server.host,
                port: server.port,
                admin: { user: server.adminUser, password: server.adminPassword },
                database,
                connector: { user: connectorUser, password: connectorPassword.value },
            },
            { parent: this, dependsOn: [server.resource] },
        );
        const warehouse = args.platform.warehouse(`${name}-warehouse`, child);
        const passwordEnv = catalogPasswordEnv(args.catalogName);

        this.catalogName = pulumi.output(args.catalogName);
        this.warehouse = warehouse.location;
        this.metastore = pulumi.all([server.host, server.port]).apply(([host, port]) => ({ host, port, database }));
        this.trinoCatalog = pulumi.all([server.meshHost, server.meshPort, warehouse.location, jdbcCatalog.id]).apply(
            ([host, port, warehouseDir]): CatalogSpec => ({
                kind: "iceberg",
                name: args.catalogName,
                metastore: { host, port, database, user: connectorUser, passwordEnv },
                warehouseDir,
            }),
        );
        this.trinoEnv = pulumi.secret(connectorPassword.value.apply(password => ({ [passwordEnv]: password })));

        this.registerOutputs({ catalogName: this.catalogName, warehouse: this.warehouse, metastore: this.metastore });
    }
}
