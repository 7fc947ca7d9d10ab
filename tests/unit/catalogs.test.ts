import { renderDbtProfile } from "../../catalogs/dbt";
import { envReference, renderProperties } from "../../catalogs/properties";
import { CatalogSpec, catalogPasswordEnv, renderCatalog, renderEtc, renderJvmConfig } from "../../catalogs/trino";
import { renderYaml } from "../../catalogs/yaml";

const customers: CatalogSpec = { kind: "postgresql", name: "customers", host: "127.0.0.1", port: 15430, database: "customers", user: "customers_trino", passwordEnv: catalogPasswordEnv("customers") };
const orders: CatalogSpec = { kind: "mariadb", name: "orders", host: "127.0.0.1", port: 15431, user: "orders_trino", passwordEnv: catalogPasswordEnv("orders") };
const insights: CatalogSpec = {
    kind: "iceberg",
    name: "insights",
    metastore: { host: "127.0.0.1", port: 15433, database: "iceberg_catalog", user: "iceberg_trino", passwordEnv: catalogPasswordEnv("insights") },
    warehouseDir: "/state/insights-warehouse",
};

describe("properties", () => {
    it("sorts keys so equal values give equal bytes", () => {
        expect(renderProperties({ b: 1, a: true, c: "x" })).toBe("a=true\nb=1\nc=x\n");
        expect(renderProperties({ b: 1, a: 2 })).toBe(renderProperties({ a: 2, b: 1 }));
    });

    it("refuses values that would break the file", () => {
        expect(() => renderProperties({ a: "one\ntwo" })).toThrow("property 'a' cannot be written");
    });

    it("refers to secrets through the environment", () => {
        expect(envReference("CUSTOMERS_DB_PASSWORD")).toBe("${ENV:CUSTOMERS_DB_PASSWORD}");
        expect(() => envReference("lower")).toThrow("environment variable name 'lower'");
    });
});

describe("Trino catalogs", () => {
    it.each([customers, orders, insights])("renders the $name catalog", spec => {
        const text = renderCatalog(spec);
        expect(text).toMatchSnapshot();
        expect(text).not.toMatch(/password=(?!\$\{ENV:)/);
    });

    it("rejects a relative warehouse and a bad catalog name", () => {
        expect(() => renderCatalog({ ...insights, warehouseDir: "warehouse" } as CatalogSpec)).toThrow("catalog 'insights': warehouseDir must be an absolute path");
        expect(() => renderCatalog({ ...customers, name: "Customers" })).toThrow("catalog name 'Customers' must be a lower-case identifier");
    });

    it("renders the whole etc folder, one file per catalog", () => {
        const etc = renderEtc({
            node: { environment: "datamesh", nodeId: "dev-trino", dataDir: "/state/trino/data", pluginDir: "/cache/trino/476/server/plugin" },
            coordinator: { httpPort: 18080, queryMaxMemory: "1GB", queryMaxMemoryPerNode: "768MB" },
            maxHeap: "2G",
            catalogs: [orders, customers, insights],
        });
        expect(Object.keys(etc)).toEqual(["catalog/customers.properties", "catalog/insights.properties", "catalog/orders.properties", "config.properties", "jvm.config", "log.properties", "node.properties"]);
        expect(etc).toMatchSnapshot();
    });

    it("refuses a catalog declared twice", () => {
        expect(() =>
            renderEtc({ node: { environment: "e", nodeId: "n", dataDir: "/d", pluginDir: "/p" }, coordinator: { httpPort: 1, queryMaxMemory: "1GB", queryMaxMemoryPerNode: "1GB" }, maxHeap: "1G", catalogs: [customers, customers] }),
        ).toThrow("catalog 'customers' is declared twice");
    });

    it("validates the heap size", () => {
        expect(renderJvmConfig({ maxHeap: "1536M" })).toContain("-Xmx1536M\n");
        expect(() => renderJvmConfig({ maxHeap: "2 GB" })).toThrow("maxHeap must look like 2G");
    });
});

describe("dbt profile", () => {
    it("renders profiles.yml for dbt-trino", () => {
        expect(renderDbtProfile({ host: "127.0.0.1", port: 18080, user: "dbt", catalog: "insights", schema: "jaffle_shop", threads: 2 })).toMatchSnapshot();
    });

    it("rejects a zero thread count", () => {
        expect(() => renderDbtProfile({ host: "h", port: 1, user: "u", catalog: "c", schema: "s", threads: 0 })).toThrow("threads must be a positive integer");
    });
});

describe("yaml", () => {
    it("quotes what YAML would misread and sorts keys", () => {
        expect(renderYaml({ z: "yes", a: { c: "1.5", b: "plain", d: 3 } })).toBe('a:\n  b: plain\n  c: "1.5"\n  d: 3\nz: "yes"\n');
    });
});
