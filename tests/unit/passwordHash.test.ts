import { stableBcryptHash } from "../../lib/passwordHash";

describe("stable bcrypt hashes", () => {
    it("verify with bcrypt, carry Trino's $2y$ prefix, and stay the same for the same stack and user", () => {
        const bcrypt = require("bcryptjs");
        const hash = stableBcryptHash("correct horse battery", "dev:analyst");
        expect(hash).toMatch(/^\$2y\$10\$[./A-Za-z0-9]{53}$/);
        expect(bcrypt.compareSync("correct horse battery", hash.replace(/^\$2y\$/, "$2b$"))).toBe(true);
        expect(bcrypt.compareSync("wrong", hash.replace(/^\$2y\$/, "$2b$"))).toBe(false);
        expect(stableBcryptHash("correct horse battery", "dev:analyst")).toBe(hash);
        expect(stableBcryptHash("correct horse battery", "prod:analyst")).not.toBe(hash);
    });
});
