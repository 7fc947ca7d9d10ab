import * as pulumi from "@pulumi/pulumi";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { CANONICAL_DATA_DIR, DataSource, fingerprintDataSource } from "./lib/dataset";
import { assertCertificateCovers } from "./lib/certificates";
import { StackDomain } from "./lib/dataProduct";
import { checkDomainsTogether, DOMAINS, DomainSpec, STACK_USERS } from "./lib/domains";
import { S3Location } from "./lib/s3";

export const CONFIG_NAMESPACE = "datamesh";
export const PLATFORMS = ["local", "docker", "kubernetes"] as const;
/** What a stack of this program deploys: the whole mesh, or one domain that publishes its data product. */
export const ROLES = ["mesh", "domain"] as const;
export type Role = (typeof ROLES)[number];
export type PlatformName = (typeof PLATFORMS)[number];

const port = z.coerce.number().int().min(1024).max(65535);

/** The container images the docker and kubernetes platforms run, each pinned to an exact tag. */
export const DEFAULT_IMAGES = {
    postgresImage: "postgres:17.6",
    mariadbImage: "mariadb:11.8.3",
    trinoImage: "trinodb/trino:476",
    seaweedfsImage: "chrislusf/seaweedfs:4.53",
    // No maintained image ships dbt-trino: on kubernetes the stack installs dbt/requirements.txt from this plain Python image into a volume, once per lock.
    dbtImage: "python:3.11.14-slim-bookworm",
    // The docs site's server on kubernetes: Python's own static file server, apart from dbtImage so that a dbt image change never takes the site down.
    docsImage: "python:3.11.14-slim-bookworm",
    // The docker platform builds dbt/Dockerfile FROM this image; the Dockerfile's own default is the same.
    dbtBaseImage: "python:3.11.14-slim-bookworm",
} as const;
export type ImageKey = keyof typeof DEFAULT_IMAGES;

/**
 * `workers`: a count, or `{"min": N, "max": M}` (as `pulumi config set --path datamesh:workers.min N`
 * writes it) for workers that a HorizontalPodAutoscaler scales on CPU.
 */
function parseWorkers(raw: string | number, ctx: z.RefinementCtx): { min: number; max: number; autoscaled: boolean } {
    const text = String(raw).trim();
    const fail = (message: string) => {
        ctx.addIssue({ code: "custom", message });
        return z.NEVER;
    };
    if (text.startsWith("{")) {
        let range: unknown;
        try {
            range = JSON.parse(text);
        } catch {
            return fail(`'${text}' is neither a whole number nor {"min": N, "max": M}`);
        }
        const { min, max, ...rest } = range as Record<string, unknown>;
        if (Object.keys(rest).length > 0) {
            return fail(`takes only min and max, not ${Object.keys(rest).join(", ")}`);
        }
        if (!Number.isInteger(min) || (min as number) < 1) {
            return fail("min must be a whole number, 1 or more (a HorizontalPodAutoscaler never scales to 0)");
        }
        if (!Number.isInteger(max) || (max as number) > 100) {
            return fail("max must be a whole number, at most 100");
        }
        if ((min as number) > (max as number)) {
            return fail(`min (${min}) must not exceed max (${max})`);
        }
        return { min: min as number, max: max as number, autoscaled: true };
    }
    if (!/^-?\d+$/.test(text)) {
        return fail("must be a whole number, 0 or more, or {\"min\": N, \"max\": M}");
    }
    const count = Number(text);
    if (count < 0) {
        return fail("must be 0 or more (0: the coordinator schedules work itself)");
    }
    if (count > 100) {
        return fail("must be at most 100");
    }
    return { min: count, max: count, autoscaled: false };
}

/** An image reference with an exact tag or digest; `latest` or no tag would change under the stack. */
const pinnedImage = z.string().superRefine((image, ctx) => {
    const match = /^([a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)(?::([\w][\w.-]{0,127}))?(?:@(sha256:[a-f0-9]{64}))?$/.exec(image);
    if (!match) {
        ctx.addIssue({ code: "custom", message: `'${image}' is not an image reference such as trinodb/trino:476` });
    } else if (!match[3] && (!match[2] || match[2] === "latest")) {
        ctx.addIssue({ code: "custom", message: `'${image}' is not pinned: give an exact tag (not 'latest') or a digest, such as trinodb/trino:476` });
    }
});
/** Docker hands a build argument to the build's commands as one environment variable, which Linux caps at 128 KiB. */
const MAX_BUILD_ARG_BYTES = 120 * 1024;
/** One or more PEM certificates, as a CA bundle file holds them. */
const pemCertificates = z.string().superRefine((bundle, ctx) => {
    if (Buffer.byteLength(bundle) > MAX_BUILD_ARG_BYTES) {
        ctx.addIssue({ code: "custom", message: `is ${Buffer.byteLength(bundle)} bytes; a build argument must stay under ${MAX_BUILD_ARG_BYTES}: give the mirror's CA, not a whole system bundle` });
    }
    const blocks = bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) {
        ctx.addIssue({ code: "custom", message: "must hold one or more PEM certificates (-----BEGIN CERTIFICATE-----), such as a CA bundle file's content" });
    }
    blocks.forEach((block, index) => {
        try {
            new crypto.X509Certificate(block);
        } catch (e) {
            ctx.addIssue({ code: "custom", message: `certificate ${index + 1} is not a valid PEM certificate: ${(e as Error).message}` });
        }
    });
});
const dnsLabel = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "must be a DNS label: lower-case letters, digits and -, at most 63");
const identifier = z.string().regex(/^[a-z][a-z0-9_]*$/, "must be a lower-case SQL identifier (a-z, 0-9, _)");

