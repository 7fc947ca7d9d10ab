import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { renderToolchainInstallScript, ToolchainMount } from "../../catalogs/jobs";
import { PipSettings } from "../../config";
import { shortDigest } from "../../lib/digest";
import { Cluster } from "./cluster";
import { clusterJob } from "./jobs";
import { urlFlow } from "./networkPolicies";
import { IMAGE_USERS } from "./podSecurity";
import { RESOURCE_SIZES } from "./sizing";

/*
 * dbt for Jobs whose image is plain Python: a Job installs the hash-locked requirements once into a
 * volume claim, as the image's non-root user, and every dbt and docs Job mounts that claim
 * read-only. The install Job is named after the lock and the image, so a new lock or a new Python
 * installs anew (its script replaces what the volume held) and nothing else triggers a download:
 * the Jobs that run dbt connect to Trino only, never to a package index. The claim keeps one name:
 * a claim named after the lock would, on a return to an earlier lock, meet its predecessor still
 * held by the completed Jobs' pods.
 */

/** Where every Job mounts the toolchain; a virtualenv names its own path, so it is the same everywhere. */
const TOOLCHAIN_DIR = "/opt/datamesh/dbt-toolchain";
const FILES_DIR = "/etc/datamesh/dbt-toolchain";
const INSTALL_TIMEOUT_SECONDS = 1200;
/** The installed virtualenv of dbt-core and dbt-trino is about 150 MiB. */
const TOOLCHAIN_SIZE = "1Gi";
const PYPI = "https://pypi.org/simple";

export interface DbtToolchain {
    mount: ToolchainMount;
    claimName: pulumi.Output<string>;
    /** The install Job's name once it has succeeded: a dbt Job that takes it starts after the install, and anew when the toolchain changes. */
    installed: pulumi.Output<string>;
}

export interface DbtToolchainRequest {
    component: string;
    /** The image the Jobs run dbt in: its Python makes the virtualenv. */
    image: string;
    /** The hash-locked requirements file's text. */
    requirements: string;
    pip: PipSettings;
}

export function dbtToolchain(cluster: Cluster, name: string, request: DbtToolchainRequest, opts: pulumi.CustomResourceOptions): DbtToolchain {
    const key = shortDigest(request.requirements, request.image).slice(0, 12);
    const mount = { dir: TOOLCHAIN_DIR, key };
    const claim = new k8s.core.v1.PersistentVolumeClaim(
        name,
        {
            metadata: {
                ...cluster.metadata(name, request.component, "dbt-toolchain"),
                // Bound only once the install Job is scheduled on many storage classes: waiting for that alone would never end.
                annotations: { "pulumi.com/skipAwait": "true" },
            },
            spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: TOOLCHAIN_SIZE } } },
        },
        cluster.options(opts),
    );
    const indexUrl = request.pip.indexUrl ?? PYPI;
    const index = new URL(indexUrl);
    const install = clusterJob(
        cluster,
        `${name}-install`,
        {
            component: request.component,
            role: "dbt-toolchain",
            image: request.image,
            files: {
                "install.sh": renderToolchainInstallScript({ toolchain: mount, requirementsFile: `${FILES_DIR}/requirements.txt` }),
                "requirements.txt": request.requirements,
                ...(request.pip.caBundle ? { "pip-ca.pem": request.pip.caBundle } : {}),
            },
            script: "install.sh",
            // The index URL may carry a token.
            secrets: request.pip.indexUrl ? { PIP_INDEX_URL: request.pip.indexUrl } : {},
            env: {
                ...(request.pip.caBundle ? { PIP_CERT: `${FILES_DIR}/pip-ca.pem` } : {}),
                // pip ignores a plain-HTTP index unless told to trust it; the hashes still decide what is installed.
                ...(index.protocol === "http:" ? { PIP_TRUSTED_HOST: index.hostname } : {}),
            },
            size: RESOURCE_SIZES.dbt,
            runKey: key,
            filesDir: FILES_DIR,
            claims: [{ claimName: claim.metadata.name, mountPath: TOOLCHAIN_DIR, readOnly: false }],
            user: IMAGE_USERS.python,
            egress: [urlFlow(indexUrl)],
            summaryPattern: "^dbt toolchain: ",
            timeoutSeconds: INSTALL_TIMEOUT_SECONDS,
        },
        opts,
    );
    return { mount, claimName: claim.metadata.name, installed: install.finished };
}
