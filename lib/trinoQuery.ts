import { KubeTunnel, withPortForward } from "./kubectl";

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
    // For a few seconds after it starts, a coordinator can run a query that needs no catalog
    // before its scheduler knows the node holds the catalogs; a query on one then fails before
    // anything runs, so sending it again is safe.
    const deadline = Date.now() + NO_NODES_RETRY_MS;
    for (;;) {
        try {
            return await queryTrinoOnce(connection, sql);
        } catch (e) {
            if (!(e as { noNodesAvailable?: boolean }).noNodesAvailable || Date.now() > deadline) {
                throw e;
            }
            await new Promise(resolve => setTimeout(resolve, 500));
        }
    }
}

const NO_NODES_RETRY_MS = 30_000;

async function queryTrinoOnce(connection: TrinoConnection, sql: string): Promise<QueryOutcome> {
    const { Trino } = require("trino-client");
    const trino = Trino.create({
        server: connection.url,
        extraHeaders: { "X-Trino-User": connection.user, Authorization: basicAuthorization(connection.user, connection.password ?? "") },
        source: "datamesh",
        // One TLS connection for the statement and all its polls, instead of a handshake for each (about 30 ms a statement).
        ssl: { ...(connection.caCert ? { ca: connection.caCert } : {}), keepAlive: true },
    });
    try {
        const iterator = await trino.query(sql);
        let columns: string[] = [];
        const rows: unknown[][] = [];
        for await (const page of iterator) {
            if (page.error) {
                throw Object.assign(new Error(`Trino: ${page.error.message}`), { noNodesAvailable: page.error.errorName === "NO_NODES_AVAILABLE" });
            }
            if (page.columns) {
                columns = page.columns.map((c: { name: string }) => c.name);
            }
            for (const row of page.data ?? []) {
                rows.push(row);
            }
        }
        return { columns, rows };
    } finally {
        // The client (trino-client 0.2.9, pinned) makes that agent itself and keeps it private; closing it leaves no idle connection behind.
        trino.client?.clientConfig?.httpsAgent?.destroy();
    }
}

/** A string literal in Trino SQL: single quotes doubled, the only escape Trino has. */
export function trinoLiteral(value: string): string {
    return `'${value.replace(/'/g, "''")}'`;
}

/** How the deploying process reaches the coordinator: directly, or through a port-forward into a cluster. */
export interface TrinoAccess {
    connection: TrinoConnection;
    /** Inside a cluster, the coordinator's Service; the connection's URL is then replaced by the forward's. */
    tunnel?: KubeTunnel;
}

/** Runs `use` with a connection that reaches the coordinator, for as long as `use` runs. */
export async function withTrino<T>(access: TrinoAccess, use: (connection: TrinoConnection) => Promise<T>): Promise<T> {
    if (!access.tunnel) {
        return use(access.connection);
    }
    return withPortForward(access.tunnel, localPort => use({ ...access.connection, url: `https://127.0.0.1:${localPort}` }));
}

/** True when Trino itself refused the statement (its message follows), false when it could not be reached. */
export function isTrinoRefusal(error: unknown): boolean {
    return error instanceof Error && error.message.startsWith("Trino: ");
}
