import * as pulumi from "@pulumi/pulumi";
import { TrinoAccess, TrinoConnection } from "../../lib/trinoQuery";

/** The deploying process reaches a coordinator on its own network at the connection's URL. */
export function directAccess(connection: pulumi.Output<TrinoConnection>): pulumi.Output<TrinoAccess> {
    return connection.apply(c => ({ connection: c }));
}

/** A component's options with more resources to wait for, keeping those it already named. */
export function withDependencies(opts: pulumi.CustomResourceOptions, ...after: pulumi.Input<pulumi.Resource>[]): pulumi.CustomResourceOptions {
    const existing = opts.dependsOn ? (Array.isArray(opts.dependsOn) ? opts.dependsOn : [opts.dependsOn]) : [];
    return { ...opts, dependsOn: [...(existing as pulumi.Input<pulumi.Resource>[]), ...after] };
}

/** The tag of an image reference (`host:5000/repo:tag@sha256:...`), if it has one. */
export function imageTag(image: string): string | undefined {
    const reference = image.split("@")[0];
    const colon = reference.lastIndexOf(":");
    return colon > reference.lastIndexOf("/") ? reference.slice(colon + 1) : undefined;
}

/** The container platforms run the Trino release the stack pins, and no other. */
export function assertPinnedTrinoImage(image: string, trinoVersion: string): void {
    const tag = imageTag(image);
    if (tag !== trinoVersion) {
        const runs = tag ? `runs Trino ${tag}` : "has no tag";
        throw new Error(`datamesh:trinoImage: '${image}' ${runs}, but the stack pins Trino ${trinoVersion} (versions.env)`);
    }
}
