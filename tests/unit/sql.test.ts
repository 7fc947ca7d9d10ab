import { domainByName } from "../../lib/domains";
import { createTableSql, domainAccessSql, insertBatchSql } from "../../lib/sql";

const spec = (engine: "postgresql" | "mariadb", domain: string) => ({
    engine,
    database: domain,
    ownerUser: `${domain}_owner`,
    ownerPassword: "o'wner",
    readerUser: `${domain}_trino`,
    readerPassword: "reader",
    domain: domainByName(domain),
});

describe("domain SQL", () => {
    it("creates the table with a primary key and exact integer cents", () => {
        expect(createTableSql("postgresql", domainByName("payments"))).toBe(
            'CREATE TABLE IF NOT EXISTS "payments" ("id" BIGINT PRIMARY KEY, "order_id" BIGINT NOT NULL, "payment_method" TEXT NOT NULL, "amount" BIGINT NOT NULL)',
        );
        expect(createTableSql("mariadb", domainByName("orders"))).toMatchSnapshot();
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

    it("numbers the parameters of a batch in the engine's style", () => {
        expect(insertBatchSql("postgresql", domainByName("orders"), 2)).toBe('INSERT INTO "orders" ("id", "user_id", "order_date", "status") VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)');
        expect(insertBatchSql("mariadb", domainByName("orders"), 1)).toBe("INSERT INTO `orders` (`id`, `user_id`, `order_date`, `status`) VALUES (?, ?, ?, ?)");
    });
});
