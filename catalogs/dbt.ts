import { renderYaml } from "./yaml";

/** The profile name the dbt project asks for in dbt_project.yml. */
export const DBT_PROFILE_NAME = "datamesh";
export const DBT_TARGET_NAME = "mesh";

/** Where dbt runs its SQL: the Trino coordinator over HTTPS, writing into the insights catalog. */
export interface DbtProfileSpec {
    host: string;
    port: number;
    user: string;
    /** The environment variable that holds the password; the profile itself holds none. */
    passwordEnv: string;
    /** The CA certificate file that dbt trusts for the coordinator. */
    caCertFile: string;
    /** The insights catalog, dbt's "database". */
    catalog: string;
    schema: string;
    threads: number;
}

/** The text of profiles.yml for the dbt-trino adapter, with password authentication. */
export function renderDbtProfile(spec: DbtProfileSpec): string {
    if (!/^[A-Z][A-Z0-9_]*$/.test(spec.passwordEnv)) {
        throw new Error(`passwordEnv '${spec.passwordEnv}' must be an upper-case environment variable name`);
    }
    if (!Number.isInteger(spec.threads) || spec.threads < 1) {
        throw new Error(`threads must be a positive integer, got ${spec.threads}`);
    }
    return renderYaml({
        [DBT_PROFILE_NAME]: {
            outputs: {
                [DBT_TARGET_NAME]: {
                    cert: spec.caCertFile,
                    database: spec.catalog,
                    host: spec.host,
                    http_scheme: "https",
                    method: "ldap",
                    password: `{{ env_var('${spec.passwordEnv}') }}`,
                    port: spec.port,
                    schema: spec.schema,
                    // Every model is rebuilt from scratch on each run, and skipping the per-column
                    // distinct-value sketches saved 1-2 s of a 20 s build at scale 10000 (docs/benchmarks.md).
                    // Row counts and min/max stay in the table's metadata; ANALYZE adds the sketches.
                    session_properties: { [`${spec.catalog}.collect_extended_statistics_on_write`]: false },
                    threads: spec.threads,
                    type: "trino",
                    user: spec.user,
                },
            },
            target: DBT_TARGET_NAME,
        },
    });
}
