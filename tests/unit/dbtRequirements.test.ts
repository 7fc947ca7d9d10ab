import * as fs from "fs";
import * as path from "path";

/*
 * dbt's toolchain is installed from dbt/requirements.txt on every platform (the local venv, the
 * docker image, a kubernetes Job on a plain Python image). pip checks each file it installs
 * against the hashes there, and refuses any requirement without one, so a replaced package on
 * the index fails the install instead of entering a run.
 */

const REQUIREMENTS = path.join(__dirname, "..", "..", "dbt", "requirements.txt");

function requirements(): { pin: string; hashes: string[] }[] {
    // A requirement and its `\`-continued hash lines are one logical line.
    const logical = fs.readFileSync(REQUIREMENTS, "utf8").replace(/\\\n\s*/g, " ").split("\n");
    return logical
        .filter(line => line.trim() !== "" && !line.startsWith("#"))
        .map(line => {
            const [pin, ...options] = line.trim().split(/\s+/);
            return { pin, hashes: options.filter(o => o.startsWith("--hash=")).map(o => o.slice("--hash=".length)) };
        });
}

describe("dbt's pinned toolchain", () => {
    it("pins every package to one release, with the sha256 of its files", () => {
        const all = requirements();
        expect(all.length).toBeGreaterThan(50);
        for (const { pin, hashes } of all) {
            expect({ pin, exact: /^[A-Za-z0-9_.-]+(\[[a-z0-9,_-]+\])?==[A-Za-z0-9.+!-]+$/.test(pin) }).toEqual({ pin, exact: true });
            expect({ pin, hashed: hashes.length > 0 && hashes.every(h => /^sha256:[0-9a-f]{64}$/.test(h)) }).toEqual({ pin, hashed: true });
        }
        expect(all.map(r => r.pin)).toEqual(expect.arrayContaining(["dbt-core==1.11.16", "dbt-trino==1.11.0"]));
    });

    it("names no index or local folder of the machine it was locked on", () => {
        expect(fs.readFileSync(REQUIREMENTS, "utf8")).not.toMatch(/^--(find-links|index-url|extra-index-url)/m);
    });
});
