import { MeshConfig, PlatformName } from "../config";
import { LocalPlatform } from "./local";
import { findLocalToolchain } from "./local/toolchain";
import { DockerPlatform } from "./docker";
import { KubernetesPlatform } from "./kubernetes";
import { Platform } from "./platform";
import * as path from "path";

export { Platform } from "./platform";

export interface PlatformContext {
    config: MeshConfig;
    projectDir: string;
    trinoVersion: string;
}

type PlatformFactory = (context: PlatformContext) => Platform;

/** The platforms that run in containers still make the stack's certificate on the deploying machine. */
function deployerKeytool(): string {
    return process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, "bin", "keytool") : "keytool";
}

const PLATFORM_FACTORIES: Record<PlatformName, PlatformFactory> = {
    local: context =>
        new LocalPlatform({
            stateDir: context.config.stateDir,
            stack: context.config.stack,
            toolchain: findLocalToolchain({ cacheDir: context.config.cacheDir, trinoVersion: context.trinoVersion, projectDir: context.projectDir }),
        }),
    docker: context => new DockerPlatform({ stack: context.config.stack, images: context.config.images, keytool: deployerKeytool(), trinoVersion: context.trinoVersion }),
    kubernetes: context =>
        new KubernetesPlatform({
            stack: context.config.stack,
            namespace: context.config.namespace,
            images: context.config.images,
            renderYamlTo: context.config.renderYamlTo,
            keytool: deployerKeytool(),
            trinoVersion: context.trinoVersion,
            dataSource: context.config.dataSource,
        }),
};

/** The platform the config names; it finds its toolchain now, before any resource is declared. */
export function createPlatform(context: PlatformContext): Platform {
    return PLATFORM_FACTORIES[context.config.platform](context);
}