/** A key whose value is JSON text; what it must hold is said in the message when it does not parse. */
const jsonText = (expected: string) =>
    z.string().transform((text, ctx) => {
        try {
            return JSON.parse(text) as unknown;
        } catch {
            ctx.addIssue({ code: "custom", message: expected });
            return z.NEVER;
        }
    });

/**
 * JVM flags added to Trino's jvm.config after the stack's own, on every node: a JSON list (as
 * `pulumi config set --path 'datamesh:trinoJvmOptions[0]'` writes it). The heap has its own key,
 * and the class archive is the platform's, so neither may be set here.
 */
const jvmOptionsSchema = jsonText('must be a JSON list of JVM flags, such as ["-XX:TieredStopAtLevel=1"]').pipe(
        z.array(
            z
                .string()
                .regex(/^-\S+$/, "must be one JVM flag: it starts with - and holds no space or line break")
                .refine(flag => !/^-(Xmx|Xms|XX:MaxHeapSize|XX:InitialHeapSize)/.test(flag), { message: "sets the heap: use datamesh:trinoMaxHeap" })
                .refine(flag => !/^-XX:SharedArchiveFile/.test(flag), { message: "sets the class archive, which the local platform chooses for the JDK it runs" }),
        ),
    );

/** Extra readers per domain, as JSON. */
const readersSchema = jsonText('must be JSON that maps each domain to its readers, such as {"<domain>": ["finance"]}').pipe(z.record(z.string(), z.array(identifier).min(1, "lists no reader")));

