import * as pulumi from "@pulumi/pulumi";
import { NodeSpec, renderEtc, renderPasswordDb, renderWorkerEtc, WorkerDrain } from "../../catalogs/trino";
import { TrinoServerRequest } from "../platform";

/** Where a platform puts Trino: the only things about its etc/ files that differ between platforms. */
export interface TrinoLayout {
    node: NodeSpec;
    /** The folder of etc/ as the node sees it. */
    etcDir: string;
    /** Where the secret files are, when not in etc/ (a mounted Secret). */
    secretDir?: string;
    /** The ports as the node binds them; the request's unless the platform maps them. */
    httpsPort: number;
    internalPort: number;
    /** How workers find the coordinator; unset on a platform without workers. */
    discoveryUri?: string;
    /** Workers that drain when asked (see WorkerDrain). */
    drain?: WorkerDrain;
    /** The class archive made for this Trino and JDK, where the platform runs the Trino that setup made it for. */
    classArchive?: string;
}

export interface TrinoEtc {
    /** The coordinator's etc/ files, catalog/<name>.properties among them; none holds a secret. */
    coordinator: pulumi.Output<Record<string, string>>;
    /** A worker's etc/ files, with the same catalogs. */
    worker: pulumi.Output<Record<string, string>>;
    /** password.db and rules.json, as text (secret). */
    secretFiles: pulumi.Output<Record<string, string>>;
}

/** Trino's etc/ files for a request, laid out as the platform says: one assembly for every platform. */
export function trinoEtc(request: TrinoServerRequest, layout: TrinoLayout): TrinoEtc {
    const coordinator = pulumi.output(request.catalogs).apply(catalogs =>
        renderEtc({
            node: layout.node,
            coordinator: {
                httpsPort: layout.httpsPort,
                internalPort: layout.internalPort,
                maxHeap: request.maxHeap,
                jvmOptions: request.jvmOptions,
                etcDir: layout.etcDir,
                secretDir: layout.secretDir,
                keystoreFile: request.keystore.file,
                keystorePasswordEnv: request.keystore.passwordEnv,
                sharedSecretEnv: request.sharedSecretEnv,
                ...(layout.classArchive ? { classArchive: layout.classArchive } : {}),
                ...(layout.discoveryUri ? { discoveryUri: layout.discoveryUri, includeCoordinator: request.workers === 0 } : {}),
            },
            catalogs,
        }),
    );
    const discoveryUri = layout.discoveryUri;
    const worker = coordinator.apply(files => ({
        ...(discoveryUri
            ? renderWorkerEtc({
                  node: layout.node,
                  worker: { httpPort: layout.internalPort, discoveryUri, maxHeap: request.maxHeap, jvmOptions: request.jvmOptions, sharedSecretEnv: request.sharedSecretEnv, drain: layout.drain },
              })
            : {}),
        ...catalogFilesOf(files),
    }));
    const secretFiles = pulumi.secret(
        pulumi.all([request.users, request.accessRules]).apply(([users, accessRules]): Record<string, string> => ({ "password.db": renderPasswordDb(users), "rules.json": accessRules })),
    );
    return { coordinator, worker, secretFiles };
}

/** The catalog files among etc/ files, keyed as in etc/ (catalog/<name>.properties). */
export function catalogFilesOf(files: Record<string, string>): Record<string, string> {
    return Object.fromEntries(Object.entries(files).filter(([file]) => file.startsWith("catalog/")));
}
