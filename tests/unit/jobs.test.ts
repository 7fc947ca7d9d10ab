import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import { renderCheckScript, renderDbtScript, renderDocsScript, renderStatementFile, renderToolchainInstallScript } from "../../catalogs/jobs";
import { makeTempDir } from "./tempDirs";


describe("cluster job scripts", () => {
    it("runs the check with the Trino CLI, and one dbt build, whose first step checks the source contracts", () => {
        expect(renderCheckScript({ queryFile: "/etc/datamesh/check/mismatches.sql", caCertFile: "/etc/datamesh/check/trino-ca.pem" })).toMatchSnapshot();
        const dbt = renderDbtScript({ projectDir: "/p", profilesDir: "/profiles", workDir: "/tmp/dbt", vars: { orders_schema: "orders", customers_catalog: "customers" } });
        expect(dbt).toMatchSnapshot();
        expect(dbt.match(/^dbt /gm)).toEqual(["dbt "]);
        const project = fs.readFileSync(path.join(__dirname, "..", "..", "dbt", "dbt_project.yml"), "utf8");
        expect(project).toMatch(/^on-run-start:\n {2}- "\{% do check_source_contracts\(\) %\}"$/m);
        expect(dbt).not.toContain("pip install");
        expect(() => renderDbtScript({ projectDir: "/p", profilesDir: "/q", workDir: "/w", vars: { x: "it's" } })).toThrow("dbt vars must not contain single quotes");
    });

    it("is stable text with a toolchain volume, and with an image that must bring dbt", () => {
        const volume = renderDbtScript({ projectDir: "/p", profilesDir: "/profiles", workDir: "/tmp/dbt", vars: {}, toolchain: { dir: "/opt/datamesh/dbt-toolchain", key: "0123456789ab" } });
        expect(volume).toMatchSnapshot();
        expect(volume).not.toContain("pip");
        expect(renderDbtScript({ projectDir: "/p", profilesDir: "/profiles", workDir: "/tmp/dbt", vars: {}, missingDbtHint: "set datamesh:dbtToolchain to volume" })).toMatchSnapshot();
        expect(renderToolchainInstallScript({ toolchain: { dir: "/opt/datamesh/dbt-toolchain", key: "0123456789ab" }, requirementsFile: "/etc/datamesh/dbt-toolchain/requirements.txt" })).toMatchSnapshot();
        expect(() => renderToolchainInstallScript({ toolchain: { dir: "/opt/x y", key: "ab" }, requirementsFile: "/r.txt" })).toThrow("toolchain folder '/opt/x y' must be an absolute path");
        expect(() => renderDbtScript({ projectDir: "/p", profilesDir: "/q", workDir: "/w", vars: {}, toolchain: { dir: "/t", key: "AB;rm" } })).toThrow("toolchain key 'AB;rm' must be lower-case letters and digits");
    });
});

