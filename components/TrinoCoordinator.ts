import * as pulumi from "@pulumi/pulumi";
import { CatalogSpec } from "../catalogs/trino";
import { Platform } from "../platforms";

export interface TrinoCoordinatorArgs {
    /** Where the coordinator runs. */
    platform: Platform;
    /** The pinned Trino release, e.g. "476". */
    version: string;
    /** HTTP port of the coordinator. */
    port: number;
    /** JVM maximum heap, e.g. "2G". */
    maxHeap: string;
    /** One catalog per domain plus the insights catalog; each becomes etc/catalog/<name>.properties. */
    catalogs: pulumi.Input<CatalogSpec>[];
    /** The secrets the catalogs reference as ${ENV:...}, set on the Trino process only. */
    secretEnv: pulumi.Input<Record<string, string>>[];
}

/**
 * A Trino coordinator that federates the domains: generated etc/ and catalog files, started and
 * reported created only once `/v1/info` says it is no longer starting.
 */
export class TrinoCoordinator extends pulumi.ComponentResource {
    public readonly url: pulumi.Output<string>;
    public readonly host: pulumi.Output<string>;
    public readonly port: pulumi.Output<number>;
    public readonly version: pulumi.Output<string>;
    public readonly catalogNames: pulumi.Output<string[]>;
    /** The generated etc/ files, by path relative to etc/. */
    public readonly files: pulumi.Output<Record<string, string>>;
    /** The resource to depend on: Trino is ready when it exists. */
    public readonly ready: pulumi.Resource;

    constructor(name: string, args: TrinoCoordinatorArgs, opts?: pulumi.ComponentResourceOptions) {
        super("datamesh:index:TrinoCoordinator", name, {}, opts);
        const catalogs = pulumi.all(args.catalogs);
        const env = pulumi.secret(pulumi.all(args.secretEnv).apply(parts => Object.assign({}, ...parts) as Record<string, string>));
        const server = args.platform.trinoServer(`${name}-server`, { component: name, port: args.port, maxHeap: args.maxHeap, catalogs, env }, { parent: this });
        const expectedVersion = args.version;

        this.url = server.url;
        this.host = server.host;
        this.port = server.port;
        this.version = server.version.apply(running => {
            if (running !== expectedVersion) {
                throw new Error(`${name}: Trino reports version ${running}, but ${expectedVersion} is pinned`);
            }
            return running;
        });
        this.catalogNames = catalogs.apply(list => list.map(c => c.name).sort());
        this.files = server.files;
        this.ready = server.resource;

        this.registerOutputs({ url: this.url, version: this.version, catalogNames: this.catalogNames });
    }
}
