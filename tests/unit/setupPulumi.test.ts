import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { readVersions } from "../../lib/versions";
import { makeTempDir } from "./tempDirs";

/*
 * Which Pulumi CLI setup chooses, with stand-ins for an installed CLI and for Go: a `go` that
 * records that it ran shows whether setup fell back to building the pinned CLI.
 */

const REPO = path.join(__dirname, "..", "..");
const PINNED = readVersions().PULUMI_VERSION;

function fakeProgram(dir: string, name: string, script: string): void {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, name), `#!/bin/sh\n${script}\n`, { mode: 0o755 });
}

function setupWith(cliVersion: string, { languageHost = true } = {}) {
    const root = makeTempDir("setup-pulumi");
    const installed = path.join(root, "installed", "bin");
    fakeProgram(installed, "pulumi", `echo v${cliVersion}`);
    if (languageHost) {
        fakeProgram(installed, "pulumi-language-nodejs", "exit 0");
    }
    const tools = path.join(root, "tools");
    const goRan = path.join(root, "go-ran");
    fakeProgram(tools, "go", `touch ${goRan}; echo "go: not in this test" >&2; exit 1`);
    const result = spawnSync("bash", [path.join(REPO, "scripts", "setup-pulumi.sh"), path.join(REPO, "node_modules")], {
        env: { PATH: `${tools}:${installed}:/usr/bin:/bin`, HOME: root, DATAMESH_CACHE: path.join(root, "cache") },
        encoding: "utf8",
    });
    return { installed, status: result.status, stdout: result.stdout, stderr: result.stderr, built: fs.existsSync(goRan) };
}

describe("the Pulumi CLI setup uses", () => {
    it("an installed CLI at least as new as the pinned one, with its language host, and builds nothing", () => {
        const newer = setupWith("3.300.1");
        expect(newer).toMatchObject({ status: 0, built: false });
        expect(newer.stdout.trim()).toBe(`PULUMI_BIN=${newer.installed}`);
        expect(newer.stderr).toContain(`using Pulumi v3.300.1 at ${newer.installed}/pulumi`);
        expect(setupWith(PINNED)).toMatchObject({ status: 0, built: false });
    });

    it("a build of the pinned CLI when the installed one is older, naming both versions", () => {
        const older = setupWith("3.100.0");
        expect(older.built).toBe(true);
        expect(older.status).not.toBe(0);
        expect(older.stderr).toContain(`found Pulumi v3.100.0 at ${older.installed}/pulumi, older than the v${PINNED} that @pulumi/pulumi ${PINNED} needs; building v${PINNED} instead`);
    });

    it("a build when the installed CLI has no Node.js language host beside it", () => {
        const bare = setupWith("3.300.1", { languageHost: false });
        expect(bare.built).toBe(true);
        expect(bare.stderr).toContain("but no pulumi-language-nodejs beside it");
    });
});
