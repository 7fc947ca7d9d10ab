import * as pulumi from "@pulumi/pulumi";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { runToCompletion, withScratchDir } from "../platforms/local/process";
import { renewalDue } from "./trinoTls";

/*
 * The stack's own certificate authority, and the certificates it issues to the database servers the
 * stack runs. Clients (Trino's catalogs, the loaders, a domain owner's tools) trust the CA alone,
 * so a server's certificate can be renewed without touching them. openssl makes the keys: Node can
 * check a certificate but cannot issue one. The keys are elliptic-curve (P-256), which every driver
 * the stack uses accepts.
 */

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

export interface KeyPairPem {
    certificatePem: string;
    privateKeyPem: string;
}

function openssl(args: string[], cwd: string, what: string): void {
    runToCompletion("openssl", args, { cwd, what });
}

function readPair(dir: string): KeyPairPem {
    return { certificatePem: fs.readFileSync(path.join(dir, "cert.pem"), "utf8"), privateKeyPem: fs.readFileSync(path.join(dir, "key.pem"), "utf8") };
}

export interface AuthorityInputs {
    commonName: string;
    validityDays: number;
}

/** A new CA: a self-signed certificate marked as one, allowed to sign server certificates only. */
export function makeAuthority(inputs: AuthorityInputs): KeyPairPem {
    return withScratchDir(dir => {
        openssl(
            ["req", "-x509", ...EC_KEY, "-sha256", "-days", String(inputs.validityDays), "-subj", `/O=datamesh/CN=${inputs.commonName}`,
                "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", "key.pem", "-out", "cert.pem"],
            dir,
            `${inputs.commonName}: making the stack's certificate authority`,
        );
        return readPair(dir);
    });
}

export interface ServerCertificateInputs {
    /** Names the server in errors and in the certificate's subject. */
    component: string;
    hostnames: string[];
    ipAddresses: string[];
    authority: KeyPairPem;
    validityDays: number;
}

/** A server certificate the CA signs, for the names given. */
export function issueServerCertificate(inputs: ServerCertificateInputs): KeyPairPem {
    return withScratchDir(dir => {
        fs.writeFileSync(path.join(dir, "ca.pem"), inputs.authority.certificatePem);
        fs.writeFileSync(path.join(dir, "ca-key.pem"), inputs.authority.privateKeyPem, { mode: 0o600 });
        const names = [...inputs.hostnames.map(h => `DNS:${h}`), ...inputs.ipAddresses.map(ip => `IP:${ip}`)].join(",");
        fs.writeFileSync(path.join(dir, "ext.cnf"), `subjectAltName=${names}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\nbasicConstraints=CA:FALSE\n`);
        const what = `${inputs.component}: issuing the server's TLS certificate`;
        openssl(["req", "-new", ...EC_KEY, "-subj", `/O=datamesh/CN=${inputs.hostnames[0] ?? inputs.ipAddresses[0]}`, "-keyout", "key.pem", "-out", "request.csr"], dir, what);
        openssl(
            ["x509", "-req", "-in", "request.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-set_serial", `0x${crypto.randomBytes(12).toString("hex")}`, "-sha256",
                "-days", String(inputs.validityDays), "-extfile", "ext.cnf", "-out", "cert.pem"],
            dir,
            what,
        );
        return readPair(dir);
    });
}

export const authorityProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: AuthorityInputs) {
        return { id: crypto.randomUUID(), outs: { ...inputs, ...makeAuthority(inputs) } };
    },
    async diff(_id: string, olds: AuthorityInputs & Partial<KeyPairPem>, news: AuthorityInputs) {
        // Nothing else renews it: the `up` that finds it near its end makes a new one, and the servers' certificates follow.
        const expiring = olds.certificatePem !== undefined && renewalDue(olds.certificatePem);
        return { changes: expiring || olds.commonName !== news.commonName || olds.validityDays !== news.validityDays };
    },
    async update(_id: string, olds: AuthorityInputs & KeyPairPem, news: AuthorityInputs) {
        const renew = renewalDue(olds.certificatePem) || olds.commonName !== news.commonName;
        return { outs: { ...news, ...(renew ? makeAuthority(news) : { certificatePem: olds.certificatePem, privateKeyPem: olds.privateKeyPem }) } };
    },
};

