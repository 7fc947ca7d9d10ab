import { CONFIG_NAMESPACE, ConfigError, MeshConfig, PlatformName } from "../config";
import { assertCertificateCovers } from "../lib/certificates";
import { LocalPlatform } from "./local";
import { findLocalToolchain } from "./local/toolchain";
import { Platform } from "./platform";
import * as path from "path";

export { Platform } from "./platform";

export interface PlatformContext {
    config: MeshConfig;
    projectDir: string;
    trinoVersion: string;
}

/** How to make each platform, and the names its own jobs use for Trino, known before it exists. */
interface PlatformFactory {
    trinoHostnames(config: MeshConfig): string[];
    /** Whether its Trino can join a domain stack's container network, the only way to a domain stack's server on docker. */
    joinsDomainNetworks: boolean;
    create(context: PlatformContext): Platform;
}

/** The platforms that run in containers still make the stack's certificate on the deploying machine. */
function deployerKeytool(): string {
    return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, "bin", "keytool") : "keytool";
}

// Loaded only for the platform a stack selects: the Kubernetes SDK alone takes most of a second
// to load, which every `pulumi up` of a local stack would otherwise pay.
const dockerModule = (): typeof import("./docker") => require("./docker");
const kubernetesModule = (): typeof import("./kubernetes") => require("./kubernetes");

const PLATFORM_FACTORIES: Record<PlatformName, PlatformFactory> = {
    local: {
        trinoHostnames: () => [],
        joinsDomainNetworks: false,
        create: context =>
            new LocalPlatform({
                stateDir: context.config.stateDir,
                stack: context.config.stack,
                toolchain: findLocalToolchain({ cacheDir: context.config.cacheDir, trinoVersion: context.trinoVersion, projectDir: context.projectDir }),
            }),
    },
    docker: {
        trinoHostnames: () => dockerModule().dockerTrinoHostnames(),
        joinsDomainNetworks: true,
        create: context =>
            new (dockerModule().DockerPlatform)({
                stack: context.config.stack,
                images: context.config.images,
                pip: context.config.pip,
                buildNetwork: context.config.dockerBuildNetwork,
                stateDir: context.config.stateDir,
                keytool: deployerKeytool(),
                trinoVersion: context.trinoVersion,
                domainStack: context.config.role === "domain",
            }),
    },
    kubernetes: {
        trinoHostnames: config => kubernetesModule().kubernetesTrinoHostnames(config.namespace),
        joinsDomainNetworks: false,
        create: context =>
            new (kubernetesModule().KubernetesPlatform)({
                stack: context.config.stack,
                namespace: context.config.namespace,
                meshNamespace: context.config.meshNamespace,
                podSecurityLabel: context.config.podSecurityLabel,
                workerGracePeriodSeconds: context.config.workerGracePeriodSeconds,
                allowedClients: context.config.allowedClients,
                workerAutoscaling: context.config.workerAutoscaling,
                images: context.config.images,
                dbtToolchain: context.config.dbtToolchain,
                pip: context.config.pip,
                renderYamlTo: context.config.renderYamlTo,
                target: context.config.renderYamlTo ? undefined : kubernetesModule().resolveKubeTarget({ kubeconfig: context.config.kubeconfig, context: context.config.kubeContext, env: process.env }),
                externalWarehouse: context.config.externalWarehouse,
                keytool: deployerKeytool(),
                trinoVersion: context.trinoVersion,
            }),
    },
};

/**
 * A domain stack's server is on docker exactly when it is on a container network of its own: only
 * a mesh on docker can join that network, and a mesh on docker reaches nothing outside its engine
 * but what answers both its containers and the deploying machine at one address.
 */
function assertReachesDomainStacks(config: MeshConfig, factory: PlatformFactory): void {
    const problems = config.domains.flatMap(domain => {
        if (!domain.source.startsWith("stack:") || Boolean(domain.external?.network) === factory.joinsDomainNetworks) {
            return [];
        }
        const stack = domain.source.slice("stack:".length);
        return [
            domain.external?.network
                ? `${CONFIG_NAMESPACE}:domainStacks: domain stack '${stack}' runs its server on docker, on the network ${domain.external.network}, which only a mesh on docker can join; this mesh is on ${config.platform}`
                : `${CONFIG_NAMESPACE}:domainStacks: domain stack '${stack}' is not on docker (its dataProduct names no Docker network), and a mesh on docker reaches a domain stack's server only on the network of its own that a docker domain stack publishes`,
        ];
    });
    if (problems.length > 0) {
        throw new ConfigError(`invalid configuration:\n${problems.join("\n")}`);
    }
}

/**
 * The platform the config names; it finds its toolchain now, before any resource is declared. A
 * certificate the user supplies must also cover the names the platform's own jobs use for Trino,
 * which the configuration alone does not know.
 */
export function createPlatform(context: PlatformContext): Platform {
    const factory = PLATFORM_FACTORIES[context.config.platform];
    assertReachesDomainStacks(context.config, factory);
    const tls = context.config.trinoTls;
    const hostnames = factory.trinoHostnames(context.config);
    if (tls && hostnames.length > 0) {
        try {
            assertCertificateCovers(tls.certificatePem, tls.privateKeyPem, { hostnames, ipAddresses: [] });
        } catch (e) {
            throw new ConfigError(`invalid configuration:\n${CONFIG_NAMESPACE}:trinoCertificate: ${(e as Error).message}, which the ${context.config.platform} platform's jobs use for Trino`);
        }
    }
    return factory.create(context);
}
