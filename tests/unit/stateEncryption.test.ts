import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

/*
 * scripts/env.sh chooses where the stack's state lives and how its secrets are encrypted: in the
 * user's state folder, keyed by the project, with a random passphrase of its own, unless the user
 * gives one. A checkout that kept its state in .pulumi-state goes on using it until
 * scripts/move-state.sh moves it out.
 */

const REPO = path.join(__dirname, "..", "..");
// Each case sources the script in a few bash processes; on a loaded 2-core machine that takes seconds.
jest.setTimeout(30_000);
const folders: string[] = [];
afterAll(() => folders.forEach(folder => fs.rmSync(folder, { recursive: true, force: true })));

function newFolder(prefix: string): string {
    const folder = fs.mkdtempSync(path.join(os.tmpdir(), `datamesh-${prefix}-`));
    folders.push(folder);
    return folder;
}

/** A checkout as far as env.sh reads one: its scripts, versions.env and Pulumi.yaml. */
function newCheckout(): string {
    const checkout = path.join(newFolder("checkout"), "datamesh");
    fs.mkdirSync(path.join(checkout, "scripts"), { recursive: true });
    for (const file of ["scripts/env.sh", "scripts/move-state.sh", "versions.env", "Pulumi.yaml"]) {
        fs.copyFileSync(path.join(REPO, file), path.join(checkout, file));
    }
    return checkout;
}

function sourceEnv(home: string, extra: Record<string, string> = {}, checkout = REPO) {
    const outcome = spawnSync(
        "bash",
        ["-c", `. "${checkout}/scripts/env.sh" && printf '%s\\n%s\\n%s\\n' "\${PULUMI_CONFIG_PASSPHRASE-<unset>}" "\${PULUMI_CONFIG_PASSPHRASE_FILE-<unset>}" "$PULUMI_BACKEND_URL"`],
        { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, ...extra }, encoding: "utf8" },
    );
    const [passphrase, file, backend] = outcome.stdout.trim().split("\n");
    return { status: outcome.status, passphrase, file, backend, stderr: outcome.stderr };
}

describe("the stack's state and its passphrase", () => {
    it("live in the user's state folder, keyed by the project: readable by the owner only, said where once", () => {
        const home = newFolder("home");
        const first = sourceEnv(home);
        expect(first).toMatchObject({ status: 0, passphrase: "<unset>" });
        const stateHome = path.join(home, ".local", "state", "datamesh", "datamesh");
        expect(first.file).toBe(path.join(stateHome, "passphrase"));
        expect(first.backend).toBe(`file://${path.join(stateHome, "backend")}`);
        expect(first.stderr).toContain(`in ${first.file}; back up ${stateHome}`);
        expect(fs.statSync(first.file).mode & 0o777).toBe(0o600);
        expect(fs.statSync(stateHome).mode & 0o077).toBe(0);
        const secret = fs.readFileSync(first.file, "utf8");
        expect(secret).toMatch(/^[A-Za-z0-9]{40,}$/);
        const again = sourceEnv(home);
        expect(again).toEqual({ ...first, stderr: "" });
        expect(fs.readFileSync(first.file, "utf8")).toBe(secret);
        expect(fs.readFileSync(sourceEnv(newFolder("home")).file, "utf8")).not.toBe(secret);
    });

    it("survive a git clean of the checkout, and follow a checkout that moves", () => {
        const home = newFolder("home");
        const checkout = newCheckout();
        const before = sourceEnv(home, {}, checkout);
        expect(before.backend.startsWith(`file://${checkout}`)).toBe(false);
        expect(fs.readdirSync(checkout).sort()).toEqual(["Pulumi.yaml", "scripts", "versions.env"]);
        const moved = path.join(path.dirname(checkout), "elsewhere");
        fs.renameSync(checkout, moved);
        expect(sourceEnv(home, {}, moved)).toEqual({ ...before, stderr: "" });
    });

    it("is the user's own passphrase when they give one, as a value or a file, but never an empty one", () => {
        expect(sourceEnv(newFolder("home"), { PULUMI_CONFIG_PASSPHRASE: "mine" })).toMatchObject({ status: 0, passphrase: "mine", file: "<unset>" });
        expect(sourceEnv(newFolder("home"), { PULUMI_CONFIG_PASSPHRASE_FILE: "/etc/my-passphrase" })).toMatchObject({ status: 0, passphrase: "<unset>", file: "/etc/my-passphrase" });
        const empty = sourceEnv(newFolder("home"), { PULUMI_CONFIG_PASSPHRASE: "" });
        expect(empty.status).not.toBe(0);
        expect(empty.stderr).toContain("PULUMI_CONFIG_PASSPHRASE is set but empty");
    });

    it("stay where an older checkout kept them, in .pulumi-state, until scripts/move-state.sh moves them, passphrase included", () => {
        const home = newFolder("home");
        const checkout = newCheckout();
        fs.mkdirSync(path.join(checkout, ".pulumi-state", ".pulumi", "stacks", "datamesh"), { recursive: true });
        fs.writeFileSync(path.join(checkout, ".pulumi-state", ".pulumi", "stacks", "datamesh", "dev.json"), '{"stack":"dev"}');
        const digest = require("crypto").createHash("sha256").update(checkout).digest("hex").slice(0, 16);
        const legacyPassphrase = path.join(home, ".config", "datamesh", "passphrases", digest);
        fs.mkdirSync(path.dirname(legacyPassphrase), { recursive: true });
        fs.writeFileSync(legacyPassphrase, "theOldPassphraseOfThisCheckout", { mode: 0o600 });

        const legacy = sourceEnv(home, {}, checkout);
        expect(legacy).toMatchObject({ status: 0, backend: `file://${path.join(checkout, ".pulumi-state")}`, file: legacyPassphrase });
        expect(legacy.stderr).toContain("move it out with: scripts/move-state.sh");

        const move = spawnSync("bash", [path.join(checkout, "scripts", "move-state.sh")], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home }, encoding: "utf8" });
        expect({ status: move.status, stderr: move.stderr }).toEqual({ status: 0, stderr: "" });
        const stateHome = path.join(home, ".local", "state", "datamesh", "datamesh");
        const after = sourceEnv(home, {}, checkout);
        expect(after).toEqual({ status: 0, passphrase: "<unset>", file: path.join(stateHome, "passphrase"), backend: `file://${path.join(stateHome, "backend")}`, stderr: "" });
        expect(fs.readFileSync(after.file, "utf8")).toBe("theOldPassphraseOfThisCheckout");
        expect(fs.readFileSync(path.join(stateHome, "backend", ".pulumi", "stacks", "datamesh", "dev.json"), "utf8")).toBe('{"stack":"dev"}');
        expect(fs.existsSync(path.join(checkout, ".pulumi-state"))).toBe(false);
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