describe("the dbt toolchain volume, run as shell scripts with a stand-in Python", () => {
    // python3 -m venv DIR makes DIR/bin with a pip that records its arguments (and fails when PIP_FAIL is set) and a dbt that names itself.
    const FAKE_PYTHON = `#!/bin/sh
[ "$1" = -m ] && [ "$2" = venv ] || exit 2
mkdir -p "$3/bin"
cat > "$3/bin/pip" <<'PIP'
#!/bin/sh
echo "pip $*" >> "$PIP_LOG"
[ "$1" = install ] && [ -n "\${PIP_FAIL:-}" ] && { echo "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES" >&2; exit 1; }
[ "$1" = list ] && printf 'agate==1.9.1\ndbt-core==1.11.16\ndbt-trino==1.11.0\n'
exit 0
PIP
printf '#!/bin/sh\necho "dbt from $0"\n' > "$3/bin/dbt"
chmod +x "$3/bin/pip" "$3/bin/dbt"
`;
    let root: string;
    let toolchain: { dir: string; key: string };
    let pipLog: string;

    beforeAll(() => {
        root = makeTempDir("toolchain-script");
        fs.mkdirSync(path.join(root, "bin"));
        fs.writeFileSync(path.join(root, "bin", "python3"), FAKE_PYTHON, { mode: 0o755 });
        toolchain = { dir: path.join(root, "toolchain"), key: "0123456789ab" };
        fs.mkdirSync(toolchain.dir);
        pipLog = path.join(root, "pip.log");
    });

    const install = (env: Record<string, string> = {}) =>
        spawnSync("sh", ["-c", renderToolchainInstallScript({ toolchain, requirementsFile: "/etc/req.txt" })], {
            encoding: "utf8",
            env: { PATH: `${path.join(root, "bin")}:/usr/bin:/bin`, PIP_LOG: pipLog, ...env },
        });
    const runDbt = (spec: { toolchain?: typeof toolchain; missingDbtHint?: string }) =>
        spawnSync("sh", ["-c", renderDbtScript({ projectDir: "/p", profilesDir: "/q", workDir: path.join(root, "work"), vars: {}, ...spec })], {
            encoding: "utf8",
            env: { PATH: "/usr/bin:/bin" },
        });
    const pipCalls = () => (fs.existsSync(pipLog) ? fs.readFileSync(pipLog, "utf8").trim().split("\n") : []);

    it("leaves no install a dbt Job would take when pip fails, and the dbt Job says so", () => {
        const failed = install({ PIP_FAIL: "1" });
        expect(failed.status).not.toBe(0);
        expect(failed.stderr).toContain("DO NOT MATCH THE HASHES");
        expect(fs.existsSync(path.join(toolchain.dir, "installed"))).toBe(false);
        const dbt = runDbt({ toolchain });
        expect(dbt.status).not.toBe(0);
        expect(dbt.stderr).toContain("the dbt toolchain volume holds no install, not 0123456789ab");
    });

    it("installs with pip in hash-checking mode, names the index's host but not its credentials, and installs nothing the second time", () => {
        fs.rmSync(pipLog, { force: true });
        const first = install({ PIP_INDEX_URL: "https://reader:s3cret-token@pypi.example.internal/simple" });
        expect({ status: first.status, stderr: first.stderr }).toEqual({ status: 0, stderr: "" });
        expect(pipCalls()[0]).toBe("pip install --no-input --disable-pip-version-check --no-cache-dir --require-hashes --requirement /etc/req.txt");
        expect(first.stdout.trim().split("\n").pop()).toBe("dbt toolchain: 0123456789ab installed, 3 packages from pypi.example.internal");
        expect(first.stdout).not.toContain("s3cret");
        expect(fs.readFileSync(path.join(toolchain.dir, "installed"), "utf8").trim()).toBe("0123456789ab");

        const before = pipCalls().length;
        const second = install();
        expect(second.stdout.trim()).toBe("dbt toolchain: 0123456789ab already installed");
        expect(pipCalls().length).toBe(before);
    });

    it("runs dbt from the volume only when it holds this very install", () => {
        const dbt = runDbt({ toolchain });
        expect(dbt.stdout).toContain(`dbt: ${toolchain.dir}/venv/bin/dbt`);
        expect(dbt.stdout).toContain(`dbt from ${toolchain.dir}/venv/bin/dbt`);
        const other = runDbt({ toolchain: { ...toolchain, key: "ffffffffffff" } });
        expect(other.status).not.toBe(0);
        expect(other.stderr).toContain("the dbt toolchain volume holds 0123456789ab, not ffffffffffff");
    });

    it("fails at once, saying what to set, when the image has no dbt and no volume is given", () => {
        const dbt = runDbt({ missingDbtHint: "set datamesh:dbtToolchain to volume" });
        expect(dbt.status).not.toBe(0);
        expect(dbt.stderr).toContain("no dbt on this image's PATH: set datamesh:dbtToolchain to volume");
    });
});

