import { asTrinoBcrypt, bcryptHashWithSalt, newBcryptSalt } from "../../lib/passwordHash";

const bcrypt = require("bcryptjs");
/** bcryptjs checks only its own prefixes; $2y$ is the same algorithm. */
const verifies = (password: string, hash: string) => bcrypt.compareSync(password, hash.replace(/^\$2y\$/, "$2b$"));

/** Passwords that quoting or encoding could get wrong: quotes, backslashes, non-ASCII letters. */
const AWKWARD = [`it's "quoted"`, "C:\\dir\\\\", "naïve ß façade", `'; DROP ROLE x; --\\'`];

/** What a password could wrongly turn into: escaped for the wrong engine, or in another Unicode form. */
const nearMisses = (password: string) =>
    [password.replace(/\\/g, "\\\\"), password.replace(/'/g, "''"), password.replace(/'/g, "\\'"), password.normalize("NFD")].filter(variant => variant !== password);

describe("bcrypt salts", () => {
    it("are random: no two alike, even for the same user and password", () => {
        const salts = Array.from({ length: 20 }, () => newBcryptSalt());
        expect(new Set(salts).size).toBe(salts.length);
        for (const salt of salts) {
            expect(salt).toMatch(/^\$2b\$10\$[./A-Za-z0-9]{22}$/);
        }
        expect(bcryptHashWithSalt("correct horse battery", salts[0])).not.toBe(bcryptHashWithSalt("correct horse battery", salts[1]));
    });

    it("carry the cost asked for", () => {
        expect(newBcryptSalt(12)).toMatch(/^\$2b\$12\$/);
    });
});

describe("bcrypt hashes with a stored salt", () => {
    it("verify with bcrypt for awkward passwords, carry Trino's $2y$ prefix, and refuse near misses", () => {
        const salt = newBcryptSalt();
        for (const password of AWKWARD) {
            const hash = bcryptHashWithSalt(password, salt);
            expect(hash).toMatch(/^\$2y\$10\$[./A-Za-z0-9]{53}$/);
            expect(verifies(password, hash)).toBe(true);
            for (const wrong of nearMisses(password)) {
                expect({ password, wrong, verifies: verifies(wrong, hash) }).toEqual({ password, wrong, verifies: false });
            }
        }
        expect(AWKWARD.flatMap(nearMisses).length).toBeGreaterThan(AWKWARD.length);
    });

    it("hash the password's UTF-8 bytes, as Trino's verifier does", () => {
        // Made by the bcrypt library Trino 476 verifies with (at.favre.lib:bcrypt 0.10.2), from the password's UTF-8 bytes.
        const fromTrinosLibrary = "$2y$10$./CgKyPTXlcGkYo5xL1s9uVObAJq8nf.Av5C3mFtndBYyc/vV2fLu";
        expect(bcryptHashWithSalt(`it's "naïve" C:\\dir ß`, "$2b$10$./CgKyPTXlcGkYo5xL1s9u")).toBe(fromTrinosLibrary);
    });

    it("stay the same when the stored salt is reused, and change with the password", () => {
        const salt = newBcryptSalt();
        const hash = bcryptHashWithSalt("correct horse battery", salt);
        expect(bcryptHashWithSalt("correct horse battery", salt)).toBe(hash);
        expect(hash.slice(0, 29)).toBe(asTrinoBcrypt(salt));
        expect(bcryptHashWithSalt("correct horse batterY", salt)).not.toBe(hash);
    });

    it("refuse anything but a bcrypt salt", () => {
        expect(() => bcryptHashWithSalt("correct horse battery", "dev:analyst")).toThrow("not a bcrypt salt");
        expect(() => bcryptHashWithSalt("correct horse battery", "$2b$10$short")).toThrow("not a bcrypt salt");
    });
});