/** The stack's configuration keys, without the `datamesh:` prefix. Unknown keys are rejected. */
const configSchema = z
    .object({
        platform: z.enum(PLATFORMS).default("local"),
        role: z.enum(ROLES, { message: "must be mesh (the whole mesh, the default) or domain (one domain, published as a data product)" }).default("mesh"),
        domain: identifier.optional(),
        // Read and validated before the rest (domainStackNames), since the stacks are read before the configuration is.
        domainStacks: z.string().optional(),
        stateDir: z.string().min(1).optional(),
        cacheDir: z.string().min(1).optional(),
        basePort: port.default(15430),
        trinoPort: port.default(18080),
        trinoInternalPort: port.optional(),
        docsPort: port.optional(),
        protectDomainData: z.enum(["true", "false"], { message: "must be true or false" }).default("true"),
        trinoMaxHeap: z.string().regex(/^\d+[MG]$/, "must be a JVM heap size such as 2G or 1536M").default("2G"),
        trinoJvmOptions: jvmOptionsSchema.optional(),
        insightsSchema: identifier.optional(),
        rebuild: z.enum(["incremental", "full"], { message: "must be incremental (a change of domain rows rebuilds only what it affects) or full (every run from all rows)" }).default("incremental"),
        trinoHostnames: z
            .string()
            .transform(text => text.split(",").map(name => name.trim()).filter(Boolean))
            .pipe(z.array(z.string().regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, "must be lower-case DNS names, separated by commas")))
            .optional(),
        trinoCertificate: z.string().min(1, "must not be empty").optional(),
        trinoPrivateKey: z.string().min(1, "must not be empty").optional(),
        analystPassword: z
            .string()
            .min(12, "must be at least 12 characters (or leave the key unset to have one generated)")
            // Trino decodes a client's password as ISO-8859-1; a character outside it (such as €) could never be sent.
            .regex(/^[\u0020-\u007e\u00a0-\u00ff]*$/, "must consist of printable Latin-1 characters (such as é or ß, not €): Trino reads passwords as ISO-8859-1")
            // bcrypt, which Trino's password file uses, reads only the first 72 bytes: a longer password would admit anything sharing them.
            .refine(password => Buffer.byteLength(password, "utf8") <= 72, { message: "must be at most 72 bytes in UTF-8 (bcrypt, which Trino's password file uses, ignores the rest)" })
            .optional(),
        readers: readersSchema.optional(),
        dataDir: z.string().min(1).optional(),
        dbtProject: z.string().min(1, "must not be empty").optional(),
        scale: z.coerce.number().int().min(1).max(10_000).optional(),
        workers: z.union([z.string(), z.number()]).default("0").transform(parseWorkers),
        workerScaleDownWindow: z.coerce.number({ message: "must be a whole number of seconds" }).int("must be a whole number of seconds").min(0, "must be 0 or more").max(3600, "must be at most 3600 seconds").optional(),
        namespace: dnsLabel.optional(),
        meshNamespace: dnsLabel.optional(),
        podSecurityLabel: z.enum(["true", "false"], { message: "must be true or false" }).optional(),
        allowedClients: z
            .string()
            .transform((text, ctx) => {
                const items = text.split(",").map(item => item.trim()).filter(item => item !== "");
                const cidr = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
                const namespace = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
                for (const item of items) {
                    const match = cidr.exec(item);
                    const validCidr = match !== null && match.slice(1, 5).every(octet => Number(octet) <= 255) && Number(match[5]) <= 32;
                    if (!validCidr && !namespace.test(item)) {
                        ctx.addIssue({ code: "custom", message: `'${item}' is neither a namespace name nor an IPv4 CIDR such as 10.0.0.0/8` });
                    }
                }
                if (items.length === 0) {
                    ctx.addIssue({ code: "custom", message: "must name at least one namespace or CIDR (leave the key unset to let anyone in)" });
                }
                return items.map(item => (item.includes("/") ? { cidr: item } : { namespace: item }));
            })
            .optional(),
        workerGracePeriod: z.coerce.number({ message: "must be a whole number of seconds" }).int("must be a whole number of seconds").min(5, "must be at least 5 seconds").max(3600, "must be at most 3600 seconds").optional(),
        renderYamlTo: z.string().min(1, "must not be empty").optional(),
        postgresImage: pinnedImage.default(DEFAULT_IMAGES.postgresImage),
        mariadbImage: pinnedImage.default(DEFAULT_IMAGES.mariadbImage),
        trinoImage: pinnedImage.default(DEFAULT_IMAGES.trinoImage),
        seaweedfsImage: pinnedImage.default(DEFAULT_IMAGES.seaweedfsImage),
        dbtImage: pinnedImage.default(DEFAULT_IMAGES.dbtImage),
        docsImage: pinnedImage.default(DEFAULT_IMAGES.docsImage),
        dbtBaseImage: pinnedImage.default(DEFAULT_IMAGES.dbtBaseImage),
        dbtToolchain: z.enum(["volume", "image"], { message: "must be volume (install dbt/requirements.txt once into a volume) or image (dbtImage has dbt)" }).optional(),
        pipIndexUrl: z.string().url("must be a URL such as https://pypi.example.com/simple").regex(/^https?:\/\//, "must start with http:// or https://").optional(),
        pipCaBundle: pemCertificates.optional(),
        dockerBuildNetwork: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "must be a Docker network mode or name, such as host, none or my-build-net").optional(),
        kubeconfig: z.string().min(1, "must not be empty").optional(),
        kubeContext: z.string().min(1, "must not be empty").optional(),
        warehouseEndpoint: z.string().url("must be the S3 API's URL, such as https://s3.eu-west-1.amazonaws.com").regex(/^https?:\/\//, "must start with http:// or https://").optional(),
        warehouseBucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "must be an S3 bucket name (3-63 lower-case letters, digits, '.' and '-')").optional(),
        warehouseRegion: z.string().regex(/^[a-z0-9-]+$/, "must be a region name such as us-east-1").default("us-east-1"),
        warehousePathStyle: z.enum(["true", "false"], { message: "must be true or false" }).default("true"),
        warehouseAccessKey: z.string().min(1, "must not be empty").optional(),
        warehouseSecretKey: z.string().min(1, "must not be empty").optional(),
    })
    .strict()
    .refine(c => c.platform !== "local" || c.workers.max === 0, { message: "the local platform runs a single Trino node; workers need platform docker or kubernetes", path: ["workers"] })
    .refine(c => c.platform === "kubernetes" || !c.workers.autoscaled, { message: "{min, max} scales workers with a HorizontalPodAutoscaler, on platform kubernetes only", path: ["workers"] })
    .refine(
        c =>
            c.platform === "kubernetes" ||
            [c.renderYamlTo, c.namespace, c.meshNamespace, c.podSecurityLabel, c.allowedClients, c.workerGracePeriod, c.workerScaleDownWindow, c.dbtToolchain, c.kubeconfig, c.kubeContext, c.warehouseEndpoint, c.warehouseBucket, c.warehouseAccessKey, c.warehouseSecretKey].every(v => v === undefined),
        {
            message: "renderYamlTo, namespace, meshNamespace, podSecurityLabel, allowedClients, workerGracePeriod, workerScaleDownWindow, dbtToolchain, kubeconfig, kubeContext and the warehouse* keys apply to platform kubernetes only",
            path: ["platform"],
        },
    )
    .refine(c => c.role === "domain" || c.meshNamespace === undefined, {
        message: "only a domain stack (datamesh:role=domain) names the mesh's namespace; the mesh runs in datamesh:namespace",
        path: ["meshNamespace"],
    })
    .refine(c => c.role !== "domain" || c.platform !== "kubernetes" || c.meshNamespace !== undefined, {
        message:
            "not set; a domain stack on kubernetes lets only the mesh's Trino reach its database, and needs the namespace the mesh runs in (the mesh stack's datamesh:namespace, datamesh-<mesh stack> by default): pulumi config set datamesh:meshNamespace <namespace>",
        path: ["meshNamespace"],
    })
    .refine(c => [c.warehouseBucket, c.warehouseAccessKey, c.warehouseSecretKey].every(v => (v === undefined) === (c.warehouseEndpoint === undefined)), {
        message: "an external S3 store needs all of warehouseEndpoint, warehouseBucket, warehouseAccessKey and warehouseSecretKey (the two keys as secrets)",
        path: ["warehouseEndpoint"],
    })
    .refine(c => !(c.dataDir && c.scale), { message: "set either datamesh:dataDir or datamesh:scale, not both", path: ["scale"] })
    .refine(c => Boolean(c.trinoCertificate) === Boolean(c.trinoPrivateKey), {
        message: "set both datamesh:trinoCertificate and datamesh:trinoPrivateKey, or neither (a certificate is then generated)",
        path: ["trinoPrivateKey"],
    })
    .refine(c => (c.trinoInternalPort ?? c.trinoPort + 1) !== c.trinoPort, {
        message: "must differ from trinoPort",
        path: ["trinoInternalPort"],
    });

