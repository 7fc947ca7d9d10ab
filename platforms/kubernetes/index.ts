import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { ExternalS3, ImageKey, PipSettings, PlatformName } from "../../config";
import { KubeTarget, KubeTunnel } from "../../lib/kubectl";
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
import { ENGINE_IMAGES } from "../shared/engineImages";
import { assertPinnedTrinoImage } from "../shared/options";
import { domainSetupOverTcp, metastoreSetupOverTcp } from "../shared/overTcp";
import { Cluster } from "./cluster";
import { WorkerAutoscaling } from "./autoscaler";
import { ClientSources } from "./networkPolicies";
import { databaseServer } from "./databaseServer";
import { docsSite } from "./docsSite";
import { DbtEnvironment, dbtRun, insightsCheck } from "./jobs";
import { dbtToolchain } from "./dbtToolchain";
import { serviceOfHost } from "./names";
import { kubernetesTrinoHostnames, trinoServer } from "./trino";
import { externalWarehouse, seaweedfsWarehouse } from "./warehouse";

export { resolveKubeTarget } from "./cluster";
export { kubernetesTrinoHostnames } from "./trino";

/*
 * The mesh in one namespace of a cluster. Servers are StatefulSets with their own volume claims
 * (domain databases, the Iceberg metastore, the SeaweedFS warehouse); Trino is laid out as the Helm
 * chart lays it out; dbt and the check run as Jobs. The deploying machine loads the domains' rows
 * and reads back what runs through port-forwards, as a person would with kubectl, so no data set is
 * limited by what an API object holds. Credentials live in Secrets only.
 */

export interface KubernetesPlatformArgs {
    stack: string;
    namespace: string;
    /** A domain stack's: the namespace of the mesh whose Trino alone may reach its database servers; unset, the stack's own Trino does. */
    meshNamespace?: string;
    /** Label the namespace to enforce the restricted Pod Security Standard. */
    podSecurityLabel: boolean;
    /** Seconds a worker asked to shut down waits before and after its running tasks. */
    workerGracePeriodSeconds: number;
    /** Who may reach Trino's and the docs site's Services from outside the stack; anyone when unset. */
    allowedClients?: ClientSources[];
    /** Workers scaled on CPU between min and max; a fixed count when unset. */
    workerAutoscaling?: WorkerAutoscaling;
    images: Record<ImageKey, string>;
    /** Where the dbt and docs Jobs find dbt: a volume the stack installs the lock file into, or the dbt image itself. */
    dbtToolchain: "volume" | "image";
    /** Where the toolchain's install Job fetches the locked packages. */
    pip: PipSettings;
    /** Write manifests to this folder instead of applying them. */
    renderYamlTo?: string;
    /** The live cluster; checked reachable before any resource. Unset when rendering. */
    target?: KubeTarget;
    /** The user's own S3 store for the insights; unset runs SeaweedFS in the namespace. */
    externalWarehouse?: ExternalS3;
    keytool: string;
    trinoVersion: string;
}

export class KubernetesPlatform implements Platform {
    readonly name: PlatformName = "kubernetes";
    readonly keytool: string;
    readonly trinoHostnames: string[];
    readonly live: boolean;
    private readonly cluster: Cluster;
    private dbtEnvironment?: DbtEnvironment;

    constructor(private readonly args: KubernetesPlatformArgs) {
        assertPinnedTrinoImage(args.images.trinoImage, args.trinoVersion);
        this.keytool = args.keytool;
        this.trinoHostnames = kubernetesTrinoHostnames(args.namespace);
        this.cluster = new Cluster({ stack: args.stack, namespace: args.namespace, podSecurityLabel: args.podSecurityLabel, renderYamlTo: args.renderYamlTo, target: args.target });
        this.live = this.cluster.target !== undefined;
    }

    databaseServer(name: string, request: DatabaseServerRequest, opts: pulumi.CustomResourceOptions): DatabaseServer {
        return databaseServer(this.cluster, { image: this.args.images[ENGINE_IMAGES[request.engine].image], meshNamespace: this.args.meshNamespace }, name, request, opts);
    }

    tunnelTo(endpoint: { host: string; port: number }): KubeTunnel | undefined {
        const target = this.cluster.target;
        const service = serviceOfHost(endpoint.host);
        return target && service ? { ...target, ...service, port: endpoint.port } : undefined;
    }

    domainSetup(name: string, request: DomainSetupRequest, opts: pulumi.CustomResourceOptions): DomainSetup {
        if (!this.cluster.target) {
            // A render writes manifests only; rows are loaded by a live deploy.
            return { database: pulumi.output(request.domain.name), rowCounts: pulumi.output(undefined), resource: request.server.resource as pulumi.CustomResource };
        }
        return domainSetupOverTcp(name, request, opts);
    }

    metastoreSetup(name: string, request: MetastoreSetupRequest, opts: pulumi.CustomResourceOptions): pulumi.CustomResource {
        return this.cluster.target ? metastoreSetupOverTcp(name, request, opts) : (request.server.resource as pulumi.CustomResource);
    }

    warehouse(name: string, opts: pulumi.CustomResourceOptions): Warehouse {
        return this.args.externalWarehouse
            ? externalWarehouse(name, this.args.externalWarehouse, opts)
            : seaweedfsWarehouse(this.cluster, this.args.images.seaweedfsImage, name, opts);
    }

    trinoServer(_name: string, request: TrinoServerRequest, opts: pulumi.CustomResourceOptions): TrinoServer {
        return trinoServer(this.cluster, { image: this.args.images.trinoImage, workerGracePeriodSeconds: this.args.workerGracePeriodSeconds, clients: this.args.allowedClients, autoscaling: this.args.workerAutoscaling }, request, opts);
    }

    docsSite(name: string, request: DocsSiteRequest, opts: pulumi.CustomResourceOptions): DocsSite {
        return docsSite(this.cluster, { server: this.args.images.docsImage, dbt: this.dbt(name, request.run, opts), clients: this.args.allowedClients }, name, request, opts);
    }

    dbtRun(name: string, request: DbtRunRequest, opts: pulumi.CustomResourceOptions): DbtRun {
        return dbtRun(this.cluster, this.dbt(name, request, opts), name, request, opts);
    }

    /** dbt for the dbt and docs Jobs; one toolchain volume serves both, made by whichever asks first. */
    private dbt(name: string, request: DbtRunRequest, opts: pulumi.CustomResourceOptions): DbtEnvironment {
        if (!this.dbtEnvironment) {
            const image = this.args.images.dbtImage;
            this.dbtEnvironment =
                this.args.dbtToolchain === "volume"
                    ? {
                          image,
                          toolchain: dbtToolchain(
                              this.cluster,
                              `${name}-toolchain`,
                              { component: request.component, image, requirements: fs.readFileSync(path.join(request.toolchainDir, "requirements.txt"), "utf8"), pip: this.args.pip },
                              // The install needs only its package index: it runs while the databases and Trino start, not after them.
                              { ...opts, dependsOn: [] },
                          ),
                      }
                    : { image };
        }
        return this.dbtEnvironment;
    }

    insightsCheck(name: string, request: InsightsCheckRequest, opts: pulumi.CustomResourceOptions): InsightsCheckRun {
        return insightsCheck(this.cluster, this.args.images.trinoImage, name, request, opts);
    }
}
