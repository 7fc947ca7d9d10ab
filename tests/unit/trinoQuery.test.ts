import { basicAuthorization } from "../../lib/trinoQuery";

describe("basic credentials for Trino", () => {
    it("encode user:password in ISO-8859-1, the charset Trino decodes them with", () => {
        const header = basicAuthorization("analyst", `it's "naïve" C:\\dir`);
        expect(header).toMatch(/^Basic /);
        const bytes = Buffer.from(header.slice("Basic ".length), "base64");
        expect(bytes.toString("latin1")).toBe(`analyst:it's "naïve" C:\\dir`);
        // One byte for ï, where UTF-8 would send two that Trino reads as "Ã¯".
        expect(bytes.length).toBe(`analyst:it's "naïve" C:\\dir`.length);
    });

    it("refuse a character that ISO-8859-1 cannot carry rather than send another", () => {
        expect(() => basicAuthorization("analyst", "5 € a month")).toThrow("Trino user 'analyst': Trino reads credentials as ISO-8859-1, and these hold a character outside it");
    });
});