/** The validated, fully resolved configuration the program declares the mesh from. */
export interface MeshConfig {
    platform: PlatformName;
    /** mesh: every domain, Trino, dbt and the check; domain: the one domain in `domains`, exported as `dataProduct`. */
    role: Role;
    stack: string;
    /** Folder that holds every file the stack's local processes write. */
    stateDir: string;
    /** The dbt project the insights are built with: datamesh:dbtProject, or the repository's dbt/. */
    dbtProjectDir: string;
    /** Folder with the cached toolchain (Trino, the dbt virtual environment). */
    cacheDir: string;
    /** First of the consecutive database ports: the managed domains' servers and the insights metastore. */
    basePort: number;
    /** The declared domains, in file-name order. */
    domains: DomainSpec[];
    /** Each managed domain's server port. */
    domainPorts: Record<string, number>;
    /** The insights catalog's metastore port. */
    metastorePort: number;
    /** Each external domain's reader password, from the configuration key its declaration names (secret). */
    externalPasswords: Record<string, string>;
    /** The administrator's password of each external domain whose reader the stack creates (secret). */
    externalAdminPasswords: Record<string, string>;
    trinoPort: number;
    /** Trino's plain-HTTP port for its own internal calls. */
    trinoInternalPort: number;
    /** The dbt docs site's port. */
    docsPort: number;
    /** Whether `pulumi destroy` must refuse to delete the domain databases. */
    protectDomainData: boolean;
    /** Host names clients use for Trino besides localhost and 127.0.0.1; the certificate covers them. */
    trinoHostnames: string[];
    /** The user's own certificate (PEM chain) and unencrypted private key for Trino; generated when unset. */
    trinoTls?: { certificatePem: string; privateKeyPem: string };
    /** The analyst's Trino password when the user sets one; generated otherwise. */
    analystPassword?: string;
    /** Read-only Trino users per domain, declared and configured: they read the domain's catalog, never its PII. */
    readers: Record<string, string[]>;
    trinoMaxHeap: string;
    /** JVM flags after the stack's own in every Trino node's jvm.config. */
    trinoJvmOptions: string[];
    insightsSchema: string;
    /** How a change of domain rows is built: only the keys it affects, or every model from all rows. */
    rebuild: "incremental" | "full";
    dataSource: DataSource;
    /** Each managed domain's fingerprint: it changes exactly when that domain's data changes. */
    domainFingerprints: Record<string, string>;
    /** Changes exactly when any managed domain's data changes. */
    dataFingerprint: string;
    /** Trino worker nodes besides the coordinator (docker and kubernetes); with autoscaling, the fewest. */
    workers: number;
    /** Kubernetes only: workers scaled on CPU between min and max; a scale-down waits out the window. */
    workerAutoscaling?: { min: number; max: number; scaleDownWindowSeconds: number };
    /** The pinned images of the docker and kubernetes platforms. */
    images: Record<ImageKey, string>;
    /** Where pip fetches dbt's requirements: docker while the dbt image builds, kubernetes in the toolchain's install Job; pip's own defaults when unset. */
    pip: PipSettings;
    /** Kubernetes only: where the dbt and docs Jobs find dbt: a volume the stack installs the lock file into once, or dbtImage itself. */
    dbtToolchain: "volume" | "image";
    /** Docker only: the network the dbt image's RUN steps use; Docker's default bridge when unset. */
    dockerBuildNetwork?: string;
    /** Kubernetes only: the namespace that holds the whole mesh. */
    namespace: string;
    /** Kubernetes, domain stack only: the namespace of the mesh whose Trino alone may reach the domain's database. */
    meshNamespace?: string;
    /** Kubernetes only: label the namespace so that the API server admits only pods meeting the restricted Pod Security Standard; off for clusters that manage namespace labels themselves. */
    podSecurityLabel: boolean;
    /** Kubernetes only: who may reach Trino's and the docs site's Services (namespaces or CIDRs); anyone when unset. */
    allowedClients?: ({ namespace: string } | { cidr: string })[];
    /** Kubernetes only: seconds a Trino worker asked to shut down waits before and after its running queries' tasks. */
    workerGracePeriodSeconds: number;
    /** Kubernetes only: write manifests to this folder instead of applying them to a cluster. */
    renderYamlTo?: string;
    /** Kubernetes only: the kubeconfig file and context; KUBECONFIG (or ~/.kube/config) and its current context when unset. */
    kubeconfig?: string;
    kubeContext?: string;
    /** Kubernetes only: the user's own S3 store for the insights' files; the stack runs SeaweedFS when unset. */
    externalWarehouse?: ExternalS3;
}

