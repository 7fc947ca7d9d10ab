import { MeshConfig, PlatformName } from "../config";
import { LocalPlatform } from "./local";
import { findLocalToolchain } from "./local/toolchain";
import { Platform } from "./platform";

export { Platform } from "./platform";

export interface PlatformContext {
    config: MeshConfig;
    projectDir: string;
    trinoVersion: string;
}

type PlatformFactory = (context: PlatformContext) => Platform;

function notYetAvailable(name: PlatformName): PlatformFactory {
    return () => {
        throw new Error(`datamesh:platform: '${name}' is not available in this version; use 'local'`);
    };
}

const PLATFORM_FACTORIES: Record<PlatformName, PlatformFactory> = {
    local: context =>
        new LocalPlatform({
            stateDir: context.config.stateDir,
            stack: context.config.stack,
            toolchain: findLocalToolchain({ cacheDir: context.config.cacheDir, trinoVersion: context.trinoVersion, projectDir: context.projectDir }),
        }),
    docker: notYetAvailable("docker"),
    kubernetes: notYetAvailable("kubernetes"),
};

/** The platform the config names; it finds its toolchain now, before any resource is declared. */
export function createPlatform(context: PlatformContext): Platform {
    return PLATFORM_FACTORIES[context.config.platform](context);
}
