import { AccessSpec, renderAccessRules } from "../../catalogs/accessRules";

const spec: AccessSpec = {
    domains: [
        { name: "customers", catalog: "customers", owner: "customers_owner", piiColumns: { customers: ["email"] } },
        { name: "orders", catalog: "orders", owner: "orders_owner", piiColumns: { orders: [] } },
        { name: "payments", catalog: "payments", owner: "payments_owner", piiColumns: {} },
    ],
    insights: { catalog: "insights", schema: "jaffle_shop", publicTables: ["fct_orders", "dim_customers"] },
    users: { dbt: "dbt", analyst: "analyst", check: "datamesh_check" },
};

type Rule = { user?: string; catalog?: string; schema?: string; table?: string; allow?: string; privileges?: string[]; columns?: { name: string; allow: boolean }[] };

/** Trino's first-match semantics over the generated rules, for the questions the tests ask. */
function firstMatch(rules: Rule[], user: string, target: { catalog: string; schema?: string; table?: string }): Rule | undefined {
    const matches = (pattern: string | undefined, value: string | undefined) => pattern === undefined || (value !== undefined && new RegExp(`^${pattern}$`).test(value));
    return rules.find(r => matches(r.user, user) && matches(r.catalog, target.catalog) && matches(r.schema, target.schema) && matches(r.table, target.table));
}

describe("access rules", () => {
    const text = renderAccessRules(spec);
    const rules = JSON.parse(text) as { catalogs: Rule[]; schemas: Rule[]; tables: Rule[] };

    it("renders byte-stable JSON", () => {
        expect(text).toMatchSnapshot();
        expect(renderAccessRules({ ...spec, domains: [...spec.domains] })).toBe(text);
    });

    it("keeps a domain owner in its own catalog", () => {
        expect(firstMatch(rules.catalogs, "customers_owner", { catalog: "customers" })?.allow).toBe("all");
        expect(firstMatch(rules.catalogs, "customers_owner", { catalog: "orders" })).toBeUndefined();
        expect(firstMatch(rules.catalogs, "customers_owner", { catalog: "insights" })).toBeUndefined();
    });

    it("lets dbt read the domains, write the insights, and never read PII", () => {
        expect(firstMatch(rules.catalogs, "dbt", { catalog: "orders" })?.allow).toBe("read-only");
        expect(firstMatch(rules.catalogs, "dbt", { catalog: "insights" })?.allow).toBe("all");
        expect(firstMatch(rules.tables, "dbt", { catalog: "customers", schema: "public", table: "customers" })?.columns).toEqual([{ name: "email", allow: false }]);
        expect(firstMatch(rules.tables, "dbt", { catalog: "payments", schema: "public", table: "payments" })?.privileges).toEqual(["SELECT"]);
    });

    it("lets the analyst read the public marts only", () => {
        expect(firstMatch(rules.catalogs, "analyst", { catalog: "insights" })?.allow).toBe("read-only");
        for (const catalog of ["customers", "orders", "payments", "system"]) {
            expect(firstMatch(rules.catalogs, "analyst", { catalog })).toBeUndefined();
        }
        expect(firstMatch(rules.tables, "analyst", { catalog: "insights", schema: "jaffle_shop", table: "dim_customers" })?.privileges).toEqual(["SELECT"]);
        expect(firstMatch(rules.tables, "analyst", { catalog: "insights", schema: "jaffle_shop", table: "stg_customers" })).toBeUndefined();
    });

    it("lets the check read which nodes run, and no other system table", () => {
        expect(firstMatch(rules.catalogs, "datamesh_check", { catalog: "system" })?.allow).toBe("read-only");
        expect(firstMatch(rules.tables, "datamesh_check", { catalog: "system", schema: "runtime", table: "nodes" })?.privileges).toEqual(["SELECT"]);
        for (const [schema, table] of [["runtime", "queries"], ["runtime", "tasks"], ["jdbc", "tables"]]) {
            expect(firstMatch(rules.tables, "datamesh_check", { catalog: "system", schema, table })).toBeUndefined();
        }
    });

    it("lets every user run queries, and see and kill only their own", () => {
        expect((JSON.parse(text) as { queries: unknown }).queries).toEqual([{ allow: ["execute"] }]);
    });

    it("denies anyone not named", () => {
        for (const catalog of ["customers", "orders", "payments", "insights", "system"]) {
            expect(firstMatch(rules.catalogs, "stranger", { catalog })).toBeUndefined();
        }
    });

    it("gives extra readers their domain, without PII, and nothing else", () => {
        const withReaders = JSON.parse(renderAccessRules({ ...spec, readers: { customers: ["crm"], orders: ["finance", "audit"] } })) as { catalogs: Rule[]; tables: Rule[] };
        expect(firstMatch(withReaders.catalogs, "finance", { catalog: "orders" })?.allow).toBe("read-only");
        expect(firstMatch(withReaders.catalogs, "audit", { catalog: "orders" })?.allow).toBe("read-only");
        expect(firstMatch(withReaders.catalogs, "finance", { catalog: "customers" })).toBeUndefined();
        expect(firstMatch(withReaders.tables, "crm", { catalog: "customers", schema: "public", table: "customers" })?.columns).toEqual([{ name: "email", allow: false }]);
    });

    it("refuses an access rule for an unknown domain", () => {
        expect(() => renderAccessRules({ ...spec, readers: { shipping: ["finance"] } })).toThrow("access rule for unknown domain 'shipping'; declared domains: customers, orders, payments");
    });

    it("refuses names that would become regular expressions", () => {
        expect(() => renderAccessRules({ ...spec, users: { ...spec.users, analyst: "an.*" } })).toThrow("'an.*' is not a plain lower-case name and cannot be used in an access rule");
        expect(() => renderAccessRules({ ...spec, domains: [] })).toThrow("access rules need at least one domain");
    });
});
