/*
 * Trino's file-based access control rules, generated from the domain declarations. Trino applies
 * the first rule that matches, and denies what no rule allows, so every grant here is explicit:
 *   - a domain owner reads and writes its own catalog, and nothing else;
 *   - the dbt runner reads every domain catalog (a PII column only as its domain masks it: denied,
 *     NULL, or a keyed hash), builds each run in a schema
 *     of its own (`<schema>__<run>`), and publishes it as views in the insights schema;
 *   - the analyst reads the published views of the public marts and nothing else, never a run;
 *   - the check reads what it reconciles: the insights, its runs, and the domain tables (PII
 *     masked as for dbt).
 * dbt-trino also reads Trino's own `system` catalog to list materialized views.
 * Every user runs queries, and sees and kills only their own: without a query rule Trino would let
 * any user read every other user's SQL (in its web UI too) and kill it.
 */

/** A PII column, what it reads as to everyone but its owner, and its Trino type (a mask must keep it). */
export interface PiiColumn {
    name: string;
    mask: "deny" | "null" | "hash";
    trinoType: string;
}

/** A domain as governance sees it: its catalog, its owner, and the columns that are PII. */
export interface GovernedDomain {
    name: string;
    catalog: string;
    owner: string;
    /** PII columns by table; only the owner reads their values. */
    piiColumns: Record<string, PiiColumn[]>;
}

export interface AccessSpec {
    domains: GovernedDomain[];
    insights: { catalog: string; schema: string; publicTables: string[] };
    users: { dbt: string; analyst: string; check: string };
    /** Extra read-only users by domain name: they read the domain's catalog, never its PII. */
    readers?: Record<string, string[]>;
    /** The key of the `hash` masks: a generated secret that only Trino's configuration holds (letters and digits). */
    piiMaskKey: string;
}

const ALL_PRIVILEGES = ["DELETE", "GRANT_SELECT", "INSERT", "OWNERSHIP", "SELECT", "UPDATE"];

function anyOf(names: string[]): string {
    for (const name of names) {
        if (!/^[a-z_][a-z0-9_]*$/.test(name)) {
            throw new Error(`'${name}' is not a plain lower-case name and cannot be used in an access rule`);
        }
    }
    return names.length === 1 ? names[0] : `(${[...names].sort().join("|")})`;
}

type Rule = Record<string, unknown>;

/**
 * The SQL a masked column reads as. A keyed hash (HMAC-SHA256) keeps equal values equal, so joins
 * on it still work, and without the key no one can test guesses against it; a bigint keeps its
 * type as the hash's first 8 bytes.
 */
function maskExpression(column: PiiColumn, key: string): string {
    if (column.mask === "null") {
        return `CAST(NULL AS ${column.trinoType})`;
    }
    const hmac = (text: string) => `hmac_sha256(to_utf8(${text}), to_utf8('${key}'))`;
    if (/^varchar(\(\d+\))?$/.test(column.trinoType)) {
        // Trino takes a mask only of the column's exact type; 64 hex digits fit any VARCHAR the stack creates.
        return column.trinoType === "varchar" ? `to_hex(${hmac(column.name)})` : `CAST(to_hex(${hmac(column.name)}) AS ${column.trinoType})`;
    }
    if (column.trinoType === "bigint") {
        return `from_big_endian_64(substr(${hmac(`CAST(${column.name} AS varchar)`)}, 1, 8))`;
    }
    throw new Error(`PII column '${column.name}' is ${column.trinoType}, which cannot be hashed; mask it with null or deny`);
}

/** Column rules that deny or mask every PII column of a domain, one table rule per table that has any. */
function withoutPii(user: string, domain: GovernedDomain, key: string): Rule[] {
    const rules: Rule[] = Object.entries(domain.piiColumns)
        .filter(([, columns]) => columns.length > 0)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([table, columns]) => ({
            user,
            catalog: domain.catalog,
            table,
            privileges: ["SELECT"],
            columns: [...columns]
                .sort((a, b) => a.name.localeCompare(b.name))
                .map(column => (column.mask === "deny" ? { name: column.name, allow: false } : { name: column.name, mask: maskExpression(column, key) })),
        }));
    rules.push({ user, catalog: domain.catalog, privileges: ["SELECT"] });
    return rules;
}

