import * as pulumi from "@pulumi/pulumi";
import { selfSignedCertificate } from "../selfSigned";
import { installMocks, isSecret, RecordedResource, valueOf } from "./mocks";

jest.mock("../../platforms/local/toolchain", () => ({ findLocalToolchain: () => require("./mocks").FAKE_TOOLCHAIN }));
jest.mock("@pulumi/pulumi/runtime/closure/serializeClosure", () => ({ serializeFunction: async () => ({ text: "exports.handler = undefined;", exportName: "handler" }) }));

/* The stack with the optional governance settings: extra domain readers and a preset analyst password. */

let resources: RecordedResource[];
let stack: typeof import("../../index");

let certificate: { cert: string; key: string };

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
        expect(files["password.db"]).toMatch(/^finance:\$2y\$/m);
        const rules = JSON.parse(files["rules.json"]);
        expect(rules.catalogs).toContainEqual({ user: "finance", catalog: "orders", allow: "read-only" });
    });

    it("uses the analyst password the user set, as a secret, and hashes it in password.db", async () => {
        expect(resources.some(r => r.name === "trino-analyst-password")).toBe(false);
        expect(await valueOf(stack.users.analyst.password)).toBe("correct horse battery");
        expect(await isSecret(stack.users.analyst.password)).toBe(true);
        const passwordDb: string = resources.find(r => r.name === "trino-server")!.inputs.files["password.db"];
        expect(passwordDb).toMatch(/^analyst:\$2y\$10\$/m);
        expect(passwordDb).not.toContain("correct horse battery");
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
