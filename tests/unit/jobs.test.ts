import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import { renderCheckScript, renderDbtScript, renderDocsScript, renderStatementFile } from "../../catalogs/jobs";
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

    it("installs the pinned dbt toolchain first when the image has none, and logs which dbt runs", () => {
        const dbt = renderDbtScript({ projectDir: "/p", profilesDir: "/profiles", workDir: "/tmp/dbt", vars: {}, requirementsFile: "/profiles/requirements.txt" });
        expect(dbt).toMatchSnapshot();
        expect(dbt).toContain("if ! command -v dbt >/dev/null 2>&1; then");
        expect(dbt).toContain("pip install --quiet --no-input --disable-pip-version-check --requirement /profiles/requirements.txt");
        expect(dbt.indexOf("pip install")).toBeLessThan(dbt.indexOf("dbt --version"));
        expect(dbt.indexOf("dbt --version")).toBeLessThan(dbt.indexOf("dbt build"));
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
        expect(renderDocsScript({ projectDir: "/p", profilesDir: "/profiles", workDir: "/tmp/dbt", vars: { a: "1" }, requirementsFile: "/profiles/requirements.txt", siteDir: "/site", pageName: "jaffle_shop__0123abcd" })).toMatchSnapshot();
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
