import * as pulumi from "@pulumi/pulumi";
import { selfSignedCertificate } from "../selfSigned";
import { bcryptHashWithSalt } from "../../lib/passwordHash";
import { installMocks, isSecret, MOCK_SALT, RecordedResource, valueOf } from "./mocks";

const SECRET_SIG = "4dabf18193072939515e22adb298388d";

jest.mock("../../platforms/local/toolchain", () => ({ findLocalToolchain: () => require("./mocks").FAKE_TOOLCHAIN }));
jest.mock("@pulumi/pulumi/runtime/closure/serializeClosure", () => ({ serializeFunction: async () => ({ text: "exports.handler = undefined;", exportName: "handler" }) }));

/* The stack with the optional governance settings: extra domain readers and a preset analyst password. */

let resources: RecordedResource[];
let stack: Awaited<typeof import("../../index")>;

let certificate: { cert: string; key: string };

/** Trino's password file as the local platform hands it over: a secret file. */
function passwordDb(): string {
    const secretFiles = resources.find(r => r.name === "trino-server")!.inputs.secretFiles;
    expect(secretFiles[SECRET_SIG]).toBeDefined();
    return Buffer.from(secretFiles.value["password.db"], "base64").toString("utf8");
}

beforeAll(async () => {
    certificate = selfSignedCertificate("DNS:localhost,DNS:trino.example.internal,IP:127.0.0.1");
    resources = await installMocks();
    pulumi.runtime.setAllConfig(
        {
            "datamesh:stateDir": "/var/lib/datamesh-options",
            "datamesh:readers": '{"orders": ["finance"]}',
            "datamesh:analystPassword": "correct horse battery",
            "datamesh:trinoHostnames": "trino.example.internal",
            "datamesh:trinoCertificate": certificate.cert,
            "datamesh:trinoPrivateKey": certificate.key,
        },
        ["datamesh:analystPassword", "datamesh:trinoPrivateKey"],
    );
    stack = await import("../../index");
    await valueOf(stack.check);
});

describe("optional governance settings", () => {
    it("adds each reader as a Trino user with a generated password, reading only its domain", async () => {
        expect(stack.users.finance.user).toBe("finance");
        expect(resources.some(r => r.name === "trino-finance-password")).toBe(true);
        const files = resources.find(r => r.name === "trino-server")!.inputs.files;
        expect(passwordDb()).toMatch(/^finance:\$2y\$/m);
        expect(files["rules.json"]).toBeUndefined();
        const rules = JSON.parse(Buffer.from(resources.find(r => r.name === "trino-server")!.inputs.secretFiles.value["rules.json"], "base64").toString("utf8"));
        expect(rules.catalogs).toContainEqual({ user: "finance", catalog: "orders", allow: "read-only" });
    });

    it("uses the analyst password the user set, as a secret, and hashes it in password.db with the analyst's stored salt", async () => {
        expect(resources.some(r => r.name === "trino-analyst-password")).toBe(false);
        expect(await valueOf(stack.users.analyst.password)).toBe("correct horse battery");
        expect(await isSecret(stack.users.analyst.password)).toBe(true);
        const salts = resources.filter(r => r.type.endsWith(":BcryptSalt"));
        expect(salts.map(r => ({ name: r.name, user: r.inputs.user }))).toEqual([{ name: "trino-analyst-salt", user: "analyst" }]);
        expect(passwordDb()).toContain(`analyst:${bcryptHashWithSalt("correct horse battery", MOCK_SALT)}\n`);
        expect(passwordDb()).not.toContain("correct horse battery");
    });
});

describe("a certificate the user supplies", () => {
    it("replaces the generated keystore with a PEM keystore and becomes what clients trust", async () => {
        expect(resources.some(r => r.type.endsWith(":TrinoTlsMaterial"))).toBe(false);
        expect(resources.some(r => r.name === "trino-keystore-password")).toBe(false);
        const trino = resources.find(r => r.name === "trino-server")!;
        expect(trino.inputs.files["config.properties"]).toContain("keystore.pem\n");
        expect(trino.inputs.files["config.properties"]).not.toContain("keystore.key");
        const keystore = Buffer.from(trino.inputs.secretFiles.value["keystore.pem"], "base64").toString("utf8");
        expect(keystore).toContain(certificate.key.trim());
        expect(keystore).toContain(certificate.cert.trim());
        expect(await valueOf(stack.trinoCaCert)).toBe(certificate.cert);
    });
});
