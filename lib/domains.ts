import * as crypto from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";

/*
 * The mesh's domains, one declaration per file under `domains/`. Everything the stack builds for a
 * domain (its server, users, table, rows, Trino catalog, access rules, dbt variables, the check's
 * inputs) is derived from its declaration, and its tables' columns and types are the contract that
 * the dbt source contracts must match.
 */

export const ENGINES = ["postgresql", "mariadb"] as const;
/** Where a domain's data lives. Each engine is a separate server process owned by its domain. */
export type Engine = (typeof ENGINES)[number];

export const COLUMN_TYPES = ["integer", "text", "date"] as const;
/** The column types domain tables use; money is integer cents, never a float. */
export type ColumnType = (typeof COLUMN_TYPES)[number];

/** The type Trino reports for a column of each declared type, on the tables the stack creates. */
export const TRINO_COLUMN_TYPES: Record<ColumnType, string> = { integer: "bigint", text: "varchar", date: "date" };

/**
 * What a PII column reads as to everyone but its domain's owner: `deny` refuses any query that
 * reads it (a `select *` included), `null` reads as NULL, `hash` as a keyed hash of the value, so
 * that joins on it still work and the value is never shown.
 */
export const PII_MASKS = ["deny", "null", "hash"] as const;
export type PiiMask = (typeof PII_MASKS)[number];

export interface ColumnSpec {
    name: string;
    type: ColumnType;
}

export interface TableSpec {
    /** The table's name, in the domain's database and in Trino. */
    name: string;
    /** The CSV file in a data folder that holds this table's rows (`<table>.csv`). */
    file: string;
    /** Columns in CSV header order. */
    columns: ColumnSpec[];
    /** The column whose values identify a row. */
    primaryKey: string;
    /** Columns that are personal data: only the domain's owner reads their values. */
    piiColumns: string[];
    /** What everyone but the owner gets of each PII column; a column not listed is denied. */
    piiMasks?: Record<string, PiiMask>;
}

export const TLS_MODES = ["require", "verify-full"] as const;
/**
 * How a connection to a domain's database is encrypted: `require` encrypts without checking who
 * answers; `verify-full` also checks that the server's certificate chains to the declared CA and
 * names the host connected to.
 */
export type TlsMode = (typeof TLS_MODES)[number];

export interface DatabaseTls {
    mode: TlsMode;
    /** With verify-full: the PEM certificates of the CAs the server's certificate must chain to. */
    caPem?: string;
    /** The file caPem was read from, to name it in errors. */
    caFile?: string;
}

/** A domain's TLS as its clients are told it (the `domains` output): the mode and the CA's PEM; null in clear. */
export type ClientTls = { mode: TlsMode; caCert: string | null } | null;

export function clientTls(tls: DatabaseTls | undefined): ClientTls {
    return tls ? { mode: tls.mode, caCert: tls.caPem ?? null } : null;
}

/** An existing database the stack federates but neither creates nor loads. */
export interface ExternalDatabase {
    host: string;
    port: number;
    database: string;
    /** The read-only user Trino connects as. */
    user: string;
    /** The `datamesh:` configuration key that holds that user's password, as a secret, when the team created the user. */
    passwordKey?: string;
    /** An administrator of the database, when the stack is to create the read-only user itself. */
    admin?: { user: string; passwordKey: string };
    /** How every connection to it (the probe's, the reader's creation, Trino's) is encrypted; in clear when unset. */
    tls?: DatabaseTls;
    /** A container network of its own that the server is on: Trino's containers join it to reach host, a name only that network resolves. */
    network?: string;
    /** Where the deploying machine reaches the server when it cannot at host and port: a port published on this machine. */
    published?: { host: string; port: number };
}

export interface DomainSpec {
    /** Domain name; also its database, its Trino catalog and the prefix of its users. */
    name: string;
    description: string;
    /** The Trino user who owns the domain: the only one who reads its PII columns. */
    owner: string;
    engine: Engine;
    /** Which Trino schema exposes the tables: PostgreSQL's schema, or MariaDB's database. */
    trinoSchema: string;
    tables: TableSpec[];
    /** Trino users, besides the stack's own, who may read the domain's tables (never its PII). */
    readers: string[];
    /** Set when the domain is an existing database; otherwise the stack creates and loads it. */
    external?: ExternalDatabase;
    /** The declaration's file (or, for a domain stack's product, the stack), to name it in errors. */
    file: string;
    /** Where the description came from; nothing but the mesh's `mesh` output reads it. */
    source: DomainSource;
}

/** Where a domain's description was read: a file under `domains/` (its team's database or one the stack runs), or a domain stack's `dataProduct`. */
export type DomainSource = "declaration" | "external" | `stack:${string}`;

