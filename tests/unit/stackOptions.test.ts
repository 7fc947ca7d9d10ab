import * as pulumi from "@pulumi/pulumi";
import { installMocks, isSecret, RecordedResource, valueOf } from "./mocks";

jest.mock("../../platforms/local/toolchain", () => ({ findLocalToolchain: () => require("./mocks").FAKE_TOOLCHAIN }));
jest.mock("@pulumi/pulumi/runtime/closure/serializeClosure", () => ({ serializeFunction: async () => ({ text: "exports.handler = undefined;", exportName: "handler" }) }));

/* The stack with the optional governance settings: extra domain readers and a preset analyst password. */

let resources: RecordedResource[];
let stack: typeof import("../../index");

beforeAll(async () => {
    resources = await installMocks();
    pulumi.runtime.setAllConfig(
        { "datamesh:stateDir": "/var/lib/datamesh-options", "datamesh:readers": '{"orders": ["finance"]}', "datamesh:analystPassword": "correct horse battery" },
        ["datamesh:analystPassword"],
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
