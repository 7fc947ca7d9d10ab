import * as pulumi from "@pulumi/pulumi";
import { DatabaseServer, DatabaseServerRequest } from "../platform";
import { ENGINE_IMAGES } from "../shared/engineImages";
import { withDependencies } from "../shared/options";
import { Cluster } from "./cluster";
import { TRINO_NODES } from "./trino";
import { podsOf, podsOfNamespace } from "./networkPolicies";
import { IMAGE_USERS } from "./podSecurity";
import { singleServer } from "./singleServer";
import { RESOURCE_SIZES } from "./sizing";

/** Where each engine's image writes besides its data folder: the server's socket and temporary files. */
const SCRATCH = { postgresql: ["/var/run/postgresql", "/tmp"], mariadb: ["/run/mysqld", "/tmp"] };

export interface DatabaseServerSettings {
    /** The engine's image. */
    image: string;
    /** A domain stack's: the namespace of the mesh whose Trino reads the server; unset, the stack's own Trino does. */
    meshNamespace?: string;
}

/** A domain's database server: the engine's official image, its admin password from a Secret. */
export function databaseServer(cluster: Cluster, settings: DatabaseServerSettings, name: string, request: DatabaseServerRequest, opts: pulumi.CustomResourceOptions): DatabaseServer {
    const { image, meshNamespace } = settings;
    const engine = ENGINE_IMAGES[request.engine];
    const postgres = request.engine === "postgresql";
    const adminSecret = cluster.secret(`${name}-admin`, request.component, "database", { password: request.adminPassword }, opts);
    const { service, ready } = singleServer(
        cluster,
        name,
        {
            component: request.component,
            role: "database",
            container: {
                name: request.engine,
                image,
                env: [
                    { name: engine.adminPasswordEnv, valueFrom: { secretKeyRef: { name: adminSecret.metadata.name, key: "password" } } },
                    // A volume's root holds lost+found, which initdb refuses as a data directory.
                    ...(postgres ? [{ name: "PGDATA", value: `${engine.dataDir}/pgdata` }] : []),
                ],
                // Over TCP: while the images initialise, their temporary servers listen on a socket only.
                readinessProbe: postgres
                    ? { exec: { command: ["pg_isready", "-h", "127.0.0.1", "-U", engine.adminUser] }, periodSeconds: 5 }
                    : { tcpSocket: { port: engine.port }, periodSeconds: 5 },
            },
            port: { name: "sql", number: engine.port },
            dataDir: engine.dataDir,
            storage: "1Gi",
            size: RESOURCE_SIZES.database,
            user: IMAGE_USERS[request.engine],
            scratch: SCRATCH[request.engine],
            clients: TRINO_NODES.map(role => (meshNamespace ? podsOfNamespace(meshNamespace, role) : podsOf(cluster, role))),
        },
        withDependencies(opts, adminSecret),
    );
    // Known once the server is up, so whatever uses the name waits for it.
    const serviceName = pulumi.all([service.metadata.name, ready.urn]).apply(([serviceName]) => serviceName);
    const host = serviceName.apply(n => cluster.serviceHost(n));
    return {
        host,
        port: pulumi.output(engine.port),
        meshHost: host,
        meshPort: pulumi.output(engine.port),
        adminUser: pulumi.output(engine.adminUser),
        adminPassword: pulumi.secret(pulumi.output(request.adminPassword)),
        tunnel: cluster.tunnel(serviceName, engine.port),
        resource: ready,
    };
}
