import { renderBucketScript, renderCheckScript, renderDbtScript, renderDomainSetupScript, renderMetastoreSetupScript, renderStatementFile } from "../../catalogs/jobs";
import { domainByName } from "../../lib/domains";
import { dataScriptSql } from "../../lib/sql";

const customers = domainByName("customers");
const orders = domainByName("orders");

describe("cluster job scripts", () => {
    it.each([customers, orders])("sets up the $name domain from its engine's client", domain => {
        const script = renderDomainSetupScript({ engine: domain.engine, domain, ownerUser: `${domain.name}_owner`, readerUser: `${domain.name}_trino`, dataFile: "/etc/datamesh/setup/data.sql" });
        expect(script).toMatchSnapshot();
        expect(script.startsWith("#!/bin/sh\n")).toBe(true);
        expect(script).toContain("${OWNER_PASSWORD}");
        expect(script).toContain("${READER_PASSWORD}");
        expect(script).not.toContain("@@");
    });

    it("keeps PostgreSQL's dollar quoting away from the shell", () => {
        const script = renderDomainSetupScript({ engine: "postgresql", domain: customers, ownerUser: "customers_owner", readerUser: "customers_trino", dataFile: "/d.sql" });
        expect(script).toContain("DO \\$\\$ BEGIN");
        expect(script).not.toMatch(/[^\\]\$\$/);
    });

    it("creates the Iceberg catalog tables and the connector's user", () => {
        const script = renderMetastoreSetupScript({ database: "iceberg_catalog", connectorUser: "iceberg_trino" });
        expect(script).toMatchSnapshot();
        expect(script).toContain("CREATE TABLE IF NOT EXISTS iceberg_tables");
        expect(script).toContain("PASSWORD '${CONNECTOR_PASSWORD}'");
    });

    it("creates the warehouse bucket, runs the check and dbt", () => {
        expect(renderBucketScript("insights-warehouse")).toMatchSnapshot();
        expect(renderCheckScript({ queryFile: "/etc/datamesh/check/mismatches.sql", caCertFile: "/etc/datamesh/check/trino-ca.pem" })).toMatchSnapshot();
        const dbt = renderDbtScript({ projectDir: "/p", profilesDir: "/profiles", workDir: "/tmp/dbt", vars: { orders_schema: "orders", customers_catalog: "customers" } });
        expect(dbt).toMatchSnapshot();
        expect(dbt.indexOf("check_source_contracts")).toBeLessThan(dbt.indexOf("dbt build"));
        expect(() => renderDbtScript({ projectDir: "/p", profilesDir: "/q", workDir: "/w", vars: { x: "it's" } })).toThrow("dbt vars must not contain single quotes");
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
