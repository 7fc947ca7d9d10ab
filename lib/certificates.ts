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

/**
 * The certificate a PostgreSQL or MariaDB server presents, read without trusting it and without
 * sending any credential: each protocol's own request to start TLS, then the handshake alone. For
 * an error that names both sides of a certificate the client refused.
 */
export async function presentedDatabaseCertificate(engine: "postgresql" | "mariadb", host: string, port: number, timeoutMs = 5000): Promise<string> {
    const net = require("net") as typeof import("net");
    const tls = require("tls") as typeof import("tls");
    const socket = net.connect({ host, port });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    // Declared in order, each before any use: Pulumi serializes this function into the dynamic provider, and its closure
    // analysis takes a name used before its declaration (even inside a callback) for a variable it cannot find.
    let buffered = Buffer.alloc(0);
    let waiting: { complete: (received: Buffer) => boolean; resolve: () => void; reject: (error: Error) => void } | undefined;
    const onData = (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        if (waiting && waiting.complete(buffered)) {
            const done = waiting;
            waiting = undefined;
            socket.pause();
            done.resolve();
        }
    };
    const onFailure = (error: Error) => {
        const done = waiting;
        waiting = undefined;
        done?.reject(error);
    };
    socket.on("data", onData).on("error", onFailure).on("close", () => onFailure(new Error("the server closed the connection")));
    const readUntil = (complete: (received: Buffer) => boolean) =>
        new Promise<void>((resolve, reject) => {
            waiting = { complete, resolve, reject };
            socket.resume();
            onData(Buffer.alloc(0));
        });
    try {
        // Only called once a driver got as far as a certificate, so the server offers TLS; one that does not fails the handshake below.
        if (engine === "postgresql") {
            // SSLRequest: length 8, code 80877103; the server answers one byte (S) and then speaks TLS.
            socket.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]));
            await readUntil(received => received.length >= 1);
        } else {
            // The server's greeting (one packet: 3 bytes of length, 1 of sequence) comes first.
            await readUntil(received => received.length >= 4 && received.length >= 4 + received.readUIntLE(0, 3));
            // SSLRequest, sequence 1, 32 bytes: capabilities (SSL, protocol 4.1, secure connection), max packet, utf8mb4, zeros.
            const request = Buffer.alloc(36);
            request.writeUIntLE(32, 0, 3);
            request.writeUInt8(1, 3);
            request.writeUInt32LE(0x0800 | 0x0200 | 0x8000, 4);
            request.writeUInt32LE(16 * 1024 * 1024, 8);
            request.writeUInt8(45, 12);
            socket.write(request);
        }
        socket.off("data", onData);
        const secure = tls.connect({ socket, rejectUnauthorized: false, ...(net.isIP(host) === 0 ? { servername: host } : {}) });
        try {
            const peer = await new Promise<import("tls").PeerCertificate>((resolve, reject) => {
                secure.once("secureConnect", () => resolve(secure.getPeerCertificate())).once("error", reject);
            });
            if (!peer || !peer.fingerprint256) {
                return "no certificate";
            }
            const name = (fields: object | undefined) =>
                Object.entries(fields ?? {})
                    .map(([key, value]) => `${key}=${value}`)
                    .join(", ");
            return `${describeCertificate(name(peer.subject), name(peer.issuer), peer.fingerprint256)} for ${peer.subjectaltname ?? "no subject alternative name"}`;
        } finally {
            secure.destroy();
        }
    } catch (error) {
        return `no certificate could be read (${(error as Error).message})`;
    } finally {
        socket.destroy();
    }
}
