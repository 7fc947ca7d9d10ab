import * as pulumi from "@pulumi/pulumi";
import * as crypto from "crypto";
import { z } from "zod";
import { ColumnType, DatabaseTls, DomainSpec, Engine, ENGINES, fieldPath, hostName, identifier, PiiMask, tableSchema, TableSpec, tableSpecOf, TLS_MODES, TlsMode, trinoUser } from "./domains";

/*
 * A domain stack publishes its domain as a data product, and the mesh federates it from there.
 * The product is what the mesh needs of the domain's declaration, with the endpoint Trino reaches
 * and the read-only user Trino connects as: no credential that can write ever leaves the domain's
 * stack. Read back, a product becomes the same DomainSpec as a file under domains/, so nothing
 * after the reading knows where a domain came from.
 */

/** The output a domain stack exports and a mesh stack reads. */
export const DATA_PRODUCT_OUTPUT = "dataProduct";

/** A table as a product publishes it: the declaration's form, every PII column with its mask. */
export interface PublishedTable {
    name: string;
    primaryKey: string;
    pii: Record<string, PiiMask>;
    columns: { name: string; type: ColumnType }[];
}

export interface DataProduct {
    name: string;
    description: string;
    engine: Engine;
    owner: string;
    readers: string[];
    /** Where Trino reaches the domain's server. */
    endpoint: { host: string; port: number };
    /** A domain stack on docker's: the network of its own its server is on, which the mesh's Trino containers join to reach `endpoint`. */
    network?: string;
    /** With `network`: where the deploying machine reaches the server, a port published on 127.0.0.1 (the team's loads, the mesh's sources probe). */
    published?: { host: string; port: number };
    /** How every client must connect: the TLS mode and, for verify-full, the CA certificate (PEM) the server's certificate chains to. */
    tls?: { mode: TlsMode; caCert?: string };
    database: string;
    /** PostgreSQL's schema, or MariaDB's database, that holds the tables. */
    schema: string;
    tables: PublishedTable[];
    /** The read-only user Trino connects as; the password is a secret. */
    reader: { user: string; password: string };
    /** A digest of `tables`: it changes exactly when the contract the dbt sources are held to does. */
    contractVersion: string;
}

/** A domain read from a domain stack, with its reader's password, which the declaration form has no place for. */
export interface StackDomain {
    domain: DomainSpec;
    readerPassword: string;
}

/** A domain stack the mesh cannot federate, named in the message. A RunError: Pulumi shows the message alone. */
export class DataProductError extends pulumi.RunError {
    constructor(readonly stack: string, detail: string) {
        super(`domain stack '${stack}': ${detail}`);
        this.name = "DataProductError";
    }
}

export function publishedTables(tables: readonly TableSpec[]): PublishedTable[] {
    return tables.map(table => ({
        name: table.name,
        primaryKey: table.primaryKey,
        pii: Object.fromEntries(table.piiColumns.map(column => [column, table.piiMasks?.[column] ?? "deny"])),
        columns: table.columns.map(({ name, type }) => ({ name, type })),
    }));
}

/** JSON with every object's keys sorted, so that the digest does not depend on the order a map was written in. */
function canonicalJson(value: unknown): string {
    if (Array.isArray(value)) {
        return `[${value.map(canonicalJson).join(",")}]`;
    }
    if (value && typeof value === "object") {
        const record = value as Record<string, unknown>;
        return `{${Object.keys(record)
            .sort()
            .map(key => `${JSON.stringify(key)}:${canonicalJson(record[key])}`)
            .join(",")}}`;
    }
    return JSON.stringify(value);
}

export function contractVersion(tables: PublishedTable[]): string {
    return `sha256:${crypto.createHash("sha256").update(canonicalJson(tables)).digest("hex")}`;
}

/**
 * The product a domain stack exports for its domain, once its server and reader exist. A plain
 * object of outputs rather than one output, so that only the password is stored as a secret and
 * `pulumi stack output` shows the rest.
 */
export function dataProductOf(
    domain: DomainSpec,
    deployed: {
        endpoint: pulumi.Output<{ host: string; port: number }>;
        /** Set where the server is on a container network of its own, which the mesh's Trino must join. */
        network?: pulumi.Output<string>;
        /** Where the deploying machine reaches the server. */
        host: pulumi.Output<string>;
        port: pulumi.Output<number>;
        database: pulumi.Output<string>;
        readerUser: pulumi.Output<string>;
        readerPassword: pulumi.Output<string>;
        /** Set where the server serves TLS alone. */
        databaseTls: pulumi.Output<DatabaseTls | undefined>;
    },
): Omit<{ [K in keyof DataProduct]: pulumi.Input<DataProduct[K]> }, "reader"> & { reader: { user: pulumi.Input<string>; password: pulumi.Input<string> } } {
    const tables = publishedTables(domain.tables);
    return {
        name: domain.name,
        description: domain.description,
        engine: domain.engine,
        owner: domain.owner,
        readers: domain.readers,
        endpoint: deployed.endpoint,
        // Only where there is a network: elsewhere Trino and the deploying machine share the endpoint (or a port-forward derived from it).
        ...(deployed.network ? { network: deployed.network, published: pulumi.all([deployed.host, deployed.port]).apply(([host, port]) => ({ host, port })) } : {}),
        database: deployed.database,
        schema: domain.trinoSchema,
        tables,
        tls: deployed.databaseTls.apply(tls => (tls ? { mode: tls.mode, ...(tls.caPem ? { caCert: tls.caPem } : {}) } : undefined)),
        reader: { user: deployed.readerUser, password: pulumi.secret(deployed.readerPassword) },
        contractVersion: contractVersion(tables),
    };
}

