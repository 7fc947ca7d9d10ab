import * as crypto from "crypto";

/** The names a Trino certificate must cover: what clients type in the URL. */
export interface CertificateNames {
    hostnames: string[];
    ipAddresses: string[];
}

/**
 * Checks a certificate and private key the user supplies for Trino's HTTPS: both parse, they
 * belong together, the certificate is valid now, and it covers every host name and address that
 * clients use. Returns nothing; throws a message that says which name is not covered.
 */
export function assertCertificateCovers(certificatePem: string, privateKeyPem: string, names: CertificateNames, now = new Date()): void {
    let certificate: crypto.X509Certificate;
    try {
        certificate = new crypto.X509Certificate(certificatePem);
    } catch (e) {
        throw new Error(`is not a PEM certificate: ${(e as Error).message}`);
    }
    let key: crypto.KeyObject;
    try {
        key = crypto.createPrivateKey(privateKeyPem);
    } catch (e) {
        throw new Error(`the private key is not an unencrypted PEM private key: ${(e as Error).message}`);
    }
    if (!certificate.checkPrivateKey(key)) {
        throw new Error("the private key does not belong to the certificate");
    }
    if (now < new Date(certificate.validFrom) || now > new Date(certificate.validTo)) {
        throw new Error(`the certificate is not valid now (valid from ${certificate.validFrom} to ${certificate.validTo})`);
    }
    const uncovered = [
        ...names.hostnames.filter(host => certificate.checkHost(host, { subject: "never" }) === undefined),
        ...names.ipAddresses.filter(ip => certificate.checkIP(ip) === undefined),
    ];
    if (uncovered.length > 0) {
        throw new Error(`the certificate does not cover ${uncovered.join(", ")} (it names: ${certificate.subjectAltName ?? "no subject alternative names"})`);
    }
}

const CERTIFICATE_ERRORS = /self[- ]signed certificate|unable to verify|unable to get (local )?issuer certificate|certificate has expired|certificate is not yet valid|does not match certificate's altnames|ERR_TLS_CERT_ALTNAME_INVALID|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|CERT_SIGNATURE_FAILURE/i;

/** Whether a failed HTTPS request failed on the server's certificate, which no retry can cure. */
export function isCertificateMismatch(error: unknown): boolean {
    const parts: string[] = [];
    for (let e = error as { message?: string; code?: string; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
        parts.push(String(e.message ?? ""), String(e.code ?? ""));
    }
    return CERTIFICATE_ERRORS.test(parts.join(" "));
}

/** A certificate as an error names it: its subject, its issuer, and its SHA-256 fingerprint. */
function describeCertificate(subject: string, issuer: string, fingerprint256: string): string {
    const oneLine = (name: string) => name.replace(/\n/g, ", ");
    return `'${oneLine(subject)}' issued by '${oneLine(issuer)}' (SHA-256 ${fingerprint256})`;
}

/**
 * Both sides of a certificate mismatch on 127.0.0.1:port: the certificate the server presents, read
 * without trusting it, and the CA the client was told to trust.
 */
export async function describeCertificateMismatch(port: number, expectedCaPem: string, error: Error): Promise<string> {
    const tls = require("tls") as typeof import("tls");
    const presented = await new Promise<string>(resolve => {
        const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
            const peer = socket.getPeerCertificate();
            const name = (fields: Record<string, string | string[]> | undefined) =>
                Object.entries(fields ?? {})
                    .map(([key, value]) => `${key}=${value}`)
                    .join(", ");
            resolve(peer && peer.fingerprint256 ? describeCertificate(name(peer.subject as never), name(peer.issuer as never), peer.fingerprint256) : "no certificate");
            socket.end();
        });
        socket.on("error", failure => resolve(`no certificate could be read (${failure.message})`));
    });
    let expected: string;
    try {
        const ca = new crypto.X509Certificate(expectedCaPem);
        expected = describeCertificate(ca.subject, ca.issuer, ca.fingerprint256);
    } catch (failure) {
        expected = `a CA that does not parse (${(failure as Error).message})`;
    }
    return `the server presents a certificate the stack does not trust (${error.message}): it presents ${presented}; the stack expects one signed by ${expected}`;
}
