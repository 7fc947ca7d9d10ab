/** Where and as whom to run SQL on Trino. */
export interface TrinoConnection {
    url: string;
    user: string;
    /** Required by a coordinator that authenticates users (over HTTPS). */
    password?: string;
    /** The certificate to trust for an https URL, PEM. */
    caCert?: string;
}

export interface QueryOutcome {
    columns: string[];
    rows: unknown[][];
}

/**
 * Runs one statement through the Trino project's Node client and collects every page of rows.
 * Trino's own error message is raised as is, so callers can show it to the user.
 */
export async function queryTrino(connection: TrinoConnection, sql: string): Promise<QueryOutcome> {
    const { Trino, BasicAuth } = require("trino-client");
    const trino = Trino.create({
        server: connection.url,
        auth: new BasicAuth(connection.user, connection.password),
        source: "datamesh",
        ...(connection.caCert ? { ssl: { ca: connection.caCert } } : {}),
    });
    const iterator = await trino.query(sql);
    let columns: string[] = [];
    const rows: unknown[][] = [];
    for await (const page of iterator) {
        if (page.error) {
            throw new Error(`Trino: ${page.error.message}`);
        }
        if (page.columns) {
            columns = page.columns.map((c: { name: string }) => c.name);
        }
        for (const row of page.data ?? []) {
            rows.push(row);
        }
    }
    return { columns, rows };
}