/** What a certificate is issued for: a change to any of it needs a new certificate. */
function issuedFor(inputs: ServerCertificateInputs): string {
    return JSON.stringify([inputs.hostnames, inputs.ipAddresses, inputs.validityDays, inputs.authority?.certificatePem]);
}

export const serverCertificateProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: ServerCertificateInputs) {
        return { id: crypto.randomUUID(), outs: { ...inputs, ...issueServerCertificate(inputs) } };
    },
    async diff(_id: string, olds: ServerCertificateInputs & Partial<KeyPairPem>, news: ServerCertificateInputs) {
        const expiring = olds.certificatePem !== undefined && renewalDue(olds.certificatePem);
        return { changes: expiring || issuedFor(olds) !== issuedFor(news) || olds.component !== news.component };
    },
    async update(_id: string, olds: ServerCertificateInputs & KeyPairPem, news: ServerCertificateInputs) {
        const reissue = renewalDue(olds.certificatePem) || issuedFor(olds) !== issuedFor(news);
        return { outs: { ...news, ...(reissue ? issueServerCertificate(news) : { certificatePem: olds.certificatePem, privateKeyPem: olds.privateKeyPem }) } };
    },
};

export interface StackCertificateAuthorityArgs {
    /** The CA's common name: the stack it belongs to. */
    commonName: pulumi.Input<string>;
    /** How long the CA is valid; an `up` within 30 days of its end makes a new one. */
    validityDays?: number;
}

/** The stack's CA: a self-signed certificate marked as a CA, and its key (secret). */
export class StackCertificateAuthority extends pulumi.dynamic.Resource {
    /** What clients trust, PEM. */
    public readonly certificatePem!: pulumi.Output<string>;
    /** The CA's private key, PEM (secret). */
    public readonly privateKeyPem!: pulumi.Output<string>;

    constructor(name: string, args: StackCertificateAuthorityArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            authorityProvider,
            name,
            { ...args, validityDays: args.validityDays ?? 3650, certificatePem: undefined, privateKeyPem: undefined },
            { ...opts, additionalSecretOutputs: ["privateKeyPem"] },
            "datamesh",
            "StackCertificateAuthority",
        );
    }
}

export interface ServerCertificateArgs {
    /** Names the server in errors and in the certificate's subject. */
    component: pulumi.Input<string>;
    /** DNS names the certificate covers. */
    hostnames: pulumi.Input<string[]>;
    /** IP addresses the certificate covers. */
    ipAddresses: pulumi.Input<string[]>;
    /** The CA that signs it (its key is secret). */
    authority: pulumi.Input<{ certificatePem: pulumi.Input<string>; privateKeyPem: pulumi.Input<string> }>;
    /** How long the certificate is valid; an `up` within 30 days of its end issues a new one. */
    validityDays?: number;
}

/** A database server's certificate, issued by the stack's CA, and its key (secret). */
export class ServerCertificate extends pulumi.dynamic.Resource {
    public readonly certificatePem!: pulumi.Output<string>;
    /** The server's private key, PEM (secret). */
    public readonly privateKeyPem!: pulumi.Output<string>;

    constructor(name: string, args: ServerCertificateArgs, opts?: pulumi.CustomResourceOptions) {
        super(
            serverCertificateProvider,
            name,
            { ...args, validityDays: args.validityDays ?? 825, certificatePem: undefined, privateKeyPem: undefined },
            { ...opts, additionalSecretOutputs: ["privateKeyPem", "authority"] },
            "datamesh",
            "ServerCertificate",
        );
    }
}