const port = z.number({ message: "must be a port number" }).int().min(1).max(65535);

const productSchema = z.object({
    name: identifier,
    description: z.string().min(1, "must not be empty"),
    engine: z.enum(ENGINES, { message: `must be one of ${ENGINES.join(", ")}` }),
    owner: trinoUser,
    readers: z.array(trinoUser),
    endpoint: z.strictObject({ host: hostName, port }),
    // It goes into the mesh's Trino containers' network list: a Docker network's name, nothing else.
    network: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "must be a Docker network's name").optional(),
    published: z.strictObject({ host: hostName, port }).optional(),
    tls: z
        .strictObject({
            mode: z.enum(TLS_MODES, { message: `must be one of ${TLS_MODES.join(", ")}` }),
            caCert: z
                .string()
                .refine(pem => {
                    try {
                        new crypto.X509Certificate(pem);
                        return true;
                    } catch {
                        return false;
                    }
                }, "must be a PEM certificate")
                .optional(),
        })
        .refine(tls => tls.mode !== "verify-full" || tls.caCert !== undefined, { message: "verify-full checks the server against a CA: give its certificate", path: ["caCert"] })
        .optional(),
    database: identifier,
    schema: identifier,
    tables: z.array(tableSchema).min(1, "lists no table"),
    reader: z.strictObject({ user: z.string().regex(/^[a-z_][a-z0-9_]*$/, "must be a lower-case SQL name"), password: z.string().min(1, "must not be empty") }),
    contractVersion: z.string().min(1, "must not be empty"),
}).refine(product => (product.network === undefined) === (product.published === undefined), {
    message: "network and published go together: a server on a network of its own is reached by Trino on that network and by the deploying machine at its published port",
    path: ["published"],
});

/** A domain stack's product as the domain the mesh federates; anything else is refused naming the stack and the field. */
export function domainOfProduct(stack: string, value: unknown): StackDomain {
    const password = (value as { reader?: { password?: unknown } } | undefined)?.reader?.password;
    if (password !== null && typeof password === "object") {
        // What the engine leaves of a secret it could not decrypt ("eliding undecryptable secrets").
        throw new DataProductError(
            stack,
            `${DATA_PRODUCT_OUTPUT}.reader.password cannot be decrypted with the secrets provider at hand: give this deployment the domain stack's passphrase, or rights on its KMS key, or read access to it on Pulumi Cloud`,
        );
    }
    const parsed = productSchema.safeParse(value);
    if (!parsed.success) {
        throw new DataProductError(stack, `${DATA_PRODUCT_OUTPUT} is not a data product: ${parsed.error.issues.map(issue => `${DATA_PRODUCT_OUTPUT}.${fieldPath(issue.path)}: ${issue.message}`).join("; ")}`);
    }
    const product = parsed.data;
    const tables = product.tables.map(tableSpecOf);
    const published = contractVersion(publishedTables(tables));
    if (product.contractVersion !== published) {
        throw new DataProductError(stack, `${DATA_PRODUCT_OUTPUT}.contractVersion: '${product.contractVersion}' is not the digest of its tables (${published})`);
    }
    if (product.engine === "mariadb" && product.schema !== product.database) {
        throw new DataProductError(stack, `${DATA_PRODUCT_OUTPUT}.schema: a MariaDB domain's tables are in its database '${product.database}', not '${product.schema}'`);
    }
    if (product.readers.includes(product.owner)) {
        throw new DataProductError(stack, `${DATA_PRODUCT_OUTPUT}.readers: '${product.owner}' is the domain's owner; an owner is not also a reader`);
    }
    return {
        domain: {
            name: product.name,
            description: product.description,
            owner: product.owner,
            engine: product.engine,
            trinoSchema: product.schema,
            tables,
            readers: product.readers,
            external: {
                host: product.endpoint.host,
                port: product.endpoint.port,
                database: product.database,
                user: product.reader.user,
                ...(product.network ? { network: product.network, published: product.published } : {}),
                ...(product.tls
                    ? { tls: { mode: product.tls.mode, ...(product.tls.caCert ? { caPem: product.tls.caCert, caFile: `${DATA_PRODUCT_OUTPUT}.tls.caCert of stack ${stack}` } : {}) } }
                    : {}),
            },
            file: `stack ${stack}`,
            source: `stack:${stack}`,
        },
        readerPassword: product.reader.password,
    };
}

/**
 * Each named stack's product, read through a StackReference before the mesh declares anything, so
 * that the rest of the program works on plain values and a stack that cannot be read fails the
 * `up` before any resource changes.
 */
export async function readDomainStacks(stacks: readonly string[]): Promise<StackDomain[]> {
    return Promise.all(
        stacks.map(async stack => {
            let details: pulumi.StackReferenceOutputDetails;
            try {
                details = await new pulumi.StackReference(stack).getOutputDetails(DATA_PRODUCT_OUTPUT);
            } catch (e) {
                throw new DataProductError(stack, `cannot be read (is the name organization/project/stack, in this backend, and can this stack's secrets provider decrypt it?): ${(e as Error).message}`);
            }
            const product = details.value ?? details.secretValue;
            if (product === undefined) {
                throw new DataProductError(stack, `exports no ${DATA_PRODUCT_OUTPUT}: is it a domain stack (datamesh:role=domain), deployed and not destroyed?`);
            }
            return domainOfProduct(stack, product);
        }),
    );
}
