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
