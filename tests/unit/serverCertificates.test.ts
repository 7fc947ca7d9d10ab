import * as crypto from "crypto";
import { authorityProvider, issueServerCertificate, KeyPairPem, makeAuthority, serverCertificateProvider } from "../../resources/serverCertificates";

/*
 * The stack's CA and the certificates it issues to the database servers, made by openssl and
 * checked here with Node's own X.509 code, independently of how they were made.
 */

const authority = makeAuthority({ commonName: "datamesh unit CA", validityDays: 3650 });
const server = issueServerCertificate({ component: "orders", hostnames: ["localhost"], ipAddresses: ["127.0.0.1"], authority, validityDays: 825 });
const days = (certificate: crypto.X509Certificate) => (new Date(certificate.validTo).getTime() - Date.now()) / 86_400_000;

describe("the stack's certificate authority", () => {
    it("is a CA that signs only server certificates, with its own key", () => {
        const ca = new crypto.X509Certificate(authority.certificatePem);
        expect(ca.ca).toBe(true);
        expect(ca.checkPrivateKey(crypto.createPrivateKey(authority.privateKeyPem))).toBe(true);
        expect(ca.verify(ca.publicKey)).toBe(true);
        expect(days(ca)).toBeGreaterThan(3640);
    });
});

describe("a server's certificate", () => {
    const certificate = new crypto.X509Certificate(server.certificatePem);

    it("chains to the stack's CA and to no other", () => {
        expect(certificate.verify(new crypto.X509Certificate(authority.certificatePem).publicKey)).toBe(true);
        const other = makeAuthority({ commonName: "another CA", validityDays: 10 });
        expect(certificate.verify(new crypto.X509Certificate(other.certificatePem).publicKey)).toBe(false);
        expect(certificate.ca).toBe(false);
    });

    it("names the addresses its clients connect to, and its key is its own", () => {
        expect(certificate.checkHost("localhost")).toBe("localhost");
        expect(certificate.checkIP("127.0.0.1")).toBe("127.0.0.1");
        expect(certificate.checkHost("orders.example.com")).toBeUndefined();
        expect(certificate.checkPrivateKey(crypto.createPrivateKey(server.privateKeyPem))).toBe(true);
        expect(days(certificate)).toBeGreaterThan(820);
    });

    it("is a new one, with a new key, each time it is issued", () => {
        const again = issueServerCertificate({ component: "orders", hostnames: ["localhost"], ipAddresses: ["127.0.0.1"], authority, validityDays: 825 });
        expect(new crypto.X509Certificate(again.certificatePem).serialNumber).not.toBe(certificate.serialNumber);
        expect(again.privateKeyPem).not.toBe(server.privateKeyPem);
    });
});

describe("renewal by the next up", () => {
    const inputs = { component: "orders", hostnames: ["localhost"], ipAddresses: ["127.0.0.1"], authority, validityDays: 825 };

    it("keeps a certificate far from its end, and changes nothing", async () => {
        const olds = { ...inputs, ...server };
        expect((await serverCertificateProvider.diff!("id", olds, inputs)).changes).toBe(false);
    });

    it("issues a new certificate when the one in the state ends within 30 days", async () => {
        // A certificate issued for 20 days is as the clock 805 days later would find an 825-day one.
        const expiring = issueServerCertificate({ ...inputs, validityDays: 20 });
        const olds = { ...inputs, ...expiring };
        expect((await serverCertificateProvider.diff!("id", olds, inputs)).changes).toBe(true);
        const renewed = (await serverCertificateProvider.update!("id", olds, inputs)).outs as KeyPairPem;
        expect(renewed.certificatePem).not.toBe(expiring.certificatePem);
        expect(days(new crypto.X509Certificate(renewed.certificatePem))).toBeGreaterThan(820);
    });

    it("issues a new certificate when the CA is a new one, so that it chains to it", async () => {
        const newAuthority = makeAuthority({ commonName: "datamesh unit CA", validityDays: 3650 });
        const olds = { ...inputs, ...server };
        const news = { ...inputs, authority: newAuthority };
        expect((await serverCertificateProvider.diff!("id", olds, news)).changes).toBe(true);
        const renewed = (await serverCertificateProvider.update!("id", olds, news)).outs as KeyPairPem;
        expect(new crypto.X509Certificate(renewed.certificatePem).verify(new crypto.X509Certificate(newAuthority.certificatePem).publicKey)).toBe(true);
    });

    it("makes a new CA when the one in the state ends within 30 days, and keeps one far from its end", async () => {
        const caInputs = { commonName: "datamesh unit CA", validityDays: 3650 };
        expect((await authorityProvider.diff!("id", { ...caInputs, ...authority }, caInputs)).changes).toBe(false);
        const expiring = makeAuthority({ ...caInputs, validityDays: 20 });
        const olds = { ...caInputs, ...expiring };
        expect((await authorityProvider.diff!("id", olds, caInputs)).changes).toBe(true);
        const renewed = (await authorityProvider.update!("id", olds, caInputs)).outs as KeyPairPem;
        expect(renewed.certificatePem).not.toBe(expiring.certificatePem);
        expect(days(new crypto.X509Certificate(renewed.certificatePem))).toBeGreaterThan(3640);
    });
});
