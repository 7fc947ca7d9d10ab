import { assertCertificateCovers } from "../../lib/certificates";
import { selfSignedCertificate as selfSigned } from "../selfSigned";

describe("a certificate the user supplies for Trino", () => {
    const names = { hostnames: ["localhost", "trino.example.internal"], ipAddresses: ["127.0.0.1"] };

    it("is accepted when it covers every name clients use", () => {
        const { cert, key } = selfSigned("DNS:localhost,DNS:trino.example.internal,IP:127.0.0.1");
        expect(() => assertCertificateCovers(cert, key, names)).not.toThrow();
    });

    it("is refused, naming what it misses, when it does not cover a host", () => {
        const { cert, key } = selfSigned("DNS:localhost,DNS:other.example");
        expect(() => assertCertificateCovers(cert, key, names)).toThrow(/^the certificate does not cover trino\.example\.internal, 127\.0\.0\.1 \(it names: DNS:localhost, DNS:other\.example\)$/);
    });

    it("is refused with a key that is not its own", () => {
        const { cert } = selfSigned("DNS:localhost,DNS:trino.example.internal,IP:127.0.0.1");
        const { key } = selfSigned("DNS:localhost");
        expect(() => assertCertificateCovers(cert, key, names)).toThrow("the private key does not belong to the certificate");
    });

    it("is refused when it has expired or is not PEM", () => {
        const { cert, key } = selfSigned("DNS:localhost,DNS:trino.example.internal,IP:127.0.0.1");
        expect(() => assertCertificateCovers(cert, key, names, new Date(Date.now() + 10 * 86_400_000))).toThrow(/^the certificate is not valid now/);
        expect(() => assertCertificateCovers("not a certificate", key, names)).toThrow(/^is not a PEM certificate/);
    });
});

describe("a server certificate the client does not trust", () => {
    it("is recognised as no retry's to cure, and named with both sides: what the server presents and the CA expected", async () => {
        const https = require("https") as typeof import("https");
        const { describeCertificateMismatch, isCertificateMismatch } = await import("../../lib/certificates");
        const { queryTrino } = await import("../../lib/trinoQuery");
        const presented = selfSigned("DNS:localhost,IP:127.0.0.1");
        const expected = selfSigned("DNS:localhost,IP:127.0.0.1");
        const server = https.createServer({ cert: presented.cert, key: presented.key }, (_request, response) => response.end("{}"));
        await new Promise<void>(resolve => server.listen(0, "127.0.0.1", resolve));
        const port = (server.address() as import("net").AddressInfo).port;
        try {
            const failure = await queryTrino({ url: `https://127.0.0.1:${port}`, user: "u", password: "p", caCert: expected.cert }, "SELECT 1").then(
                () => new Error("the query went through"),
                (error: Error) => error,
            );
            expect(isCertificateMismatch(failure)).toBe(true);
            expect(isCertificateMismatch(new Error("connect ECONNREFUSED 127.0.0.1:1"))).toBe(false);
            const message = await describeCertificateMismatch(port, expected.cert, failure);
            const fingerprint = (pem: string) => new (require("crypto").X509Certificate)(pem).fingerprint256;
            expect(message).toContain(`it presents 'CN=datamesh-test' issued by 'CN=datamesh-test' (SHA-256 ${fingerprint(presented.cert)})`);
            expect(message).toContain(`the stack expects one signed by 'CN=datamesh-test' issued by 'CN=datamesh-test' (SHA-256 ${fingerprint(expected.cert)})`);
        } finally {
            server.close();
        }
    });
});

describe("the stack's own Trino certificate", () => {
    afterEach(() => jest.useRealTimers());

    it("is renewed by the up that finds it within 30 days of its end, and kept before that", async () => {
        const crypto = await import("crypto");
        const { tlsProvider } = await import("../../resources/trinoTls");
        const { findJavaHome } = await import("../../platforms/local/toolchain");
        const inputs = { keytool: `${findJavaHome(11)}/bin/keytool`, hostnames: ["localhost"], ipAddresses: ["127.0.0.1"], keystorePassword: "keystore-password-1", validityDays: 60 };
        const { outs: first } = await tlsProvider.create(inputs);
        const validTo = new Date(new crypto.X509Certificate(first.certificatePem).validTo).getTime();

        // 31 days before its end nothing changes.
        jest.useFakeTimers({ now: validTo - 31 * 24 * 3600 * 1000, doNotFake: ["nextTick", "setImmediate", "setTimeout", "setInterval"] });
        await expect(tlsProvider.diff!("id", first, inputs)).resolves.toMatchObject({ changes: false });
        expect((await tlsProvider.update!("id", first, inputs)).outs.certificatePem).toBe(first.certificatePem);

        // 29 days before it, the next up renews it.
        jest.setSystemTime(validTo - 29 * 24 * 3600 * 1000);
        await expect(tlsProvider.diff!("id", first, inputs)).resolves.toMatchObject({ changes: true, replaces: [] });
        const { outs: renewed } = await tlsProvider.update!("id", first, inputs);
        expect(renewed.certificatePem).not.toBe(first.certificatePem);
        expect(renewed.keystoreBase64).not.toBe(first.keystoreBase64);
        jest.useRealTimers();
        expect(new crypto.X509Certificate(renewed.certificatePem).checkHost("localhost")).toBe("localhost");
    });
});