export interface PipSettings {
    /** A PyPI mirror's simple index. */
    indexUrl?: string;
    /** PEM certificates pip trusts instead of its own CA bundle, for a mirror or proxy with a private CA. */
    caBundle?: string;
}

/** An S3-compatible store the user already has. */
export type ExternalS3 = S3Location;

/**
 * Raised for any invalid configuration; the message names every offending key. A RunError, so
 * Pulumi shows the user the message alone, without a stack trace: there is no bug behind it.
 */
export class ConfigError extends pulumi.RunError {
    constructor(message: string) {
        super(message);
        this.name = "ConfigError";
    }
}

function describeIssues(error: z.ZodError): string {
    return error.issues
        .map(issue => {
            if (issue.code === "unrecognized_keys") {
                return issue.keys.map(k => `${CONFIG_NAMESPACE}:${k}: unknown configuration key`).join("\n");
            }
            const key = issue.path.length > 0 ? `${CONFIG_NAMESPACE}:${issue.path.join(".")}` : CONFIG_NAMESPACE;
            return `${key}: ${issue.message}`;
        })
        .join("\n");
}

export interface ConfigContext {
    stack: string;
    projectDir: string;
    env: NodeJS.ProcessEnv;
    /** The declared domains; the project's `domains/` folder when unset. */
    domains?: readonly DomainSpec[];
    /** The domains read from the stacks `datamesh:domainStacks` names, with their readers' passwords. */
    stackDomains?: readonly StackDomain[];
}

/** A stack's fully qualified name, as StackReference takes it in every backend. */
const STACK_NAME = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

/**
 * The stacks `datamesh:domainStacks` names: a JSON list (as `pulumi config set --path
 * 'datamesh:domainStacks[0]'` writes it) or names separated by commas. Read before the rest of the
 * configuration, since the mesh reads those stacks before it knows its domains.
 */
export function domainStackNames(raw: Record<string, string>): string[] {
    const text = raw.domainStacks;
    if (text === undefined) {
        return [];
    }
    const fail = (detail: string): never => {
        throw new ConfigError(`invalid configuration:\n${CONFIG_NAMESPACE}:domainStacks: ${detail}`);
    };
    if (raw.role === "domain") {
        fail("a domain stack (datamesh:role=domain) federates no other stack; only the mesh lists domain stacks");
    }
    let names: unknown;
    if (text.trim().startsWith("[")) {
        try {
            names = JSON.parse(text);
        } catch {
            fail("is neither a JSON list of stack names nor names separated by commas");
        }
    } else {
        names = text.split(",").map(name => name.trim()).filter(Boolean);
    }
    if (!Array.isArray(names) || names.length === 0) {
        return fail("must list at least one stack (leave the key unset when no domain runs a stack of its own)");
    }
    names.forEach((name, index) => {
        if (typeof name !== "string" || !STACK_NAME.test(name)) {
            fail(`${JSON.stringify(name)} (item ${index}) is not a fully qualified stack name such as organization/datamesh/customers`);
        }
        if (names.indexOf(name) !== index) {
            fail(`'${name}' is listed twice`);
        }
    });
    return names as string[];
}

