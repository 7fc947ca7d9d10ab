import * as fs from "fs";
import * as path from "path";

/** The toolchain pins from versions.env, the file the setup scripts source too. */
export interface Versions {
    PULUMI_VERSION: string;
    TRINO_VERSION: string;
    KUBERNETES_PROVIDER_VERSION: string;
    /** The SeaweedFS module the test store image is built from. */
    SEAWEEDFS_MODULE_VERSION: string;
}

export function readVersions(file = path.join(__dirname, "..", "versions.env")): Versions {
    const values: Record<string, string> = {};
    fs.readFileSync(file, "utf8")
        .split("\n")
        .forEach((line, index) => {
            const trimmed = line.trim();
            if (trimmed === "" || trimmed.startsWith("#")) {
                return;
            }
            const match = /^([A-Z_][A-Z0-9_]*)=(\S+)$/.exec(trimmed);
            if (!match) {
                throw new Error(`${file}:${index + 1}: expected NAME=value, got '${trimmed}'`);
            }
            values[match[1]] = match[2];
        });
    for (const key of ["PULUMI_VERSION", "TRINO_VERSION", "KUBERNETES_PROVIDER_VERSION", "SEAWEEDFS_MODULE_VERSION"]) {
        if (!values[key]) {
            throw new Error(`${file}: ${key} is not set`);
        }
    }
    return values as unknown as Versions;
}

/** Where scripts/setup-pulumi.sh puts the Pulumi CLI and language host for a version. */
export function pulumiBinDir(cacheDir: string, version: string): string {
    return path.join(cacheDir, "pulumi", `v${version}`, "bin");
}

/** Where scripts/setup-kubernetes-provider.sh puts the Kubernetes provider plugin for a version. */
export function kubernetesProviderBinDir(cacheDir: string, version: string): string {
    return path.join(cacheDir, "pulumi-kubernetes", `v${version}`, "bin");
}