/** The Trino users the stack itself runs as; no domain may be owned or read by one of them by declaration. */
export const STACK_USERS = ["analyst", "dbt", "datamesh_check"] as const;

/** Where the project's domain declarations live. */
export const DOMAINS_DIR = path.join(__dirname, "..", "domains");

export const identifier = z.string().regex(/^[a-z][a-z0-9_]*$/, "must be a lower-case SQL identifier (a-z, 0-9, _), starting with a letter");
/** A domain's owner or reader as Trino knows it. */
export const trinoUser = z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, "must be a lower-case Trino user name (a-z, 0-9, _)")
    .refine(user => !(STACK_USERS as readonly string[]).includes(user), { message: `must not be one of the stack's own Trino users (${STACK_USERS.join(", ")})` });

const columnSchema = z.strictObject({
    name: identifier,
    type: z.enum(COLUMN_TYPES, { message: `must be one of ${COLUMN_TYPES.join(", ")}` }),
    description: z.string().optional(),
});

/** A table as a declaration writes it, and as a domain stack's `dataProduct` publishes it. */
export const tableSchema = z
    .strictObject({
        name: identifier,
        description: z.string().optional(),
        primaryKey: identifier.optional(),
        // A list denies every column in it; a map names each column's mask (YAML reads a bare null as null).
        pii: z
            .union([
                z.array(identifier),
                z.record(z.string(), z.unknown()).transform(masks => Object.fromEntries(Object.entries(masks).map(([column, mask]) => [column, mask === null ? "null" : mask]))),
            ])
            .default([]),
        columns: z.array(columnSchema).min(1, "lists no column"),
    })
    .superRefine((table, ctx) => {
        const names = table.columns.map(c => c.name);
        names.forEach((name, index) => {
            if (names.indexOf(name) !== index) {
                ctx.addIssue({ code: "custom", path: ["columns", index, "name"], message: `duplicate column '${name}'` });
            }
        });
        if (table.primaryKey === undefined) {
            ctx.addIssue({ code: "custom", path: ["primaryKey"], message: `table '${table.name}' has no primary key: name one of its columns (${names.join(", ")})` });
        } else if (!names.includes(table.primaryKey)) {
            ctx.addIssue({ code: "custom", path: ["primaryKey"], message: `'${table.primaryKey}' is not a column of table '${table.name}' (${names.join(", ")})` });
        }
        const masks: [string, unknown][] = Array.isArray(table.pii) ? table.pii.map(column => [column, "deny"]) : Object.entries(table.pii);
        masks.forEach(([column, mask], index) => {
            const at = Array.isArray(table.pii) ? ["pii", index] : ["pii", column];
            if (!(PII_MASKS as readonly unknown[]).includes(mask)) {
                ctx.addIssue({ code: "custom", path: at, message: `must be one of ${PII_MASKS.join(", ")}` });
            }
            const declared = table.columns.find(c => c.name === column);
            if (!declared) {
                ctx.addIssue({ code: "custom", path: at, message: `PII column '${column}' is not a column of table '${table.name}' (${names.join(", ")})` });
            } else if (mask === "hash" && declared.type === "date") {
                ctx.addIssue({ code: "custom", path: at, message: `a date column cannot be hashed: mask '${column}' with null or deny` });
            }
            if (column === table.primaryKey) {
                ctx.addIssue({ code: "custom", path: at, message: `the primary key '${column}' cannot be PII: dbt joins on it` });
            }
        });
    });

const configKey = z.string().regex(/^[a-z][A-Za-z0-9]*$/, "must be a configuration key name in camelCase, such as shippingPassword");

// It goes into Trino's JDBC URL: anything but a host name or an IP address could smuggle in driver parameters.
export const hostName = z
    .string()
    .min(1, "must not be empty")
    .refine(host => net.isIP(host) !== 0 || /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(host), {
        message: "must be a host name or an IP address",
    });

const externalSchema = z.strictObject({
    host: hostName,
    port: z.number({ message: "must be a port number" }).int().min(1).max(65535),
    database: identifier,
    user: z.string().min(1, "must not be empty"),
    passwordKey: configKey.optional(),
    admin: z.strictObject({ user: z.string().min(1, "must not be empty"), passwordKey: configKey }).optional(),
    tls: z
        .strictObject({
            mode: z.enum(TLS_MODES, { message: `must be one of ${TLS_MODES.join(", ")}` }),
            ca: z.string().min(1, "must not be empty").optional(),
        })
        .optional(),
});