/**
 * The domains this stack deploys or federates. A domain stack: the one declaration `datamesh:domain`
 * names. The mesh: every declaration, and every domain stack's product, checked together, so that
 * two sources of one domain are refused naming both.
 */
function selectDomains(raw: Record<string, string>, declared: readonly DomainSpec[], fromStacks: readonly StackDomain[]): { domains: DomainSpec[]; problems: string[] } {
    const names = declared.map(d => d.name).join(", ");
    if (raw.role === "domain") {
        const domain = declared.find(d => d.name === raw.domain);
        if (raw.domain === undefined) {
            return { domains: [], problems: [`${CONFIG_NAMESPACE}:domain: not set; a domain stack (datamesh:role=domain) deploys the declaration it names, one of ${names}`] };
        }
        if (!domain) {
            return { domains: [], problems: [`${CONFIG_NAMESPACE}:domain: no declaration of '${raw.domain}' under domains/; declared domains: ${names}`] };
        }
        if (domain.external) {
            return { domains: [], problems: [`${CONFIG_NAMESPACE}:domain: '${raw.domain}' (${domain.file}) is an external database, which its team runs already; a domain stack runs its domain's server`] };
        }
        return { domains: [domain], problems: [] };
    }
    if (raw.domain !== undefined) {
        return { domains: [...declared], problems: [`${CONFIG_NAMESPACE}:domain: only a domain stack (datamesh:role=domain) deploys a single domain; the mesh deploys every declaration`] };
    }
    if (fromStacks.length === 0) {
        // Declarations were checked together as they were read.
        return { domains: [...declared], problems: [] };
    }
    const domains = [...declared, ...fromStacks.map(s => s.domain)];
    try {
        checkDomainsTogether(domains);
    } catch (e) {
        return { domains: [...declared], problems: [`${CONFIG_NAMESPACE}:domainStacks: ${(e as Error).message}`] };
    }
    return { domains, problems: [] };
}

/** The insights metastore keeps the port after the first three domains', so that a new domain moves no existing server. */
const METASTORE_PORT_OFFSET = 3;

/** Ports from basePort: the managed domains in declaration order, skipping the metastore's. */
export function databasePorts(basePort: number, managed: readonly DomainSpec[]): { domains: Record<string, number>; metastore: number } {
    return {
        domains: Object.fromEntries(managed.map((d, index) => [d.name, basePort + (index < METASTORE_PORT_OFFSET ? index : index + 1)])),
        metastore: basePort + METASTORE_PORT_OFFSET,
    };
}

/** What the declarations need from the configuration: readers that are not the stack's users, and the external domains' passwords. */
function checkAgainstDomains(
    raw: Record<string, string>,
    readers: Record<string, string[]>,
    domains: readonly DomainSpec[],
): { problems: string[]; externalPasswords: Record<string, string>; externalAdminPasswords: Record<string, string> } {
    const problems: string[] = [];
    for (const domain of Object.keys(readers).filter(name => !domains.some(d => d.name === name))) {
        problems.push(`${CONFIG_NAMESPACE}:readers.${domain}: unknown domain '${domain}'; declared domains: ${domains.map(d => d.name).join(", ")}`);
    }
    const reserved = [...STACK_USERS, ...domains.map(d => d.owner)];
    for (const [domain, users] of Object.entries(readers)) {
        users.forEach((user, index) => {
            if (reserved.includes(user)) {
                problems.push(`${CONFIG_NAMESPACE}:readers.${domain}.${index}: '${user}' is one of the stack's own Trino users (${reserved.join(", ")})`);
            }
        });
    }
    const externalPasswords: Record<string, string> = {};
    const externalAdminPasswords: Record<string, string> = {};
    const read = (domain: DomainSpec, key: string, whose: string, into: Record<string, string>) => {
        if (!raw[key]) {
            problems.push(`${CONFIG_NAMESPACE}:${key}: not set; external domain '${domain.name}' (${domain.file}) reads ${whose} password from it: pulumi config set --secret ${CONFIG_NAMESPACE}:${key} ...`);
        } else {
            into[domain.name] = raw[key];
        }
    };
    for (const domain of domains) {
        if (domain.external?.passwordKey) {
            read(domain, domain.external.passwordKey, "its reader's", externalPasswords);
        }
        if (domain.external?.admin) {
            read(domain, domain.external.admin.passwordKey, "its administrator's", externalAdminPasswords);
        }
    }
    return { problems, externalPasswords, externalAdminPasswords };
}

/**
 * The schema the stack publishes a dbt project's public models to, unless datamesh:insightsSchema
 * says otherwise: the project's `insights_schema` var, or else its name.
 */
