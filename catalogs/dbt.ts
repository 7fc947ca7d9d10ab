import { renderYaml } from "./yaml";

/** The profile name the dbt project asks for in dbt_project.yml. */
export const DBT_PROFILE_NAME = "datamesh";
export const DBT_TARGET_NAME = "mesh";

/** Where dbt runs its SQL: the Trino coordinator, writing into the insights catalog. */
export interface DbtProfileSpec {
    host: string;
    port: number;
    user: string;
    /** The insights catalog, dbt's "database". */
    catalog: string;
    schema: string;
    threads: number;
}

/** The text of profiles.yml for the dbt-trino adapter. */
export function renderDbtProfile(spec: DbtProfileSpec): string {
    if (!Number.isInteger(spec.threads) || spec.threads < 1) {
        throw new Error(`threads must be a positive integer, got ${spec.threads}`);
    }
    return renderYaml({
        [DBT_PROFILE_NAME]: {
            outputs: {
                [DBT_TARGET_NAME]: {
                    database: spec.catalog,
                    host: spec.host,
                    http_scheme: "http",
                    method: "none",
                    port: spec.port,
                    schema: spec.schema,
                    threads: spec.threads,
                    type: "trino",
                    user: spec.user,
                },
            },
            target: DBT_TARGET_NAME,
        },
    });
}
