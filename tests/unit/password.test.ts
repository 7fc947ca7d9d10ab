import { PASSWORD_ALPHABET, passwordProvider, randomString, saltProvider } from "../../resources/password";

const bcrypt = require("bcryptjs");

/** Pearson's chi-squared statistic of character counts against a uniform draw from the alphabet. */
function chiSquared(text: string, alphabet: string): number {
    const counts = new Map([...alphabet].map(c => [c, 0]));
    for (const c of text) {
        counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    const expected = text.length / alphabet.length;
    return [...counts.values()].reduce((sum, observed) => sum + (observed - expected) ** 2 / expected, 0);
}

/*
 * The chi-squared bound for 56 degrees of freedom (57 characters) that a uniform draw exceeds with
 * probability 1e-6 (Wilson-Hilferty): the test fails by chance about once in a million runs.
 */
const CHI_SQUARED_LIMIT = 122;

describe("generated passwords", () => {
    // With randomString keeping every byte (a byte modulo the alphabet's size, which favours its first
    // 256 % 57 characters), this check and the next fail: tried by breaking the code, 2026-12-06.
    it("draw every character uniformly from the alphabet", () => {
        const text = randomString(PASSWORD_ALPHABET.length * 2000, PASSWORD_ALPHABET);
        expect([...text].every(c => PASSWORD_ALPHABET.includes(c))).toBe(true);
        expect(chiSquared(text, PASSWORD_ALPHABET)).toBeLessThan(CHI_SQUARED_LIMIT);
    });

    it("throw away the bytes of the alphabet's incomplete last round and draw again", () => {
        // 57 characters: bytes 0..227 are four whole rounds; 228..255 would favour A..f.
        const draws = [Uint8Array.of(227, 228, 255, 0), Uint8Array.of(56, 57)];
        const asked: number[] = [];
        const text = randomString(4, PASSWORD_ALPHABET, count => {
            asked.push(count);
            return draws.shift()!;
        });
        expect(text).toBe("9A9A");
        expect(asked).toEqual([4, 2]);
    });

    it("hold only the alphabet's letters and digits, and come with a bcrypt hash that verifies them", async () => {
        const created = await passwordProvider.create({ length: 24 });
        expect([...created.outs.value].every((c: string) => PASSWORD_ALPHABET.includes(c))).toBe(true);
        expect(bcrypt.compareSync(created.outs.value, created.outs.bcryptHash.replace(/^\$2y\$/, "$2b$"))).toBe(true);
        expect(created.outs.bcryptHash).toMatch(/^\$2y\$10\$/);
    });
});

describe("stored bcrypt salts", () => {
    it("are random per user and kept until the user or the cost changes", async () => {
        const analyst = await saltProvider.create({ user: "analyst", cost: 10 });
        const again = await saltProvider.create({ user: "analyst", cost: 10 });
        const finance = await saltProvider.create({ user: "finance", cost: 10 });
        const salts = [analyst, again, finance].map(created => created.outs.salt);
        expect(new Set(salts).size).toBe(3);
        for (const salt of salts) {
            expect(salt).toMatch(/^\$2b\$10\$[./A-Za-z0-9]{22}$/);
        }
        expect(await saltProvider.diff!("id", analyst.outs, { user: "analyst", cost: 10 })).toMatchObject({ changes: false, replaces: [] });
        expect(await saltProvider.diff!("id", analyst.outs, { user: "auditor", cost: 10 })).toMatchObject({ changes: true, replaces: ["user"] });
        expect(await saltProvider.diff!("id", analyst.outs, { user: "analyst", cost: 12 })).toMatchObject({ changes: true, replaces: ["cost"] });
    });
});