export function defaultInsightsSchema(dbtProjectDir: string): string {
    let project: { name?: unknown; vars?: { insights_schema?: unknown } } = {};
    try {
        project = parseYaml(fs.readFileSync(path.join(dbtProjectDir, "dbt_project.yml"), "utf8")) ?? {};
    } catch {
        // A project that cannot be read is refused, naming its file, before anything uses the schema.
    }
    const candidate = String(project.vars?.insights_schema ?? project.name ?? "insights");
    return /^[a-z][a-z0-9_]*$/.test(candidate) ? candidate : "insights";
}

/**
 * Validates the raw `datamesh:*` configuration and resolves defaults. Everything that can be
 * checked before a resource exists is checked here, including that a data folder is complete
 * and every CSV row in it is valid.
 */
export function loadConfig(raw: Record<string, string>, context: ConfigContext): MeshConfig {
    const declared = context.domains ?? DOMAINS;
    const selected = selectDomains(raw, declared, context.stackDomains ?? []);
    const domains = selected.domains;
    const passwordKeys = new Set(declared.flatMap(d => [d.external?.passwordKey, d.external?.admin?.passwordKey].filter((key): key is string => Boolean(key))));
    const parsed = configSchema.safeParse(Object.fromEntries(Object.entries(raw).filter(([key]) => !passwordKeys.has(key))));
    // What the declarations say of the configuration is reported with any other mistake, all at once.
    const readers = raw.readers === undefined ? undefined : readersSchema.safeParse(raw.readers).data;
    const { problems, externalPasswords, externalAdminPasswords } = checkAgainstDomains(raw, readers ?? {}, domains);
    problems.unshift(...selected.problems);
    for (const { domain, readerPassword } of context.stackDomains ?? []) {
        externalPasswords[domain.name] = readerPassword;
    }
    if (!parsed.success) {
        throw new ConfigError(`invalid configuration:\n${[describeIssues(parsed.error), ...problems].join("\n")}`);
    }
    const c = parsed.data;
    const managed = domains.filter(d => !d.external);
    const ports = databasePorts(c.basePort, managed);
    const trinoInternalPort = c.trinoInternalPort ?? c.trinoPort + 1;
    const docsPort = c.docsPort ?? c.trinoPort + 2;
    const databasePortList = [...Object.values(ports.domains), ports.metastore];
    const lastDatabasePort = Math.max(...databasePortList);
    if (docsPort === c.trinoPort || docsPort === trinoInternalPort) {
        problems.push(`${CONFIG_NAMESPACE}:docsPort: must differ from trinoPort and trinoInternalPort (${c.trinoPort}, ${trinoInternalPort})`);
    }
    for (const [key, value] of [["trinoPort", c.trinoPort], ["trinoInternalPort", trinoInternalPort], ["docsPort", docsPort]] as const) {
        if (value >= c.basePort && value <= lastDatabasePort) {
            problems.push(`${CONFIG_NAMESPACE}:${key}: must not fall in the database ports basePort..basePort+${lastDatabasePort - c.basePort} (${c.basePort}..${lastDatabasePort})`);
        }
    }
    const namespace = c.namespace ?? `datamesh-${context.stack.toLowerCase().replace(/[^a-z0-9-]/g, "-")}`.slice(0, 63).replace(/-+$/, "");
    if (c.meshNamespace === namespace) {
        problems.push(`${CONFIG_NAMESPACE}:meshNamespace: '${namespace}' is this domain stack's own namespace (datamesh:namespace); the domain runs in a namespace of its own, apart from the mesh's`);
    }
    const dbtProjectDir = c.dbtProject ? path.resolve(context.projectDir, c.dbtProject) : path.join(context.projectDir, "dbt");
    if (c.dbtProject && !(fs.existsSync(dbtProjectDir) && fs.statSync(dbtProjectDir).isDirectory())) {
        problems.push(`${CONFIG_NAMESPACE}:dbtProject: ${dbtProjectDir} is not a folder`);
    } else if (c.dbtProject && !fs.existsSync(path.join(dbtProjectDir, "dbt_project.yml"))) {
        problems.push(`${CONFIG_NAMESPACE}:dbtProject: ${dbtProjectDir} has no dbt_project.yml, so it is not a dbt project`);
    }
    if (lastDatabasePort > 65535) {
        problems.push(`${CONFIG_NAMESPACE}:basePort: the ${databasePortList.length} database ports from ${c.basePort} go past 65535`);
    }
    if (problems.length > 0) {
        throw new ConfigError(`invalid configuration:\n${problems.join("\n")}`);
    }
    const resolve = (p: string) => path.resolve(context.projectDir, p);
    const dataSource: DataSource = c.scale
        ? { kind: "synthetic", scale: c.scale }
        : { kind: "files", dir: c.dataDir ? resolve(c.dataDir) : CANONICAL_DATA_DIR };
    const trinoHostnames = c.trinoHostnames ?? [];
    if (c.trinoCertificate && c.trinoPrivateKey) {
        try {
            assertCertificateCovers(c.trinoCertificate, c.trinoPrivateKey, { hostnames: ["localhost", ...trinoHostnames], ipAddresses: ["127.0.0.1"] });
        } catch (e) {
            throw new ConfigError(`invalid configuration:\n${CONFIG_NAMESPACE}:trinoCertificate: ${(e as Error).message}`);
        }
    }
    let domainFingerprints: Record<string, string>;
    try {
        domainFingerprints = fingerprintDataSource(dataSource, managed);
    } catch (e) {
        const key = c.dataDir ? `${CONFIG_NAMESPACE}:dataDir` : "canonical data";
        throw new ConfigError(`invalid configuration:\n${key}: ${(e as Error).message}`);
    }
    return {
        platform: c.platform,
        role: c.role,
        stack: context.stack,
        stateDir: c.stateDir ? resolve(c.stateDir) : path.join(context.projectDir, ".datamesh", context.stack),
        dbtProjectDir,
        cacheDir: c.cacheDir ? resolve(c.cacheDir) : context.env.DATAMESH_CACHE ?? path.join(os.homedir(), ".cache", "datamesh"),
        basePort: c.basePort,
        domains: [...domains],
        domainPorts: ports.domains,
        metastorePort: ports.metastore,
        externalPasswords,
        externalAdminPasswords,
        trinoPort: c.trinoPort,
        trinoInternalPort,
        docsPort,
        protectDomainData: c.protectDomainData === "true",
        trinoHostnames,
        trinoTls: c.trinoCertificate && c.trinoPrivateKey ? { certificatePem: c.trinoCertificate, privateKeyPem: c.trinoPrivateKey } : undefined,
        analystPassword: c.analystPassword,
        readers: Object.fromEntries(
            domains
                .map((d): [string, string[]] => [d.name, [...new Set([...d.readers, ...(c.readers?.[d.name] ?? [])])]])
                .filter(([, readers]) => readers.length > 0),
        ),
        trinoMaxHeap: c.trinoMaxHeap,
        trinoJvmOptions: c.trinoJvmOptions ?? [],
        insightsSchema: c.insightsSchema ?? defaultInsightsSchema(dbtProjectDir),
        rebuild: c.rebuild,
        dataSource,
        domainFingerprints,
        // Every domain's fingerprint, in declaration order, so that the dbt run follows any domain's new data.
        dataFingerprint: crypto.createHash("sha256").update(JSON.stringify(managed.map(d => [d.name, domainFingerprints[d.name]]))).digest("hex"),
        workers: c.workers.min,
        workerAutoscaling: c.workers.autoscaled ? { min: c.workers.min, max: c.workers.max, scaleDownWindowSeconds: c.workerScaleDownWindow ?? 300 } : undefined,
        images: {
            postgresImage: c.postgresImage,
            mariadbImage: c.mariadbImage,
            trinoImage: c.trinoImage,
            seaweedfsImage: c.seaweedfsImage,
            dbtImage: c.dbtImage,
            docsImage: c.docsImage,
            dbtBaseImage: c.dbtBaseImage,
        },
        pip: { indexUrl: c.pipIndexUrl, caBundle: c.pipCaBundle },
        // The default image is plain Python; any other dbtImage is taken to bring its own dbt unless the key says otherwise.
        dbtToolchain: c.dbtToolchain ?? (c.dbtImage === DEFAULT_IMAGES.dbtImage ? "volume" : "image"),
        dockerBuildNetwork: c.dockerBuildNetwork,
        namespace,
        meshNamespace: c.meshNamespace,
        podSecurityLabel: c.podSecurityLabel !== "false",
        workerGracePeriodSeconds: c.workerGracePeriod ?? 30,
        allowedClients: c.allowedClients,
        renderYamlTo: c.renderYamlTo ? resolve(c.renderYamlTo) : undefined,
        kubeconfig: c.kubeconfig ? resolve(c.kubeconfig) : undefined,
        kubeContext: c.kubeContext,
        externalWarehouse:
            c.warehouseEndpoint && c.warehouseBucket && c.warehouseAccessKey && c.warehouseSecretKey
                ? {
                      endpoint: c.warehouseEndpoint.replace(/\/+$/, ""),
                      bucket: c.warehouseBucket,
                      region: c.warehouseRegion,
                      pathStyle: c.warehousePathStyle === "true",
                      accessKey: c.warehouseAccessKey,
                      secretKey: c.warehouseSecretKey,
                  }
                : undefined,
    };
}

/** Picks this project's keys out of Pulumi's whole configuration map (`datamesh:key` -> `key`). */
export function projectConfig(all: Record<string, string>): Record<string, string> {
    const prefix = `${CONFIG_NAMESPACE}:`;
    return Object.fromEntries(
        Object.entries(all)
            .filter(([key]) => key.startsWith(prefix))
            .map(([key, value]) => [key.slice(prefix.length), value]),
    );
}
