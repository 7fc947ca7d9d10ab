import { renderCheckScript, renderDbtScript, renderStatementFile } from "../../catalogs/jobs";
import { domainByName } from "../../lib/domains";
import { dataScriptSql } from "../../lib/sql";

const customers = domainByName("customers");

describe("cluster job scripts", () => {
    it("runs the check with the Trino CLI, and dbt's source contract before its build", () => {
        expect(renderCheckScript({ queryFile: "/etc/datamesh/check/mismatches.sql", caCertFile: "/etc/datamesh/check/trino-ca.pem" })).toMatchSnapshot();
        const dbt = renderDbtScript({ projectDir: "/p", profilesDir: "/profiles", workDir: "/tmp/dbt", vars: { orders_schema: "orders", customers_catalog: "customers" } });
        expect(dbt).toMatchSnapshot();
        expect(dbt.indexOf("check_source_contracts")).toBeLessThan(dbt.indexOf("dbt build"));
        expect(dbt).not.toContain("pip install");
        expect(() => renderDbtScript({ projectDir: "/p", profilesDir: "/q", workDir: "/w", vars: { x: "it's" } })).toThrow("dbt vars must not contain single quotes");
    });

    it("installs the pinned dbt toolchain first when the image has none, and logs which dbt runs", () => {
        const dbt = renderDbtScript({ projectDir: "/p", profilesDir: "/profiles", workDir: "/tmp/dbt", vars: {}, requirementsFile: "/profiles/requirements.txt" });
        expect(dbt).toMatchSnapshot();
        expect(dbt).toContain("if ! command -v dbt >/dev/null 2>&1; then");
        expect(dbt).toContain("pip install --quiet --no-input --disable-pip-version-check --requirement /profiles/requirements.txt");
        expect(dbt.indexOf("pip install")).toBeLessThan(dbt.indexOf("dbt --version"));
        expect(dbt.indexOf("dbt --version")).toBeLessThan(dbt.indexOf("check_source_contracts"));
    });
});

describe("statement files for the Trino CLI", () => {
    it("terminates the one statement, as --file requires", () => {
        expect(renderStatementFile("SELECT 1\n")).toBe("SELECT 1;\n");
        expect(renderStatementFile("SELECT 1;")).toBe("SELECT 1;\n");
        expect(() => renderStatementFile("SELECT 1; SELECT 2")).toThrow("exactly one statement");
    });
});

describe("domain rows as SQL", () => {
    const rows = [
        [1, "O'Brien", "Back\\slash", "ob@example.com"],
        [2, "Zoë", "Smith, Jr.", "zs@example.com"],
    ];

    it("quotes text so each engine reads it back unchanged", () => {
        const pg = dataScriptSql("postgresql", customers, rows);
        expect(pg).toContain(`(1, 'O''Brien', 'Back\\slash', 'ob@example.com')`);
        const maria = dataScriptSql("mariadb", customers, rows);
        expect(maria).toContain("(1, 'O''Brien', 'Back\\\\slash', 'ob@example.com')");
        expect(pg.startsWith('DELETE FROM "customers";\n')).toBe(true);
    });

    it("batches the rows and refuses a non-integer where an integer belongs", () => {
        const many = Array.from({ length: 5 }, (_, i) => [i + 1, "a", "b", "c"]);
        expect(dataScriptSql("postgresql", customers, many, 2).match(/INSERT INTO/g)).toHaveLength(3);
        expect(() => dataScriptSql("postgresql", customers, [["x", "a", "b", "c"]])).toThrow("'x' is not an integer");
    });
});
