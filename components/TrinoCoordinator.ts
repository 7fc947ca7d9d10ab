import * as pulumi from "@pulumi/pulumi";
import { TrinoAccess, TrinoConnection } from "../lib/trinoQuery";
import { CatalogSpec } from "../catalogs/trino";
import { Platform } from "../platforms";
import { bcryptHashWithSalt } from "../lib/passwordHash";
import { BcryptSalt, GeneratedPassword } from "../resources/password";
import { TrinoTlsMaterial } from "../resources/trinoTls";

const KEYSTORE_PASSWORD_ENV = "TRINO_KEYSTORE_PASSWORD";
const SHARED_SECRET_ENV = "TRINO_SHARED_SECRET";

/** The coordinator's TLS identity as Trino reads it, and what clients trust. */
interface TrinoTls {
    keystore: { file: string; base64: pulumi.Input<string>; passwordEnv?: string };
    /** Variables the keystore needs on the Trino process (secret). */
    env: pulumi.Input<Record<string, string>>;
    caCert: pulumi.Input<string>;
}

/** A certificate made for this stack, in a PKCS12 keystore locked with a generated password. */
function generatedTls(name: string, args: TrinoCoordinatorArgs, child: pulumi.CustomResourceOptions): TrinoTls {
    const keystorePassword = new GeneratedPassword(`${name}-keystore-password`, {}, child);
    const material = new TrinoTlsMaterial(
        `${name}-tls`,
        { keytool: args.platform.keytool, hostnames: ["localhost", ...args.platform.trinoHostnames, ...(args.extraHostnames ?? [])], ipAddresses: ["127.0.0.1"], keystorePassword: pulumi.secret(keystorePassword.value) },
        child,
    );
    return {
        keystore: { file: "keystore.p12", base64: material.keystoreBase64, passwordEnv: KEYSTORE_PASSWORD_ENV },
        env: pulumi.secret(keystorePassword.value.apply(password => ({ [KEYSTORE_PASSWORD_ENV]: password }))),
        caCert: material.certificatePem,
    };
}

/** The user's own certificate: Trino reads the key and chain from one PEM file. */
function suppliedTls(certificate: { certificatePem: string; privateKeyPem: pulumi.Input<string> }): TrinoTls {
    const pem = pulumi.secret(pulumi.output(certificate.privateKeyPem).apply(key => Buffer.from(`${key.trim()}\n${certificate.certificatePem.trim()}\n`).toString("base64")));
    return { keystore: { file: "keystore.pem", base64: pem }, env: {}, caCert: certificate.certificatePem };
}

/** A Trino user's name and password. */
export interface TrinoCredentials {
    user: string;
    password: string;
}

/** A Trino user as exported: the name in clear, the password a secret. */
export interface TrinoUserOutput {
    user: string;
    password: pulumi.Output<string>;
}

export interface TrinoCoordinatorArgs {
    /** Where the coordinator runs. */
    platform: Platform;
    /** The pinned Trino release, e.g. "476". */
    version: string;
    /** HTTPS port clients connect to. */
    port: number;
    /** Plain HTTP port for the coordinator's internal calls; clients cannot authenticate on it. */
    internalPort: number;
    /** JVM maximum heap, e.g. "2G". */
    maxHeap: string;
    /** JVM flags after the stack's own, on every node. */
    jvmOptions: string[];
    /** Worker nodes besides the coordinator; 0 means the coordinator schedules work itself. */
    workers: number;
    /** One catalog per domain plus the insights catalog; each becomes etc/catalog/<name>.properties. */
    catalogs: pulumi.Input<CatalogSpec>[];
    /** The secrets the catalogs reference as ${ENV:...}, set on the Trino process only. */
    secretEnv: pulumi.Input<Record<string, string>>[];
    /** Container networks of domain stacks' servers, which the coordinator and workers join to reach them. */
    domainNetworks: string[];
    /** Trino's users, by role name (e.g. analyst -> analyst); each gets a generated password unless preset. */
    users: Record<string, string>;
    /** Passwords the user chose, by role (secret); these roles get no generated password. */
    presetPasswords?: Record<string, pulumi.Input<string>>;
    /** Renders the file-based access control rules (catalogs/accessRules.ts) with the key of the PII hash masks, which the coordinator generates and only Trino's configuration holds. */
    accessRules: (piiMaskKey: string) => string;
    /** The role whose user proves the coordinator ready with `SELECT 1`. */
    probeRole: string;
    /** Host names the certificate covers, besides localhost and 127.0.0.1. */
    extraHostnames?: string[];
    /** The user's own certificate chain and unencrypted private key (secret), already checked to cover the hosts; generated when unset. */
    certificate?: { certificatePem: string; privateKeyPem: pulumi.Input<string> };
}

/**
 * A Trino coordinator that federates the domains: generated etc/ and catalog files, HTTPS with
 * password authentication and file-based access control, started and reported created only once
 * it answers a query.
 */
