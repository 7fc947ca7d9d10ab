import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { PlatformName } from "../../config";
import {
    DatabaseServer,
    DatabaseServerRequest,
    DbtRun,
    DbtRunRequest,
    DocsSite,
    DocsSiteRequest,
    DomainSetup,
    DomainSetupRequest,
    InsightsCheckRequest,
    InsightsCheckRun,
    MetastoreSetupRequest,
    Platform,
    TrinoServer,
    TrinoServerRequest,
    Warehouse,
} from "../platform";
import { directAccess, withDependencies } from "../shared/options";
import { trinoEtc } from "../shared/trinoEtc";
import { domainSetupOverTcp, insightsCheckInProcess, metastoreSetupOverTcp } from "../shared/overTcp";
import { LocalDatabaseServer } from "./databaseServer";
import { LocalDbtRun } from "./dbtRun";
import { DBT_PASSWORD_ENV, dbtProfile } from "../shared/dbtProfile";
import { LocalDocsSite } from "./docsSite";
import { LocalDirectory } from "./directory";
import { LocalToolchain } from "./toolchain";
import { LocalTrinoServer } from "./trinoServer";
import { StackServerTls } from "../shared/serverTls";

export interface LocalPlatformArgs {
    /** Folder for every file the stack's processes write; removed by `pulumi destroy`. */
    stateDir: string;
    toolchain: LocalToolchain;
    stack: string;
}

/** Every part runs as a process on this machine, its files under the stack's state folder. */
export class LocalPlatform implements Platform {
    readonly name: PlatformName = "local";
    readonly keytool: string;
    readonly trinoHostnames: string[] = [];
    readonly live = true;
    private readonly stateDir: LocalDirectory;
    private readonly serverTls: StackServerTls;

    constructor(private readonly args: LocalPlatformArgs) {
        this.keytool = path.join(args.toolchain.javaHome, "bin", "keytool");
        this.stateDir = new LocalDirectory("state-dir", { path: args.stateDir });
        this.serverTls = new StackServerTls(args.stack);
    }

    private place(name: string): string {
        return path.join(this.args.stateDir, name);
    }

    private withState(opts: pulumi.CustomResourceOptions): pulumi.CustomResourceOptions {
        return withDependencies(opts, this.stateDir);
    }