describe("the docs site's generation script", () => {
    // A stand-in dbt: `docs generate` writes the page given in FAKE_PAGE into --target-path, or fails as dbt does.
    const FAKE_DBT = `#!/bin/sh
target=""
while [ $# -gt 0 ]; do [ "$1" = --target-path ] && target="$2"; shift; done
if [ -n "\${FAKE_DBT_ERROR:-}" ]; then echo "$FAKE_DBT_ERROR"; exit 1; fi
mkdir -p "$target"
printf '%s' "$FAKE_PAGE" > "$target/static_index.html"
`;
    let root: string;
    let siteDir: string;

    function generate(pageName: string, env: Record<string, string>) {
        const script = renderDocsScript({ projectDir: "/p", profilesDir: "/q", workDir: path.join(root, "work"), vars: {}, siteDir, pageName });
        return spawnSync("sh", ["-c", script], { encoding: "utf8", env: { PATH: `${path.join(root, "bin")}:/usr/bin:/bin`, ...env } });
    }
    const served = () => fs.readFileSync(path.join(siteDir, "current", "index.html"), "utf8");

    beforeAll(() => {
        root = makeTempDir("docs-script");
        siteDir = path.join(root, "site");
        fs.mkdirSync(path.join(root, "bin"));
        fs.writeFileSync(path.join(root, "bin", "dbt"), FAKE_DBT, { mode: 0o755 });
    });

    it("is stable text", () => {
        expect(renderDocsScript({ projectDir: "/p", profilesDir: "/profiles", workDir: "/tmp/dbt", vars: { a: "1" }, toolchain: { dir: "/opt/datamesh/dbt-toolchain", key: "0123456789ab" }, siteDir: "/site", pageName: "jaffle_shop__0123abcd" })).toMatchSnapshot();
    });

    it("swaps the served page to the new one and removes the old, and a failed generation leaves the last page served", () => {
        const first = generate("jaffle_shop__aaaa", { FAKE_PAGE: "<html>first</html>" });
        expect({ status: first.status, stderr: first.stderr }).toEqual({ status: 0, stderr: "" });
        expect(first.stdout.trim().split("\n").pop()).toBe("docs site: serving jaffle_shop__aaaa (18 bytes)");
        expect(served()).toBe("<html>first</html>");
        expect(fs.readlinkSync(path.join(siteDir, "current"))).toMatch(/^pages\/jaffle_shop__aaaa\.\w{6}$/);

        expect(generate("jaffle_shop__bbbb", { FAKE_PAGE: "<html>second</html>" }).status).toBe(0);
        expect(served()).toBe("<html>second</html>");
        expect(fs.readdirSync(path.join(siteDir, "pages"))).toEqual([path.basename(fs.readlinkSync(path.join(siteDir, "current")))]);
        expect(fs.readlinkSync(path.join(siteDir, "current"))).toMatch(/^pages\/jaffle_shop__bbbb\./);

        const failed = generate("jaffle_shop__cccc", { FAKE_DBT_ERROR: "Compilation Error in model dim_customers" });
        expect(failed.status).not.toBe(0);
        expect(failed.stdout).toContain("Compilation Error in model dim_customers");
        expect(served()).toBe("<html>second</html>");
        expect(fs.readdirSync(path.join(siteDir, "pages"))).toEqual([path.basename(fs.readlinkSync(path.join(siteDir, "current")))]);

        // The same run generated again (a new image, say) still swaps to a complete folder.
        expect(generate("jaffle_shop__bbbb", { FAKE_PAGE: "<html>again</html>" }).status).toBe(0);
        expect(served()).toBe("<html>again</html>");
    });

    it("refuses a page name that is not a plain folder name", () => {
        expect(() => renderDocsScript({ projectDir: "/p", profilesDir: "/q", workDir: "/w", vars: {}, siteDir: "/site", pageName: "../etc" })).toThrow("docs page name '../etc' must be");
        expect(() => renderDocsScript({ projectDir: "/p", profilesDir: "/q", workDir: "/w", vars: {}, siteDir: "/site", pageName: "" })).toThrow("docs page name '' must be");
    });
});

describe("statement files for the Trino CLI", () => {
    it("terminates the one statement, as --file requires", () => {
        expect(renderStatementFile("SELECT 1\n")).toBe("SELECT 1;\n");
        expect(renderStatementFile("SELECT 1;")).toBe("SELECT 1;\n");
    });
});
