import * as crypto from "crypto";
import { queryTrino, TrinoConnection } from "./trinoQuery";

/** A domain table that the insights read, as Trino names it. */
export interface SourceTable {
    catalog: string;
    schema: string;
    table: string;
}

function literal(value: string): string {
    return `'${value.replace(/'/g, "''")}'`;
}

/**
 * A digest of the columns and types the insights' sources have right now, as the given user sees
 * them. It changes when a domain renames, retypes, adds or drops a column, so the dbt job can
 * re-check the source contracts on the next deployment even though nothing in the stack changed.
 */
export async function sourceSchemaDigest(connection: TrinoConnection, sources: SourceTable[]): Promise<string> {
    const hash = crypto.createHash("sha256");
    for (const source of sources) {
        const columns = await queryTrino(
            connection,
            `SELECT column_name, data_type FROM ${source.catalog}.information_schema.columns ` +
                `WHERE table_schema = ${literal(source.schema)} AND table_name = ${literal(source.table)} ORDER BY ordinal_position`,
        );
        hash.update(`${source.catalog}.${source.schema}.${source.table}\0${JSON.stringify(columns.rows)}\0`);
    }
    return hash.digest("hex");
}