const declarationSchema = z.strictObject({
    name: identifier,
    description: z.string().min(1, "must not be empty"),
    owner: trinoUser,
    engine: z.enum(ENGINES, { message: `must be one of ${ENGINES.join(", ")}` }),
    schema: identifier.optional(),
    readers: z.array(trinoUser).default([]),
    rows: z.discriminatedUnion("from", [z.strictObject({ from: z.literal("data") }), z.strictObject({ from: z.literal("external"), ...externalSchema.shape })], {
        message: "must be {from: data} (the stack's data set) or {from: external, host, port, database, user, and passwordKey or admin}",
    }),
    tables: z.array(tableSchema).min(1, "lists no table"),
});

/** A declaration that cannot be used, named by its file and the field at fault. */
export class DeclarationError extends Error {
    constructor(readonly file: string, detail: string) {
        super(`${file}: ${detail}`);
        this.name = "DeclarationError";
    }
}

export function fieldPath(parts: PropertyKey[]): string {
    return parts.map((part, index) => (typeof part === "number" ? `[${part}]` : `${index > 0 ? "." : ""}${String(part)}`)).join("") || "(the file)";
}

/** One declaration file's domain, validated on its own. */
export function parseDomainDeclaration(text: string, file: string): DomainSpec {
    let document: unknown;
    try {
        document = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
    } catch (e) {
        const line = e instanceof YAMLParseError && e.linePos ? `line ${e.linePos[0].line}: ` : "";
        throw new DeclarationError(file, `${line}not valid YAML: ${(e as Error).message.split("\n")[0]}`);
    }
    const parsed = declarationSchema.safeParse(document);
    if (!parsed.success) {
        throw new DeclarationError(file, parsed.error.issues.map(issue => `${fieldPath(issue.path)}: ${issue.message}`).join("; "));
    }
    const declaration = parsed.data;
    const expectedName = path.basename(file).replace(/\.ya?ml$/, "");
    if (declaration.name !== expectedName) {
        throw new DeclarationError(file, `name: '${declaration.name}' must match the file's name ('${expectedName}')`);
    }
    if (declaration.readers.includes(declaration.owner)) {
        throw new DeclarationError(file, `readers: '${declaration.owner}' is the domain's owner; an owner is not also a reader`);
    }
    const external = declaration.rows.from === "external" ? (({ from: _, ...database }) => database)(declaration.rows) : undefined;
    if (external && Boolean(external.passwordKey) === Boolean(external.admin)) {
        throw new DeclarationError(
            file,
            "rows: give passwordKey (the key of the password of a read-only user your team created) or admin (user and passwordKey of an administrator, for the stack to create the read-only user), not both and not neither",
        );
    }
    const maskedExternally = external ? declaration.tables.flatMap((table, index) => (Array.isArray(table.pii) ? [] : Object.entries(table.pii).filter(([, mask]) => mask !== "deny").map(([column]) => `tables[${index}].pii.${column}`))) : [];
    if (maskedExternally.length > 0) {
        // Trino takes a mask only of the column's exact type, which the stack knows of the tables it creates, not of a team's own.
        throw new DeclarationError(file, `${maskedExternally[0]}: an external domain's PII can only be denied (deny, or a list); null and hash need a table the stack creates`);
    }
    if (external?.admin && !/^[a-z_][a-z0-9_]*$/.test(external.user)) {
        throw new DeclarationError(file, `rows.user: '${external.user}' must be a lower-case SQL name (a-z, 0-9, _) for the stack to create it`);
    }
    const tls = external?.tls ? readTls(external.tls, file) : undefined;
    if (tls?.mode === "verify-full" && declaration.engine === "mariadb" && net.isIP(external!.host) !== 0) {
        // mysql2 checks the certificate against the host name it sends as SNI, and sends none for an address: it would check 'localhost'.
        throw new DeclarationError(
            file,
            `rows.host: '${external!.host}' is an IP address, and the stack's MariaDB client (mysql2) can check a certificate's name only against a host name: give the DNS name the server's certificate names, or mode require`,
        );
    }
    const trinoSchema = declaration.schema ?? (declaration.engine === "postgresql" ? "public" : (external?.database ?? declaration.name));
    if (declaration.engine === "mariadb" && trinoSchema !== (external?.database ?? declaration.name)) {
        throw new DeclarationError(file, `schema: a MariaDB domain's tables are in its database '${external?.database ?? declaration.name}', so the schema cannot be '${trinoSchema}'`);
    }
    return {
        name: declaration.name,
        description: declaration.description,
        owner: declaration.owner,
        engine: declaration.engine,
        trinoSchema,
        tables: declaration.tables.map(tableSpecOf),
        readers: declaration.readers,
        ...(external ? { external: { ...external, ...(tls ? { tls } : {}) } } : {}),
        file,
        source: external ? "external" : "declaration",
    };
}

/**
 * An external database's TLS as declared: with verify-full, the CA file (a path relative to the
 * declaration) read and checked to hold certificates. A CA certificate is public, so it lives in a
 * file beside the declaration, reviewed with it, rather than in a secret.
 */
