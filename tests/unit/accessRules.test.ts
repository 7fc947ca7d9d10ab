import { AccessSpec, renderAccessRules } from "../../catalogs/accessRules";

const spec: AccessSpec = {
    domains: [
        { name: "customers", catalog: "customers", owner: "customers_owner", piiColumns: { customers: [{ name: "email", mask: "deny", trinoType: "varchar" }] } },
        { name: "orders", catalog: "orders", owner: "orders_owner", piiColumns: { orders: [] } },
        { name: "payments", catalog: "payments", owner: "payments_owner", piiColumns: {} },
    ],
    insights: { catalog: "insights", schema: "jaffle_shop", publicTables: ["fct_orders", "dim_customers"] },
    users: { dbt: "dbt", analyst: "analyst", check: "datamesh_check" },
    piiMaskKey: "k3yOfTheMasks0nly4Trino",
};

type Rule = { user?: string; catalog?: string; schema?: string; table?: string; allow?: string; privileges?: string[]; columns?: { name: string; allow?: boolean; mask?: string }[] };

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

    it("masks a PII column as its domain declares, for everyone but the owner: NULL, or a keyed hash of its type", () => {
        const masked: AccessSpec = {
            ...spec,
            domains: [
                {
                    name: "customers",
                    catalog: "customers",
                    owner: "customers_owner",
                    piiColumns: {
                        customers: [
                            { name: "email", mask: "hash", trinoType: "varchar" },
                            { name: "phone", mask: "null", trinoType: "varchar" },
                            { name: "tax_id", mask: "hash", trinoType: "bigint" },
                            { name: "born", mask: "deny", trinoType: "date" },
                            { name: "nickname", mask: "hash", trinoType: "varchar(1024)" },
                        ],
                    },
                },
                ...spec.domains.slice(1),
            ],
            readers: { customers: ["crm"] },
        };
        const maskedRules = JSON.parse(renderAccessRules(masked)) as { tables: Rule[] };
        const expected = [
            { name: "born", allow: false },
            { name: "email", mask: "to_hex(hmac_sha256(to_utf8(email), to_utf8('k3yOfTheMasks0nly4Trino')))" },
            // Trino takes a mask only of the column's exact type: a bounded VARCHAR (MariaDB's) keeps its length.
            { name: "nickname", mask: "CAST(to_hex(hmac_sha256(to_utf8(nickname), to_utf8('k3yOfTheMasks0nly4Trino'))) AS varchar(1024))" },
            { name: "phone", mask: "CAST(NULL AS varchar)" },
            { name: "tax_id", mask: "from_big_endian_64(substr(hmac_sha256(to_utf8(CAST(tax_id AS varchar)), to_utf8('k3yOfTheMasks0nly4Trino')), 1, 8))" },
        ];
        for (const user of ["dbt", "datamesh_check", "crm"]) {
            expect({ user, columns: firstMatch(maskedRules.tables, user, { catalog: "customers", schema: "public", table: "customers" })?.columns }).toEqual({ user, columns: expected });
        }
        expect(firstMatch(maskedRules.tables, "customers_owner", { catalog: "customers", schema: "public", table: "customers" })?.columns).toBeUndefined();
        expect(() => renderAccessRules({ ...masked, domains: [{ ...masked.domains[0], piiColumns: { customers: [{ name: "born", mask: "hash", trinoType: "date" }] } }] })).toThrow(
            "PII column 'born' is date, which cannot be hashed; mask it with null or deny",
        );
        expect(() => renderAccessRules({ ...spec, piiMaskKey: "x' OR '1" })).toThrow("the PII mask key must be at least 16 letters, digits, - or _");
    });

    it("refuses an access rule for an unknown domain", () => {
        expect(() => renderAccessRules({ ...spec, readers: { shipping: ["finance"] } })).toThrow("access rule for unknown domain 'shipping'; declared domains: customers, orders, payments");
    });

    it("refuses names that would become regular expressions", () => {
        expect(() => renderAccessRules({ ...spec, users: { ...spec.users, analyst: "an.*" } })).toThrow("'an.*' is not a plain lower-case name and cannot be used in an access rule");
        expect(() => renderAccessRules({ ...spec, domains: [] })).toThrow("access rules need at least one domain");
    });
});
