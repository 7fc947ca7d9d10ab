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
