import * as pulumi from "@pulumi/pulumi";
import { DatabaseTls, Engine } from "../../lib/domains";
import { KeyPairPem, ServerCertificate, StackCertificateAuthority } from "../../resources/serverCertificates";

/** What clients read in errors about the servers' certificates: where the CA they trust comes from. */
export const STACK_CA_NAME = "the stack's CA (stack output domains.<domain>.tls.caCert)";

/** Where a server reads its certificate, its key and (PostgreSQL) its client rules. */
export interface ServerTlsFiles {
    certificate: string;
    key: string;
    hba: string;
}

/**
 * The engine's flags that make it present the certificate and accept logins over TCP with TLS
 * alone: PostgreSQL's `ssl` with client rules of `hostssl` lines, MariaDB's
 * `require_secure_transport` (its socket, which is not TCP, stays as it was).
 */
export function serverTlsArgs(engine: Engine, files: ServerTlsFiles): string[] {
    return engine === "postgresql"
        ? ["-c", "ssl=on", "-c", `ssl_cert_file=${files.certificate}`, "-c", `ssl_key_file=${files.key}`, "-c", `hba_file=${files.hba}`]
        : [`--ssl-cert=${files.certificate}`, `--ssl-key=${files.key}`, "--require-secure-transport=ON"];
}

/** The names a server's certificate covers: every name its clients connect to. */
export interface ServerNames {
    hostnames: string[];
    ipAddresses: string[];
}

/** A server's TLS material, and what its clients are told. */
export interface IssuedServerTls {
    /** The certificate and key the server presents (secret: the key). */
    keyPair: pulumi.Output<KeyPairPem>;
    /** The CA that issued it, which the server's own readiness probe may check against. */
    caPem: pulumi.Output<string>;
    /** For the DatabaseServer answer: every client verifies the server against the stack's CA. */
    tls: pulumi.Output<DatabaseTls>;
    /** The certificate's resource, to depend on. */
    certificate: ServerCertificate;
}

/**
 * The stack's CA and the certificates it issues to the database servers the stack runs, for the
 * platforms that run them (local, docker). The CA is the top-level resource `stack-ca`, made with
 * the first server that serves TLS, so a stack without one has no CA; each server's certificate
 * is `<server>-certificate`, beside the server.
 */
export class StackServerTls {
    private authority?: StackCertificateAuthority;

    constructor(private readonly stack: string) {}

    private certificateAuthority(): StackCertificateAuthority {
        this.authority ??= new StackCertificateAuthority("stack-ca", { commonName: `datamesh ${this.stack} CA` });
        return this.authority;
    }

    /** A certificate for the server `name`, naming what its clients connect to. */
    issue(name: string, component: string, names: ServerNames, opts: pulumi.CustomResourceOptions): IssuedServerTls {
        if (names.hostnames.length + names.ipAddresses.length === 0) {
            throw new Error(`${component}: a server certificate must name at least one host or address`);
        }
        const authority = this.certificateAuthority();
        const certificate = new ServerCertificate(
            `${name}-certificate`,
            { component, hostnames: names.hostnames, ipAddresses: names.ipAddresses, authority: { certificatePem: authority.certificatePem, privateKeyPem: authority.privateKeyPem } },
            { parent: opts.parent },
        );
        return {
            keyPair: pulumi.secret({ certificatePem: certificate.certificatePem, privateKeyPem: certificate.privateKeyPem }),
            caPem: authority.certificatePem,
            tls: authority.certificatePem.apply(caPem => ({ mode: "verify-full" as const, caPem, caFile: STACK_CA_NAME })),
            certificate,
        };
    }
}