    databaseServer(name: string, request: DatabaseServerRequest, opts: pulumi.CustomResourceOptions): DatabaseServer {
        // localhost beside the address: mysql2 checks a certificate against 'localhost' when it connects to an address.
        const tls = request.tls ? this.serverTls.issue(name, request.component, { hostnames: ["localhost"], ipAddresses: ["127.0.0.1"] }, opts) : undefined;
        const server = new LocalDatabaseServer(
            name,
            {
                component: request.component,
                engine: request.engine,
                port: request.port,
                workDir: this.place(name),
                programs: request.engine === "postgresql" ? this.args.toolchain.postgres : this.args.toolchain.mariadb,
                adminPassword: request.adminPassword,
                ...(tls ? { tls: tls.keyPair, caPem: tls.caPem } : {}),
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
            ...(tls ? { tls: tls.tls } : {}),
            resource: server,
        };
    }

    /** Trino and the deploying process run on one machine: a database answers both at one address. */
    tunnelTo(): undefined {
        return undefined;
    }

    domainSetup(name: string, request: DomainSetupRequest, opts: pulumi.CustomResourceOptions): DomainSetup {
        return domainSetupOverTcp(name, request, opts);
    }

    metastoreSetup(name: string, request: MetastoreSetupRequest, opts: pulumi.CustomResourceOptions): pulumi.CustomResource {
        return metastoreSetupOverTcp(name, request, opts);
    }

    warehouse(name: string, opts: pulumi.CustomResourceOptions): Warehouse {
        const dir = new LocalDirectory(name, { path: this.place(name) }, this.withState(opts));
        return { storage: dir.path.apply(path => ({ kind: "local" as const, dir: path })), trinoEnv: pulumi.output<Record<string, string>>({}), resource: dir };
    }

    insightsCheck(name: string, request: InsightsCheckRequest, opts: pulumi.CustomResourceOptions): InsightsCheckRun {
        return insightsCheckInProcess(name, request, opts);
    }

    trinoServer(name: string, request: TrinoServerRequest, opts: pulumi.CustomResourceOptions): TrinoServer {
        const workDir = this.place(name);
        const etcDir = path.join(workDir, "etc");
        const etc = trinoEtc(request, {
            node: { environment: "datamesh", nodeId: `${this.args.stack}-${name}`.replace(/[^A-Za-z0-9_-]/g, "-"), dataDir: path.join(workDir, "data"), pluginDir: path.join(this.args.toolchain.trinoHome, "plugin"), loopbackOnly: true },
            etcDir,
            httpsPort: request.port,
            internalPort: request.internalPort,
            classArchive: this.args.toolchain.trinoClassArchive,
        });
        const trino = new LocalTrinoServer(
            name,
            {
                component: request.component,
                port: request.port,
                internalPort: request.internalPort,
                trinoHome: this.args.toolchain.trinoHome,
                javaHome: this.args.toolchain.javaHome,
                workDir,
                files: etc.coordinator,
                secretFiles: pulumi.secret(
                    pulumi.all([request.keystore.base64, etc.secretFiles]).apply(([keystore, secretFiles]) => ({
                        [request.keystore.file]: keystore,
                        ...Object.fromEntries(Object.entries(secretFiles).map(([file, text]) => [file, Buffer.from(text).toString("base64")])),
                    })),
                ),
                env: request.env,
                probe: request.probe,
                caCert: request.caCert,
            },
            this.withState(opts),
        );
        const host = pulumi.output("127.0.0.1");
        const port = pulumi.output(request.port);
        return { url: trino.url, host, port, meshHost: host, meshPort: port, version: trino.version, access: directAccess, resource: trino };
    }

    /** Where each dbt run's files are, by the run's component: its docs site starts from the run's parse. */
    private readonly dbtTargets = new Map<string, string>();

    /**
     * Where dbt finds Trino's certificate, for a run and its docs alike: the path is part of the profile, and
     * dbt takes up a parse it saved only under the same profile.
     */
    private trinoCaFile(component: string): string {
        return this.place(`${component}-trino-ca.pem`);
    }

    dbtRun(name: string, request: DbtRunRequest, opts: pulumi.CustomResourceOptions): DbtRun {
        const workDir = this.place(name);
        const caCertFile = this.trinoCaFile(request.component);
        const profile = dbtProfile(request, request.runSchema, caCertFile);
        this.dbtTargets.set(request.component, path.join(workDir, "target"));
        const run = new LocalDbtRun(
            name,
            {
                component: request.component,
                dbtBin: this.args.toolchain.dbtBin,
                projectDir: request.projectDir,
                projectDigest: request.projectDigest,
                defersModelEdits: request.defersModelEdits,
                runSchema: request.runSchema,
                sourcesDigest: request.sourcesDigest,
                profile,
                caCert: request.trino.caCert,
                caCertFile,
                env: pulumi.secret(pulumi.output(request.password).apply(password => ({ [DBT_PASSWORD_ENV]: password }))),
                workDir,
                vars: request.vars,
            },
            this.withState(opts),
        );
        return { runId: run.runId, summary: run.summary, resource: run };
    }

    docsSite(name: string, request: DocsSiteRequest, opts: pulumi.CustomResourceOptions): DocsSite {
        const workDir = this.place(name);
        const { run } = request;
        const caCertFile = this.trinoCaFile(run.component);
        const profile = dbtProfile(run, request.publishedRun, caCertFile);
        const site = new LocalDocsSite(
            name,
            {
                component: request.component,
                port: request.port,
                dbtBin: this.args.toolchain.dbtBin,
                projectDir: run.projectDir,
                profile,
                caCert: run.trino.caCert,
                caCertFile,
                env: pulumi.secret(pulumi.output(run.password).apply(password => ({ [DBT_PASSWORD_ENV]: password }))),
                vars: run.vars,
                publishedRun: request.publishedRun,
                projectDigest: run.projectDigest,
                workDir,
                runTargetDir: this.dbtTargets.get(run.component) ?? "",
            },
            this.withState(opts),
        );
        return { url: site.url, resource: site };
    }
}
