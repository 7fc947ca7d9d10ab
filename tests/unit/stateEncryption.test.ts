import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/*
 * scripts/env.sh chooses how the state's secrets are encrypted: a passphrase the user gives wins,
 * and otherwise each checkout gets a random one of its own, kept outside the repository.
 */

const REPO = path.join(__dirname, "..", "..");

function sourceEnv(home: string, extra: Record<string, string> = {}) {
    const outcome = spawnSync(
        "bash",
        ["-c", `. "${REPO}/scripts/env.sh" && printf '%s\\n%s\\n' "\${PULUMI_CONFIG_PASSPHRASE-<unset>}" "\${PULUMI_CONFIG_PASSPHRASE_FILE-<unset>}"`],
        { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, ...extra }, encoding: "utf8" },
    );
    expect(outcome.status).toBe(0);
    const [passphrase, file] = outcome.stdout.trim().split("\n");
    return { passphrase, file, stderr: outcome.stderr };
}

describe("the state passphrase", () => {
    const homes: string[] = [];
    const newHome = () => {
        const home = fs.mkdtempSync(path.join(os.tmpdir(), "datamesh-home-"));
        homes.push(home);
        return home;
    };
    afterAll(() => homes.forEach(home => fs.rmSync(home, { recursive: true, force: true })));

    it("is generated per checkout, outside the repository, readable by its owner only, and said where once", () => {
        const home = newHome();
        const first = sourceEnv(home);
        expect(first.passphrase).toBe("<unset>");
        expect(first.file.startsWith(path.join(home, ".config", "datamesh", "passphrases"))).toBe(true);
        expect(first.stderr).toContain(`in ${first.file}; back that file up`);
        expect(fs.statSync(first.file).mode & 0o777).toBe(0o600);
        const secret = fs.readFileSync(first.file, "utf8");
        expect(secret).toMatch(/^[A-Za-z0-9]{40,}$/);
        const again = sourceEnv(home);
        expect(again).toEqual({ passphrase: "<unset>", file: first.file, stderr: "" });
        expect(fs.readFileSync(first.file, "utf8")).toBe(secret);
        expect(fs.readFileSync(sourceEnv(newHome()).file, "utf8")).not.toBe(secret);
    });

    it("is the user's own when they give one, as a value or a file", () => {
        expect(sourceEnv(newHome(), { PULUMI_CONFIG_PASSPHRASE: "mine" })).toMatchObject({ passphrase: "mine", file: "<unset>" });
        expect(sourceEnv(newHome(), { PULUMI_CONFIG_PASSPHRASE_FILE: "/etc/my-passphrase" })).toMatchObject({ passphrase: "<unset>", file: "/etc/my-passphrase" });
    });

    it("is never a constant written in the project's scripts or tests", () => {
        const sources = ["scripts/env.sh", "tests/integration/harness.ts"].map(file => fs.readFileSync(path.join(REPO, file), "utf8"));
        for (const text of sources) {
            // Neither an assigned string literal nor a shell default such as ${PULUMI_CONFIG_PASSPHRASE-some-default}.
            expect(text).not.toMatch(/PULUMI_CONFIG_PASSPHRASE["']?\s*[:=]\s*["'][^"'$]/);
            expect(text).not.toMatch(/PULUMI_CONFIG_PASSPHRASE:?[-=][A-Za-z]/);
        }
    });
});
