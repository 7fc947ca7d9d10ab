import * as pulumi from "@pulumi/pulumi";
import { CatalogSpec, catalogPasswordEnv, domainCatalog } from "../catalogs/trino";
import { ClientTls, clientTls, DomainSpec, Engine } from "../lib/domains";
import { ExternalDatabaseProbe, ExternalReader } from "../resources/externalDatabase";
import { Platform } from "../platforms";
import { MeshDomain } from "./DomainDatabase";
import { GeneratedPassword } from "../resources/password";

export interface ExternalDomainArgs {
    /** The domain's declaration; its `external` part says where the database is and who reads it. */
    domain: DomainSpec;
    /** The read-only user's password, from the configuration key the declaration names (secret); unset when the stack creates the user. */
    password?: pulumi.Input<string>;
    /** The administrator's password, when the declaration names an administrator to create the read-only user (secret). */
    adminPassword?: pulumi.Input<string>;
    /** Where the stack runs: whether it runs anything (a render neither probes the database nor gives it a reader), and how the deploying process reaches the database. */
    platform: Pick<Platform, "live" | "tunnelTo">;
}

/**
 * A domain whose database its team already runs. The stack creates no server, user or table and
 * loads no rows: it checks that the database answers with the declared tables, then gives Trino a
 * catalog for it. The same access rules govern it as a managed domain, so the insights and the
 * check read it the same way.
 */
export class ExternalDomain extends pulumi.ComponentResource implements MeshDomain {
    public readonly engine: pulumi.Output<Engine>;
    public readonly host: pulumi.Output<string>;
    public readonly port: pulumi.Output<number>;
    public readonly database: pulumi.Output<string>;
    /** The read-only user Trino connects as; the domain's team owns it. */
    public readonly user: pulumi.Output<string>;
    /** That user's password (secret). */
    public readonly password: pulumi.Output<string>;
    public readonly tables: pulumi.Output<string[]>;
    /** Rows each table held when the stack last read it. */
    public readonly rowCounts: pulumi.Output<Record<string, number>>;
    /** How Trino reaches the domain; the password travels separately, in `trinoEnv`. */
    public readonly trinoCatalog: pulumi.Output<CatalogSpec>;
    /** The environment variable that carries the reader's password into Trino (secret). */
    public readonly trinoEnv: pulumi.Output<Record<string, string>>;
    /** The TLS the declaration (or the domain stack's product) gives, with its CA; null in clear. */
    public readonly tls: pulumi.Output<ClientTls>;

    constructor(name: string, args: ExternalDomainArgs, opts?: pulumi.ComponentResourceOptions) {
        super("datamesh:index:ExternalDomain", name, {}, opts);
        const { domain } = args;
        const external = domain.external;
        if (!external) {
            throw new Error(`${name}: domain '${domain.name}' (${domain.file}) is not declared external`);
        }
        let password: pulumi.Output<string>;
        let reader: ExternalReader | undefined;
        const { live } = args.platform;
        // Trino's address can be a name only a container network resolves; the deploying process then uses the published port.
        const reached = external.published ?? { host: external.host, port: external.port };
        const tunnel = args.platform.tunnelTo(reached);
        if (external.admin) {
            if (args.adminPassword === undefined) {
                throw new Error(`${name}: domain '${domain.name}' (${domain.file}) names an administrator, but no administrator's password was given`);
            }
            password = pulumi.secret(new GeneratedPassword(`${name}-reader-password`, {}, { parent: this }).value);
            if (live) {
                reader = new ExternalReader(
                    `${name}-reader`,
                    {
                        domainName: domain.name,
                        engine: domain.engine,
                        host: reached.host,
                        port: reached.port,
                        tunnel,
                        database: external.database,
                        schema: domain.trinoSchema,
                        admin: { user: external.admin.user, password: pulumi.secret(args.adminPassword) },
                        reader: { user: external.user, password },
                        tables: domain.tables.map(t => t.name),
                        ...(external.tls ? { tls: external.tls } : {}),
                    },
                    { parent: this },
                );
            }
        } else if (args.password !== undefined) {
            password = pulumi.secret(args.password);
        } else {
            throw new Error(`${name}: domain '${domain.name}' (${domain.file}) needs its reader's password`);
        }
        let probe: ExternalDatabaseProbe | undefined;
        if (live) {
            probe = new ExternalDatabaseProbe(
                `${name}-probe`,
                {
                    domainName: domain.name,
                    engine: domain.engine,
                    host: reached.host,
                    port: reached.port,
                    tunnel,
                    database: external.database,
                    schema: domain.trinoSchema,
                    reader: { user: external.user, password },
                    tables: domain.tables,
                    // null, not absent: the diff compares the keys it is given, and TLS taken away must probe the database again, in clear.
                    tls: external.tls ?? null,
                },
                { parent: this, dependsOn: reader ? [reader] : [] },
            );
        }

        this.engine = pulumi.output(domain.engine);
        this.host = pulumi.output(reached.host);
        this.port = pulumi.output(reached.port);
        this.database = pulumi.output(external.database);
        this.user = pulumi.output(external.user);
        this.password = password;
        this.tables = pulumi.output(domain.tables.map(t => t.name));
        this.rowCounts = probe ? probe.rowCounts : pulumi.output<Record<string, number>>({});
        const passwordEnv = catalogPasswordEnv(domain.name);
        // Tied to the probe, so that Trino is configured for the domain only once its database answered.
        this.trinoCatalog = probe ? probe.id.apply(() => domainCatalog(domain, external)) : pulumi.output(domainCatalog(domain, external));
        this.trinoEnv = pulumi.secret(password.apply(value => ({ [passwordEnv]: value })));
        this.tls = pulumi.output(clientTls(external.tls));

        this.registerOutputs({
            engine: this.engine,
            host: this.host,
            port: this.port,
            database: this.database,
            user: this.user,
            password: this.password,
            tables: this.tables,
            rowCounts: this.rowCounts,
            tls: this.tls,
        });
    }
}
