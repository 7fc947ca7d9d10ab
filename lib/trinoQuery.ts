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
 * HTTP basic credentials as Trino decodes them: `user:password` in ISO-8859-1, as the Trino CLI and
 * JDBC driver send them. The Node client would send UTF-8, which Trino misreads for any password
 * with a non-ASCII character.
 */
export function basicAuthorization(user: string, password: string): string {
    const credentials = `${user}:${password}`;
    if (/[^\u0000-\u00ff]/.test(credentials)) {
        throw new Error(`Trino user '${user}': Trino reads credentials as ISO-8859-1, and these hold a character outside it`);
    }
    return `Basic ${Buffer.from(credentials, "latin1").toString("base64")}`;
}

/**
 * Runs one statement through the Trino project's Node client and collects every page of rows.
 * Trino's own error message is raised as is, so callers can show it to the user.
 */
export async function queryTrino(connection: TrinoConnection, sql: string): Promise<QueryOutcome> {
    const { Trino } = require("trino-client");
    const trino = Trino.create({
        server: connection.url,
        extraHeaders: { "X-Trino-User": connection.user, Authorization: basicAuthorization(connection.user, connection.password ?? "") },
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