function readTls(declared: { mode: TlsMode; ca?: string }, file: string): DatabaseTls {
    if (declared.mode === "require") {
        if (declared.ca !== undefined) {
            throw new DeclarationError(file, "rows.tls.ca: mode require does not check the server's certificate, so a CA would be ignored; use mode verify-full to check it against the CA");
        }
        return { mode: "require" };
    }
    if (declared.ca === undefined) {
        throw new DeclarationError(file, "rows.tls.ca: mode verify-full checks the server's certificate against a CA: name the CA's PEM file, relative to this file");
    }
    const caFile = path.resolve(path.dirname(file), declared.ca);
    let caPem: string;
    try {
        caPem = fs.readFileSync(caFile, "utf8");
    } catch (e) {
        throw new DeclarationError(file, `rows.tls.ca: cannot read the CA file ${caFile}: ${(e as Error).message}`);
    }
    const certificates = caPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (certificates.length === 0) {
        throw new DeclarationError(file, `rows.tls.ca: ${caFile} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
    }
    certificates.forEach((certificate, index) => {
        try {
            new crypto.X509Certificate(certificate);
        } catch (e) {
            throw new DeclarationError(file, `rows.tls.ca: certificate ${index + 1} in ${caFile} does not parse: ${(e as Error).message}`);
        }
    });
    return { mode: "verify-full", caPem: `${certificates.join("\n")}\n`, caFile };
}

/** A validated table declaration as the rest of the stack takes it. */
export function tableSpecOf(table: z.infer<typeof tableSchema>): TableSpec {
    return {
        name: table.name,
        file: `${table.name}.csv`,
        columns: table.columns.map(({ name, type }) => ({ name, type })),
        primaryKey: table.primaryKey!,
        piiColumns: Array.isArray(table.pii) ? table.pii : Object.keys(table.pii),
        ...(Array.isArray(table.pii) ? {} : { piiMasks: table.pii as Record<string, PiiMask> }),
    };
}

/** Checks what no single declaration can: names, owners, readers and tables across the mesh. */
export function checkDomainsTogether(domains: DomainSpec[]): void {
    const seen = new Map<string, string>();
    const claim = (key: string, file: string, what: string) => {
        const first = seen.get(key);
        if (first !== undefined) {
            throw new DeclarationError(file, `${what} (already declared in ${first})`);
        }
        seen.set(key, file);
    };
    for (const domain of domains) {
        claim(`domain:${domain.name}`, domain.file, `name: duplicate domain name '${domain.name}'`);
        claim(`user:${domain.owner}`, domain.file, `owner: '${domain.owner}' already owns a domain`);
        // Every managed table is a file of the same name in a data folder, so table names are unique across the mesh.
        domain.tables.forEach((table, index) => claim(`table:${table.name}`, domain.file, `tables[${index}].name: duplicate table name '${table.name}'`));
    }
    const owners = new Map(domains.map(d => [d.owner, d]));
    for (const domain of domains) {
        domain.readers.forEach((reader, index) => {
            const owned = owners.get(reader);
            if (owned) {
                throw new DeclarationError(domain.file, `readers[${index}]: '${reader}' is the owner of domain '${owned.name}'; an owner is not also a reader`);
            }
        });
    }
}

/** Every declaration in a folder (`*.yaml`, `*.yml`), in file-name order, validated alone and together. */
export function loadDomainDeclarations(dir: string): DomainSpec[] {
    if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
        throw new Error(`domain declarations: '${dir}' does not exist or is not a folder`);
    }
    const files = fs
        .readdirSync(dir)
        .filter(name => /\.ya?ml$/.test(name))
        .sort();
    if (files.length === 0) {
        throw new Error(`domain declarations: '${dir}' holds no .yaml file`);
    }
    const domains = files.map(name => {
        const file = path.join(dir, name);
        return parseDomainDeclaration(fs.readFileSync(file, "utf8"), file);
    });
    checkDomainsTogether(domains);
    return domains;
}

/** The project's domains, from its `domains/` folder. */
export const DOMAINS: readonly DomainSpec[] = loadDomainDeclarations(DOMAINS_DIR);

export function domainByName(name: string): DomainSpec {
    const domain = DOMAINS.find(d => d.name === name);
    if (!domain) {
        throw new Error(`unknown domain '${name}'; declared domains: ${DOMAINS.map(d => d.name).join(", ")}`);
    }
    return domain;
}

/** A table of a domain, by name. */
export function tableOf(domain: DomainSpec, name: string): TableSpec {
    const table = domain.tables.find(t => t.name === name);
    if (!table) {
        throw new Error(`domain '${domain.name}' declares no table '${name}' (${domain.tables.map(t => t.name).join(", ")})`);
    }
    return table;
}