function sortKeys(value: unknown): unknown {
    if (Array.isArray(value)) {
        return value.map(sortKeys);
    }
    if (value && typeof value === "object") {
        return Object.fromEntries(
            Object.keys(value as object)
                .sort()
                .map(k => [k, sortKeys((value as Record<string, unknown>)[k])]),
        );
    }
    return value;
}

/** The rules file's text: JSON with sorted keys, rules in the order Trino must try them. */
export function renderAccessRules(spec: AccessSpec): string {
    if (spec.domains.length === 0) {
        throw new Error("access rules need at least one domain");
    }
    const readers = Object.entries(spec.readers ?? {}).map(([name, users]) => {
        const domain = spec.domains.find(d => d.name === name);
        if (!domain) {
            throw new Error(`access rule for unknown domain '${name}'; declared domains: ${spec.domains.map(d => d.name).join(", ")}`);
        }
        return { domain, user: anyOf(users) };
    });
    const { dbt, analyst, check } = spec.users;
    if (!/^[A-Za-z0-9_-]{16,}$/.test(spec.piiMaskKey)) {
        throw new Error("the PII mask key must be at least 16 letters, digits, - or _, which a SQL string literal holds as they are");
    }
    const key = spec.piiMaskKey;
    const domainCatalogs = anyOf(spec.domains.map(d => d.catalog));
    const insights = spec.insights;
    anyOf([insights.schema]);
    // The published schema and every run schema beside it; run names are hex digests.
    const insightsSchemas = `${insights.schema}(__[0-9a-f]+)?`;
    // dbt's user also keeps the ledger of what the published run's sources held (lib/incremental.ts); the check never reads it.
    const dbtSchemas = `${insights.schema}(__([0-9a-f]+|ledger))?`;

    const catalogs: Rule[] = [
        ...spec.domains.map(d => ({ user: anyOf([d.owner]), catalog: d.catalog, allow: "all" })),
        { user: anyOf([dbt]), catalog: domainCatalogs, allow: "read-only" },
        { user: anyOf([dbt]), catalog: insights.catalog, allow: "all" },
        { user: anyOf([dbt]), catalog: "system", allow: "read-only" },
        // The check also proves which nodes run, and which release, before anything else uses Trino.
        { user: anyOf([check]), catalog: anyOf([...spec.domains.map(d => d.catalog), insights.catalog, "system"]), allow: "read-only" },
        { user: anyOf([analyst]), catalog: insights.catalog, allow: "read-only" },
        ...readers.map(r => ({ user: r.user, catalog: r.domain.catalog, allow: "read-only" })),
    ];
    const schemas: Rule[] = [
        ...spec.domains.map(d => ({ user: anyOf([d.owner]), catalog: d.catalog, owner: true })),
        { user: anyOf([dbt]), catalog: insights.catalog, schema: dbtSchemas, owner: true },
    ];
    const tables: Rule[] = [
        ...spec.domains.map(d => ({ user: anyOf([d.owner]), catalog: d.catalog, privileges: ALL_PRIVILEGES })),
        ...spec.domains.flatMap(d => withoutPii(dbt, d, key)),
        { user: anyOf([dbt]), catalog: insights.catalog, schema: dbtSchemas, privileges: ALL_PRIVILEGES },
        { user: anyOf([dbt]), catalog: "system", privileges: ["SELECT"] },
        ...spec.domains.flatMap(d => withoutPii(check, d, key)),
        { user: anyOf([check]), catalog: insights.catalog, schema: insightsSchemas, privileges: ["SELECT"] },
        { user: anyOf([check]), catalog: "system", schema: "runtime", table: "nodes", privileges: ["SELECT"] },
        { user: anyOf([analyst]), catalog: insights.catalog, schema: insights.schema, table: anyOf(insights.publicTables), privileges: ["SELECT"] },
        ...readers.flatMap(r => withoutPii(r.user, r.domain, key)),
    ];
    // Trino always lets users view and kill their own queries; this rule grants running them and nothing of others'.
    const queries: Rule[] = [{ allow: ["execute"] }];
    return `${JSON.stringify(sortKeys({ catalogs, queries, schemas, tables }), null, 2)}\n`;
}
