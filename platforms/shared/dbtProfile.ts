import * as pulumi from "@pulumi/pulumi";
import { DbtRunRequest } from "../platform";

/** Where every platform's dbt command finds the dbt user's password; the profile names the variable, never the value. */
export const DBT_PASSWORD_ENV = "DATAMESH_DBT_PASSWORD";

/** The profile a platform's dbt command reads: Trino where that command reaches it, the CA certificate where the platform puts it, and the schema to build into. */
export function dbtProfile(request: DbtRunRequest, schema: pulumi.Input<string>, caCertFile: string): pulumi.Output<string> {
    return pulumi
        .all([request.trino.host, request.trino.port, schema])
        .apply(([host, port, schemaName]) => request.profile({ host, port, caCertFile, passwordEnv: DBT_PASSWORD_ENV, schema: schemaName }));
}