export class TrinoCoordinator extends pulumi.ComponentResource {
    public readonly url: pulumi.Output<string>;
    public readonly host: pulumi.Output<string>;
    public readonly port: pulumi.Output<number>;
    /** The coordinator's address as the platform's own jobs (dbt, the check) reach it. */
    public readonly meshHost: pulumi.Output<string>;
    public readonly meshPort: pulumi.Output<number>;
    public readonly version: pulumi.Output<string>;
    public readonly catalogNames: pulumi.Output<string[]>;
    /** The self-signed certificate clients trust, PEM. */
    public readonly caCert: pulumi.Output<string>;
    /** Every user by role; passwords are secrets. */
    public readonly users: Record<string, TrinoUserOutput>;
    /** The resource to depend on: Trino is ready when it exists. */
    public readonly ready: pulumi.Resource;
    /** How the deploying process reaches the coordinator, as its platform says. */
    private readonly access: (connection: pulumi.Output<TrinoConnection>) => pulumi.Output<TrinoAccess>;

    constructor(name: string, args: TrinoCoordinatorArgs, opts?: pulumi.ComponentResourceOptions) {
        super("datamesh:index:TrinoCoordinator", name, {}, opts);
        const child = { parent: this };
        if (!args.users[args.probeRole]) {
            throw new Error(`${name}: the probe role '${args.probeRole}' is not one of the users (${Object.keys(args.users).join(", ")})`);
        }
        const passwords: Record<string, { value: pulumi.Output<string>; bcryptHash: pulumi.Output<string> }> = Object.fromEntries(
            Object.keys(args.users).map(role => {
                const preset = args.presetPasswords?.[role];
                const prefix = `${name}-${role.replace(/_/g, "-")}`;
                if (preset === undefined) {
                    return [role, new GeneratedPassword(`${prefix}-password`, {}, child)];
                }
                const value = pulumi.secret(preset);
                const salt = new BcryptSalt(`${prefix}-salt`, { user: args.users[role] }, child);
                return [role, { value, bcryptHash: pulumi.all([value, salt.salt]).apply(([password, stored]) => bcryptHashWithSalt(password, stored)) }];
            }),
        );
        const sharedSecret = new GeneratedPassword(`${name}-shared-secret`, { length: 64 }, child);
        const piiMaskKey = new GeneratedPassword(`${name}-pii-mask-key`, { length: 32 }, child);
        const tls = args.certificate ? suppliedTls(args.certificate) : generatedTls(name, args, child);

        const catalogs = pulumi.all(args.catalogs);
        const env = pulumi.secret(
            pulumi
                .all([pulumi.all(args.secretEnv), tls.env, sharedSecret.value])
                .apply(([parts, tlsEnv, shared]) => Object.assign({ [SHARED_SECRET_ENV]: shared }, tlsEnv, ...parts) as Record<string, string>),
        );
        // A hash lets whoever reads it test guesses, so the users' list is a secret wherever it goes.
        const users = pulumi.secret(pulumi.all(Object.entries(args.users).map(([role, user]) => passwords[role].bcryptHash.apply(bcryptHash => ({ user, bcryptHash })))));
        const probe = pulumi.secret(passwords[args.probeRole].value.apply(password => ({ user: args.users[args.probeRole], password })));
        const server = args.platform.trinoServer(
            `${name}-server`,
            {
                component: name,
                port: args.port,
                internalPort: args.internalPort,
                maxHeap: args.maxHeap,
                jvmOptions: args.jvmOptions,
                workers: args.workers,
                catalogs,
                env,
                sharedSecretEnv: SHARED_SECRET_ENV,
                domainNetworks: args.domainNetworks,
                keystore: tls.keystore,
                caCert: tls.caCert,
                users,
                accessRules: pulumi.secret(piiMaskKey.value.apply(args.accessRules)),
                probe,
            },
            child,
        );
        const expectedVersion = args.version;

        this.url = server.url;
        this.host = server.host;
        this.port = server.port;
        this.meshHost = server.meshHost;
        this.meshPort = server.meshPort;
        this.version = server.version.apply(running => {
            if (running !== expectedVersion) {
                throw new Error(`${name}: Trino reports version ${running}, but ${expectedVersion} is pinned`);
            }
            return running;
        });
        this.catalogNames = catalogs.apply(list => list.map(c => c.name).sort());
        this.caCert = pulumi.output(tls.caCert);
        this.users = Object.fromEntries(Object.entries(args.users).map(([role, user]) => [role, { user, password: pulumi.secret(passwords[role].value) }]));
        this.ready = server.resource;
        this.access = connection => server.access(connection);

        this.registerOutputs({ url: this.url, version: this.version, catalogNames: this.catalogNames, caCert: this.caCert });
    }

    /** How the deploying process runs SQL as a role: the coordinator's address and the credentials (secret). */
    deployerAccess(role: string): pulumi.Output<TrinoAccess> {
        return pulumi.secret(
            this.access(pulumi.all([this.url, this.caCert, this.credentials(role)]).apply(([url, caCert, credentials]) => ({ url, caCert, user: credentials.user, password: credentials.password }))),
        );
    }

    /** One role's credentials; the password stays a secret. */
    credentials(role: string): pulumi.Output<TrinoCredentials> {
        const found = this.users[role];
        if (!found) {
            throw new Error(`no Trino user for role '${role}'`);
        }
        return pulumi.secret(found.password.apply(password => ({ user: found.user, password })));
    }
}
