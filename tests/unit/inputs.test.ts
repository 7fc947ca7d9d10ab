import { changedInputs, inputsDiff } from "../../resources/inputs";

describe("the inputs a dynamic step compares", () => {
    const stored = { __provider: "exports.handler = old code", port: 5432, domain: { name: "payments", table: "payments" }, owner: { user: "o", password: "p" } };

    it("leaves out the provider's code, so that an edit to the project alone re-runs nothing", () => {
        expect(changedInputs(stored, { ...stored, __provider: "exports.handler = new code" })).toEqual([]);
    });

    it("compares values, not the order their keys were built in", () => {
        expect(changedInputs(stored, { ...stored, domain: { table: "payments", name: "payments" } })).toEqual([]);
    });

    it("names every input whose value differs, nested ones included", () => {
        expect(changedInputs(stored, { ...stored, port: 5433, owner: { user: "o", password: "q" } })).toEqual(["port", "owner"]);
    });

    it("takes an input the stored state lacks as changed", () => {
        expect(changedInputs(stored, { ...stored, fingerprint: "abc" })).toEqual(["fingerprint"]);
    });

    it("makes a diff that replaces only for a replacing input", () => {
        expect(inputsDiff(stored, { ...stored, __provider: "new code" }, ["domain"])).toEqual({ changes: false, replaces: [] });
        expect(inputsDiff(stored, { ...stored, port: 5433 }, ["domain"])).toEqual({ changes: true, replaces: [] });
        expect(inputsDiff(stored, { ...stored, port: 5433, domain: { name: "payments", table: "refunds" } }, ["domain"])).toEqual({ changes: true, replaces: ["domain"] });
    });
});
