import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { renderEtc } from "../../catalogs/trino";
import { PlatformName } from "../../config";
import { DatabaseServer, DatabaseServerRequest, DbtRun, DbtRunRequest, Platform, TrinoServer, TrinoServerRequest, Warehouse } from "../platform";
import { LocalDatabaseServer } from "./databaseServer";
import { LocalDbtRun } from "./dbtRun";
import { LocalDirectory } from "./directory";
import { LocalToolchain } from "./toolchain";
import { LocalTrinoServer } from "./trinoServer";

export interface LocalPlatformArgs {
    /** Folder for every file the stack's processes write; removed by `pulumi destroy`. */
    stateDir: string;
    toolchain: LocalToolchain;
    stack: string;
}

/** Every part runs as a process on this machine, its files under the stack's state folder. */
export class LocalPlatform implements Platform {
    readonly name: PlatformName = "local";
    private readonly stateDir: LocalDirectory;

    constructor(private readonly args: LocalPlatformArgs) {
        this.stateDir = new LocalDirectory("state-dir", { path: args.stateDir });
    }

    private place(name: string): string {
        return path.join(this.args.stateDir, name);
    }

    private withState(opts: pulumi.CustomResourceOptions): pulumi.CustomResourceOptions {
        const dependsOn = opts.dependsOn ? (Array.isArray(opts.dependsOn) ? opts.dependsOn : [opts.dependsOn]) : [];
        return { ...opts, dependsOn: [...(dependsOn as pulumi.Input<pulumi.Resource>[]), this.stateDir] };
    }

    databaseServer(name: string, request: DatabaseServerRequest, opts: pulumi.CustomResourceOptions): DatabaseServer {
        const server = new LocalDatabaseServer(
            name,
            {
                component: request.component,
                engine: request.engine,
                port: request.port,
                workDir: this.place(name),
                programs: request.engine === "postgresql" ? this.args.toolchain.postgres : this.args.toolchain.mariadb,
                adminPassword: request.adminPassword,
            },
            this.withState(opts),
        );
        return {
            host: server.host,
            port: server.port,
            meshHost: server.host,
            meshPort: server.port,
            adminUser: server.adminUser,
            adminPassword: server.adminPassword,
            resource: server,
        };
    }

    warehouse(name: string, opts: pulumi.CustomResourceOptions): Warehouse {
        const dir = new LocalDirectory(name, { path: this.place(name) }, this.withState(opts));
        return { location: dir.path, resource: dir };
    }

    trinoServer(name: string, request: TrinoServerRequest, opts: pulumi.CustomResourceOptions): TrinoServer {
        const workDir = this.place(name);
        const files = pulumi.output(request.catalogs).apply(catalogs =>
            renderEtc({
                node: { environment: "datamesh", nodeId: `${this.args.stack}-${name}`.replace(/[^A-Za-z0-9_-]/g, "-"), dataDir: path.join(workDir, "data"), pluginDir: path.join(this.args.toolchain.trinoHome, "plugin") },
                coordinator: { httpPort: request.port, queryMaxMemory: "1GB", queryMaxMemoryPerNode: "768MB" },
                maxHeap: request.maxHeap,
                catalogs,
            }),
        );
        const trino = new LocalTrinoServer(
            name,
            { component: request.component, port: request.port, trinoHome: this.args.toolchain.trinoHome, javaHome: this.args.toolchain.javaHome, workDir, files, env: request.env },
            this.withState(opts),
        );
        return { url: trino.url, host: pulumi.output("127.0.0.1"), port: pulumi.output(request.port), version: trino.version, files, resource: trino };
    }

    dbtRun(name: string, request: DbtRunRequest, opts: pulumi.CustomResourceOptions): DbtRun {
        const profile = pulumi.all([request.trino.host, request.trino.port]).apply(([host, port]) => request.profile({ host, port }));
        const run = new LocalDbtRun(
            name,
            {
                component: request.component,
                dbtBin: this.args.toolchain.dbtBin,
                projectDir: request.projectDir,
                projectDigest: request.projectDigest,
                dataFingerprint: request.dataFingerprint,
                profile,
                workDir: this.place(name),
                vars: request.vars,
            },
            this.withState(opts),
        );
        return { runId: run.runId, summary: run.summary, resource: run };
    }
}
