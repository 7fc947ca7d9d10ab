/** Where a domain's data lives. Each engine is a separate server process owned by its domain. */
export type Engine = "postgresql" | "mariadb";

/** The column types the domain tables use; money is integer cents, never a float. */
export type ColumnType = "integer" | "text" | "date";

export interface ColumnSpec {
    name: string;
    type: ColumnType;
}

export interface DomainSpec {
    /** Domain name; also its database, its Trino catalog and the prefix of its users. */
    name: string;
    engine: Engine;
    /** The domain's one table, named as in the jaffle_shop seed. */
    table: string;
    /** The CSV file in a data folder that holds this table. */
    file: string;
    /** Columns in CSV header order; the first is the primary key. */
    columns: ColumnSpec[];
    /** Which Trino schema exposes the table: PostgreSQL's default schema, or MariaDB's database. */
    trinoSchema: string;
    /** Columns that are personal data: only the domain's owner may read them. */
    piiColumns: string[];
}

export const DOMAINS: readonly DomainSpec[] = [
    {
        name: "customers",
        engine: "postgresql",
        table: "customers",
        file: "customers.csv",
        trinoSchema: "public",
        piiColumns: ["email"],
        columns: [
            { name: "id", type: "integer" },
            { name: "first_name", type: "text" },
            { name: "last_name", type: "text" },
            { name: "email", type: "text" },
        ],
    },
    {
        name: "orders",
        engine: "mariadb",
        table: "orders",
        file: "orders.csv",
        trinoSchema: "orders",
        piiColumns: [],
        columns: [
            { name: "id", type: "integer" },
            { name: "user_id", type: "integer" },
            { name: "order_date", type: "date" },
            { name: "status", type: "text" },
        ],
    },
    {
        name: "payments",
        engine: "postgresql",
        table: "payments",
        file: "payments.csv",
        trinoSchema: "public",
        piiColumns: [],
        columns: [
            { name: "id", type: "integer" },
            { name: "order_id", type: "integer" },
            { name: "payment_method", type: "text" },
            { name: "amount", type: "integer" },
        ],
    },
];

export function domainByName(name: string): DomainSpec {
    const domain = DOMAINS.find(d => d.name === name);
    if (!domain) {
        throw new Error(`unknown domain '${name}'; known domains: ${DOMAINS.map(d => d.name).join(", ")}`);
    }
    return domain;
}
