import * as pulumi from "@pulumi/pulumi";
import { DomainAccess, DomainDataLoad } from "../../resources/domainData";
import { IcebergMetastore } from "../../resources/icebergMetastore";
import { InsightsReconciliation } from "../../resources/insightsCheck";
import { DomainSetup, DomainSetupRequest, InsightsCheckRequest, InsightsCheckRun, MetastoreSetupRequest } from "../platform";

/*
 * The steps that run inside a database or against Trino, done from the deploying process over TCP:
 * to the ports that local processes and Docker containers publish, or through a port-forward to a
 * cluster's Service. Data reaches a database this way without passing through size-limited API
 * objects.
 */

export function domainSetupOverTcp(name: string, request: DomainSetupRequest, opts: pulumi.CustomResourceOptions): DomainSetup {
    const { server, domain } = request;
    const access = new DomainAccess(
        `${name}-access`,
        {
            engine: domain.engine,
            host: server.host,
            port: server.port,
            tunnel: server.tunnel,
            tls: server.tls,
            admin: { user: server.adminUser, password: server.adminPassword },
            database: domain.name,
            owner: request.owner,
            reader: request.reader,
            tables: domain.tables,
        },
        { ...opts, dependsOn: [server.resource] },
    );
    const load = new DomainDataLoad(
        `${name}-data`,
        {
            engine: domain.engine,
            host: server.host,
            port: server.port,
            tunnel: server.tunnel,
            tls: server.tls,
            owner: request.owner,
            // Known before the access step runs, so that a preview can tell a reload from a restart.
            database: domain.name,
            domainName: domain.name,
            tables: domain.tables,
            source: request.source,
            fingerprint: request.fingerprint,
        },
        { ...opts, dependsOn: [access] },
    );
    return { database: access.database, rowCounts: load.rowCounts, resource: load };
}

export function metastoreSetupOverTcp(name: string, request: MetastoreSetupRequest, opts: pulumi.CustomResourceOptions): pulumi.CustomResource {
    return new IcebergMetastore(
        name,
        {
            host: request.server.host,
            port: request.server.port,
            tunnel: request.server.tunnel,
            admin: { user: request.server.adminUser, password: request.server.adminPassword },
            database: request.database,
            connector: request.connector,
        },
        { ...opts, dependsOn: [request.server.resource] },
    );
}

export function insightsCheckInProcess(name: string, request: InsightsCheckRequest, opts: pulumi.CustomResourceOptions): InsightsCheckRun {
    const reconciliation = new InsightsReconciliation(
        name,
        {
            component: request.component,
            trino: pulumi.secret(
                pulumi
                    .all([request.trino.url, request.trino.caCert, request.credentials])
                    .apply(([url, caCert, credentials]) => ({ url, caCert, user: credentials.user, password: credentials.password })),
            ),
            targets: request.targets,
            dbtRunId: request.dbtRunId,
        },
        opts,
    );
    return { summary: reconciliation.summary, resource: reconciliation };
}
