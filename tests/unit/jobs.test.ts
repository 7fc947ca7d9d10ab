import * as fs from "fs";
import * as path from "path";
import { renderCheckScript, renderDbtScript, renderStatementFile } from "../../catalogs/jobs";


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

describe("statement files for the Trino CLI", () => {
    it("terminates the one statement, as --file requires", () => {
        expect(renderStatementFile("SELECT 1\n")).toBe("SELECT 1;\n");
        expect(renderStatementFile("SELECT 1;")).toBe("SELECT 1;\n");
    });
});
