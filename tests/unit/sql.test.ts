import { jaffleTable } from "../reference";
import { bulkLoadSql, createTableSql, declaredShape, domainAccessSql, externalReaderSql, icebergMetastoreSql, mariadbSwapSql, quoteLiteral } from "../../lib/sql";

const spec = (engine: "postgresql" | "mariadb", domain: string) => ({
    engine,
    database: domain,
    ownerUser: `${domain}_owner`,
    ownerPassword: "o'wner",
    readerUser: `${domain}_trino`,
    readerPassword: "reader",
    tables: [jaffleTable(domain)],
});

describe("domain SQL", () => {
    it("creates the table with a primary key and exact integer cents", () => {
        expect(createTableSql("postgresql", jaffleTable("payments"))).toBe(
            'CREATE TABLE IF NOT EXISTS "payments" ("id" BIGINT PRIMARY KEY, "order_id" BIGINT NOT NULL, "payment_method" TEXT NOT NULL, "amount" BIGINT NOT NULL)',
        );
        expect(createTableSql("mariadb", jaffleTable("orders"))).toMatchSnapshot();
    });

    it("gives the Trino reader SELECT on the domain table and nothing more (PostgreSQL)", () => {
        const sql = domainAccessSql(spec("postgresql", "customers"));
        const readerGrants = sql.database.filter(s => s.includes('"customers_trino"'));
        expect(readerGrants).toEqual(['GRANT CONNECT ON DATABASE "customers" TO "customers_trino"', 'GRANT USAGE ON SCHEMA public TO "customers_trino"', 'GRANT SELECT ON "customers" TO "customers_trino"']);
        expect(sql.server).toContain(`ALTER ROLE "customers_owner" WITH LOGIN PASSWORD 'o''wner'`);
        expect(sql).toMatchSnapshot();
    });

    it("gives the Trino reader SELECT on the domain table and nothing more (MariaDB)", () => {
        const sql = domainAccessSql(spec("mariadb", "orders"));
        const readerGrants = [...sql.server, ...sql.database].filter(s => s.startsWith("GRANT") && s.includes("'orders_trino'"));
        expect(readerGrants).toEqual(["GRANT SELECT ON `orders`.`orders` TO 'orders_trino'@'%'"]);
        expect(sql).toMatchSnapshot();
    });

    it("quotes a string literal by each engine's rules: PostgreSQL takes a backslash as itself, MariaDB as an escape", () => {
        expect(quoteLiteral("postgresql", `it's C:\\dir\\ naïve`)).toBe(`'it''s C:\\dir\\ naïve'`);
        expect(quoteLiteral("mariadb", `it's C:\\dir\\ naïve`)).toBe(`'it''s C:\\\\dir\\\\ naïve'`);
        // A trailing backslash must not swallow MariaDB's closing quote.
        expect(quoteLiteral("mariadb", "\\")).toBe(`'\\\\'`);
        expect(quoteLiteral("postgresql", "\\")).toBe(`'\\'`);
        expect(quoteLiteral("postgresql", `\\'; DROP ROLE x; --`)).toBe(`'\\''; DROP ROLE x; --'`);
        expect(quoteLiteral("mariadb", `\\'; DROP USER x; --`)).toBe(`'\\\\''; DROP USER x; --'`);
    });

    it("sets passwords with quotes, backslashes and non-ASCII letters as each engine reads them", () => {
        const awkward = (engine: "postgresql" | "mariadb", domain: string) => ({ ...spec(engine, domain), ownerPassword: `o'wner\\ é`, readerPassword: `\\'rëader"` });
        expect(domainAccessSql(awkward("postgresql", "payments")).server).toEqual([
            `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'payments_owner') THEN CREATE ROLE "payments_owner" LOGIN; END IF; END $$`,
            `ALTER ROLE "payments_owner" WITH LOGIN PASSWORD 'o''wner\\ é'`,
            `DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'payments_trino') THEN CREATE ROLE "payments_trino" LOGIN; END IF; END $$`,
            `ALTER ROLE "payments_trino" WITH LOGIN PASSWORD '\\''rëader"'`,
        ]);
        expect(domainAccessSql(awkward("mariadb", "orders")).server.filter(sql => sql.includes("IDENTIFIED BY"))).toEqual([
            `CREATE USER IF NOT EXISTS 'orders_owner'@'%' IDENTIFIED BY 'o''wner\\\\ é'`,
            `ALTER USER 'orders_owner'@'%' IDENTIFIED BY 'o''wner\\\\ é'`,
            `CREATE USER IF NOT EXISTS 'orders_trino'@'%' IDENTIFIED BY '\\\\''rëader"'`,
            `ALTER USER 'orders_trino'@'%' IDENTIFIED BY '\\\\''rëader"'`,
        ]);
        expect(icebergMetastoreSql({ database: "iceberg_catalog", connectorUser: "iceberg_trino", connectorPassword: `c:\\'ø` }).server[1]).toBe(
            `ALTER ROLE "iceberg_trino" WITH LOGIN PASSWORD 'c:\\''ø'`,
        );
    });

    it("loads through each engine's own bulk loader, naming the columns in the CSV's order", () => {
        expect(bulkLoadSql("postgresql", jaffleTable("orders"))).toBe('COPY "orders" ("id", "user_id", "order_date", "status") FROM STDIN WITH (FORMAT csv)');
        expect(bulkLoadSql("mariadb", jaffleTable("orders"))).toBe(
            "LOAD DATA LOCAL INFILE 'rows.csv' INTO TABLE `orders` CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' LINES TERMINATED BY '\\n' (`id`, `user_id`, `order_date`, `status`)",
        );
    });

    it("expects of a declared table the columns, types and key that information_schema lists for the table createTableSql makes", () => {
        // information_schema names a type without its length: MariaDB's VARCHAR(1024) is varchar.
        expect(declaredShape("mariadb", jaffleTable("orders"))).toEqual([
            ["id", "bigint", 1],
            ["user_id", "bigint", 0],
            ["order_date", "date", 0],
            ["status", "varchar", 0],
        ]);
        expect(declaredShape("postgresql", jaffleTable("customers")).map(([name, type]) => `${name} ${type}`)).toEqual(["id bigint", "first_name text", "last_name text", "email text"]);
    });

    it("swaps MariaDB's reshaped tables in by one rename, moving aside only a table that exists", () => {
        expect(
            mariadbSwapSql([
                { name: "orders", replaces: true },
                { name: "returns", replaces: false },
            ]),
        ).toBe("RENAME TABLE `orders` TO `orders__old`, `orders__reshape` TO `orders`, `returns__reshape` TO `returns`");
    });
});

describe("the read-only user of an external domain", () => {
    it("may log in and read the declared tables, and nothing else", () => {
        const postgres = externalReaderSql({ engine: "postgresql", database: "loyalty", schema: "public", reader: "trino_reader", password: "p'w", tables: ["points"] });
        expect(postgres.server[1]).toBe(`ALTER ROLE "trino_reader" WITH LOGIN PASSWORD 'p''w'`);
        expect(postgres.database).toEqual(['GRANT CONNECT ON DATABASE "loyalty" TO "trino_reader"', 'GRANT USAGE ON SCHEMA "public" TO "trino_reader"', 'GRANT SELECT ON "public"."points" TO "trino_reader"']);
        const mariadb = externalReaderSql({ engine: "mariadb", database: "loyalty", schema: "loyalty", reader: "trino_reader", password: "pw", tables: ["points", "tiers"] });
        expect(mariadb.server.filter(sql => sql.startsWith("GRANT"))).toEqual(["GRANT SELECT ON `loyalty`.`points` TO 'trino_reader'@'%'", "GRANT SELECT ON `loyalty`.`tiers` TO 'trino_reader'@'%'"]);
        expect(mariadb.database).toEqual([]);
    });
});
