import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { readVersions } from "../../lib/versions";
import { queryTrino } from "../../lib/trinoQuery";
import { ServerOutputs, startServer, stopAndRemove } from "../../platforms/local/databaseServer";
import { findLocalToolchain } from "../../platforms/local/toolchain";
import { certificateAuthority, issueCertificate } from "../selfSigned";
import { CACHE_DIR, createMesh, NOT_COPIED, freePortRange, isListening, MeshUnderTest, piiHash, piiMaskKey, queryAsText, REPO_DIR } from "./harness";
import { serveTlsOnly } from "./tlsServers";

// Deployments take minutes; every step here waits for a real `pulumi up`.
jest.setTimeout(900_000);

/*
 * A domain joins the mesh by declaration alone: a user adds a YAML file under domains/, its rows
 * under data/ and its models under dbt/, and touches no stack code. Two domains are added to a copy
 * of the project and deployed for real: `shipping`, which the stack runs and loads, and `loyalty`,
 * an existing PostgreSQL of its team's (started here, outside the stack), which the stack only reads
 * and must leave exactly as it found it, through destroy.
 */


/** dbt's own output, in a checkout where someone ran dbt by hand (gitignored): not the project either. */
const DBT_OUTPUT = ["dbt/target", "dbt/logs", "dbt/dbt_packages"];
/** The folders a new domain's files belong in; everything else is the stack's code. */
const DECLARATION_FOLDERS = ["domains/", "dbt/", "data/"];

/** Every file of a project by path relative to it, with a digest of its content (a symlink: of its target). */
function projectFiles(root: string, skipTopLevel: ReadonlySet<string>): Map<string, string> {
    const files = new Map<string, string>();
    const walk = (dir: string) => {
        for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
            const full = path.join(dir, entry.name);
            const relative = path.relative(root, full);
            if ((dir === root && skipTopLevel.has(entry.name)) || DBT_OUTPUT.includes(relative)) {
                continue;
            }
            if (entry.isDirectory()) {
                walk(full);
            } else if (entry.isSymbolicLink()) {
                files.set(relative, `symlink:${fs.readlinkSync(full)}`);
            } else if (entry.isFile()) {
                files.set(relative, crypto.createHash("sha256").update(fs.readFileSync(full)).digest("hex"));
            }
        }
    };
    walk(root);
    return files;
}

function writeProjectFile(mesh: MeshUnderTest, relative: string, text: string): void {
    const file = path.join(mesh.projectDir, relative);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, text);
}

/** A PostgreSQL of this machine's toolchain, on a port of its own, with a random administrator password. */
async function startExternalPostgres(component: string): Promise<ServerOutputs> {
    const toolchain = findLocalToolchain({ cacheDir: CACHE_DIR, trinoVersion: readVersions().TRINO_VERSION, projectDir: REPO_DIR });
    return startServer({
        component,
        engine: "postgresql",
        port: await freePortRange(1),
        workDir: fs.mkdtempSync(path.join(os.tmpdir(), "datamesh-it-external-pg-")),
        programs: toolchain.postgres,
        adminPassword: crypto.randomBytes(18).toString("hex"),
    });
}

/** A session with the team's PostgreSQL; once it accepts TLS only, the login carries the team's CA. */
async function withPostgres<T>(login: { port: number; user: string; password: string; database: string; ssl?: { ca: string } }, use: (client: any) => Promise<T>): Promise<T> {
    const pg = require("pg");
    const client = new pg.Client({ host: "127.0.0.1", ...login });
    await client.connect();
    try {
        return await use(client);
    } finally {
        await client.end();
    }
}

/** Every query the team's administrator would use to notice a change made by someone else. */
async function externalDatabaseAsItsTeamSeesIt(server: ServerOutputs, caPem: string) {
    const admin = { port: server.port, user: server.adminUser, password: server.adminPassword, ssl: { ca: caPem } };
    const cluster = await withPostgres({ ...admin, database: "postgres" }, async client => ({
        databases: (await client.query("SELECT datname, datacl::text AS acl FROM pg_database ORDER BY datname")).rows,
        // The stored password hash too: an ALTER ROLE ... PASSWORD by the stack would change it.
        roles: (await client.query("SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolpassword FROM pg_authid WHERE rolname NOT LIKE 'pg\\_%' ORDER BY rolname")).rows,
    }));
    const loyalty = await withPostgres({ ...admin, database: "loyalty" }, async client => ({
        schemas: (await client.query("SELECT nspname, nspacl::text AS acl FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY nspname")).rows,
        tables: (await client.query("SELECT table_schema, table_name, table_type FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2")).rows,
        columns: (await client.query("SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position")).rows,
        grants: (await client.query("SELECT grantee, table_name, privilege_type FROM information_schema.role_table_grants WHERE table_schema = 'public' ORDER BY 1, 2, 3")).rows,
        rows: (await client.query("SELECT customer_id, points FROM points ORDER BY customer_id")).rows,
    }));
    return { ...cluster, ...loyalty };
}

// The loyalty team's table: customers 3, 50, 53 and 26 have shipments; 7 has none; 54 has shipments but no account.
const LOYALTY_ROWS = [
    { customer_id: "3", points: "120" },
    { customer_id: "7", points: "999" },
    { customer_id: "26", points: "310" },
    { customer_id: "50", points: "45" },
    { customer_id: "53", points: "0" },
];

/** The loyalty team's database as it runs before the mesh knows it: a table, its rows, and a reader that may only select. */
async function setUpLoyaltyDatabase(server: ServerOutputs, readerPassword: string): Promise<void> {
    const admin = { port: server.port, user: server.adminUser, password: server.adminPassword };
    await withPostgres({ ...admin, database: "postgres" }, async client => {
        await client.query("CREATE DATABASE loyalty");
        await client.query(`CREATE ROLE loyalty_reader LOGIN PASSWORD '${readerPassword}'`);
    });
    await withPostgres({ ...admin, database: "loyalty" }, async client => {
        await client.query("REVOKE ALL ON DATABASE loyalty FROM PUBLIC");
        await client.query("GRANT CONNECT ON DATABASE loyalty TO loyalty_reader");
        await client.query("CREATE TABLE points (customer_id bigint PRIMARY KEY, points bigint NOT NULL)");
        for (const row of LOYALTY_ROWS) {
            await client.query("INSERT INTO points (customer_id, points) VALUES ($1, $2)", [row.customer_id, row.points]);
        }
        await client.query("GRANT USAGE ON SCHEMA public TO loyalty_reader");
        await client.query("GRANT SELECT ON points TO loyalty_reader");
    });
}

/** The type of every resource the stack holds, by logical name. */
async function resourceTypes(mesh: MeshUnderTest): Promise<Record<string, string>> {
    const deployment = await mesh.stack.exportStack();
    return Object.fromEntries((deployment.deployment.resources ?? []).map((r: { urn: string; type: string }) => [r.urn.split("::").pop()!, r.type]));
}

const SHIPPING_DECLARATION = `# The shipping domain: which orders left the warehouse, when and with whom.
name: shipping
description: Shipments of the shop's orders, kept by the shipping team in their own MariaDB.
owner: shipping_owner
engine: mariadb
rows:
  from: data
tables:
  - name: shipments
    description: One row per shipment.
    primaryKey: id
    # Everyone but the shipping team reads the recipient as a keyed hash: joins still work, names never show.
    pii: { recipient_name: hash }
    columns:
      - { name: id, type: integer, description: "Primary key of the shipment." }
      - { name: order_id, type: integer, description: "The order shipped (orders.id)." }
      - { name: shipped_date, type: date, description: "The date the parcel left." }
      - { name: carrier, type: text, description: "Who carries the parcel." }
      - { name: recipient_name, type: text, description: "Who the parcel is addressed to." }
`;

// Orders 2, 4, 6, 9 and 65 of data/jaffle_shop/orders.csv; 65 is unpaid. A quoted name with a comma, as a CSV may hold.
const SHIPMENTS_CSV = `id,order_id,shipped_date,carrier,recipient_name
1,2,2018-01-03,UPS,Kathleen Payne
2,4,2018-01-06,DHL,Billy Long
3,6,2018-01-09,UPS,Rose Morgan
4,9,2018-01-13,FedEx,"Bailey, Anne"
5,65,2018-03-10,DHL,Aaron Ruiz
`;

function loyaltyDeclaration(port: number): string {
    return `# The loyalty domain: points customers collect, in the loyalty team's own PostgreSQL. The stack
# only reads it, as the read-only user the team gave, over TLS: the server accepts nothing else,
# and its certificate is checked against the team's CA, in a file beside this one.
name: loyalty
description: Loyalty points per customer, in the loyalty team's existing PostgreSQL.
owner: loyalty_owner
engine: postgresql
rows:
  from: external
  host: 127.0.0.1
  port: ${port}
  database: loyalty
  user: loyalty_reader
  passwordKey: loyaltyPassword
  tls: { mode: verify-full, ca: certs/loyalty-ca.pem }
tables:
  - name: points
    description: One row per customer with a loyalty account.
    primaryKey: customer_id
    columns:
      - { name: customer_id, type: integer, description: "The customer (customers.id)." }
      - { name: points, type: integer, description: "Points collected." }
`;
}

const SHIPPING_SOURCES = `# The shipping domain's source. Its catalog and schema come from the vars the stack passes for
# every declared domain; dbt_project.yml has defaults for the jaffle domains only, so the defaults
# are here.
sources:
  - name: shipping
    description: The shipping domain (MariaDB), exposed by the Trino catalog \`shipping\`.
    database: "{{ var('shipping_catalog', 'shipping') }}"
    schema: "{{ var('shipping_schema', 'shipping') }}"
    meta:
      owner: shipping_owner
    tables:
      - name: shipments
        description: One row per shipment. \`recipient_name\` is PII and is never read into the insights.
        columns:
          - name: id
            data_type: bigint
            description: Primary key of the shipment.
          - name: order_id
            data_type: bigint
            description: The order shipped (orders.id in the orders domain).
          - name: shipped_date
            data_type: date
            description: The date the parcel left.
          - name: carrier
            data_type: varchar
            description: Who carries the parcel.
          - name: recipient_name
            data_type: varchar
            description: Who the parcel is addressed to (PII, not used by any model).
            meta:
              contains_pii: true
`;

const LOYALTY_SOURCES = `# The loyalty domain's source: an existing PostgreSQL the stack only reads.
sources:
  - name: loyalty
    description: The loyalty domain (the loyalty team's PostgreSQL), exposed by the Trino catalog \`loyalty\`.
    database: "{{ var('loyalty_catalog', 'loyalty') }}"
    schema: "{{ var('loyalty_schema', 'public') }}"
    meta:
      owner: loyalty_owner
    tables:
      - name: points
        description: One row per customer with a loyalty account.
        columns:
          - name: customer_id
            data_type: bigint
            description: The customer (customers.id in the customers domain).
          - name: points
            data_type: bigint
            description: Points collected.
`;

const STG_SHIPMENTS_SQL = `with

source as (

    -- recipient_name is PII that the domain masks with a keyed hash, so select * reads the hash
    select * from {{ source('shipping', 'shipments') }}

),

renamed as (

    select

        ----------  ids
        id as shipment_id,
        order_id,

        ---------- text
        carrier,
        recipient_name as recipient_hash,

        ---------- dates
        shipped_date

    from source

)

select * from renamed
`;

const STG_SHIPMENTS_YML = `models:
  - name: stg_shipments
    description: >
      Shipments from the shipping domain, one row per shipment. The recipient's name (PII)
      arrives as the domain's keyed hash, never in clear.
    config:
      group: shipping
      access: protected
    data_tests:
      - columns_not_null:
          arguments:
            column_names: [shipment_id, order_id, carrier, shipped_date]
    columns:
      - name: shipment_id
        description: Primary key of the shipment.
        data_tests:
          - unique
      - name: order_id
        description: The order shipped; an order of the orders domain.
        data_tests:
          - relationships:
              arguments:
                to: ref('stg_orders')
                field: order_id
      - name: carrier
        description: Who carries the parcel.
      - name: recipient_hash
        description: A keyed hash of the recipient's name, the same for the same name.
      - name: shipped_date
        description: The date the parcel left.
`;

const STG_LOYALTY_POINTS_SQL = `with

source as (

    select * from {{ source('loyalty', 'points') }}

),

renamed as (

    select

        ----------  ids
        customer_id,

        ---------- numerics
        points as loyalty_points

    from source

)

select * from renamed
`;

const STG_LOYALTY_POINTS_YML = `models:
  - name: stg_loyalty_points
    description: Loyalty points from the loyalty domain, one row per customer with an account.
    config:
      group: loyalty
      access: protected
    data_tests:
      - columns_not_null:
          arguments:
            column_names: [customer_id, loyalty_points]
    columns:
      - name: customer_id
        description: The customer; a customer of the customers domain.
        data_tests:
          - unique
          - relationships:
              arguments:
                to: ref('stg_customers')
                field: customer_id
      - name: loyalty_points
        description: Points collected.
`;

const FCT_SHIPMENTS_SQL = `with

shipments as (

    select * from {{ ref('stg_shipments') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

loyalty_points as (

    select * from {{ ref('stg_loyalty_points') }}

),

final as (

    select
        shipments.shipment_id,
        shipments.order_id,
        orders.customer_id,
        shipments.shipped_date,
        shipments.carrier,
        shipments.recipient_hash,
        orders.amount as order_amount,
        -- null when the customer has no loyalty account
        loyalty_points.loyalty_points

    from shipments

    left join orders
        on shipments.order_id = orders.order_id

    left join loyalty_points
        on orders.customer_id = loyalty_points.customer_id

)

select * from final
`;

const FCT_SHIPMENTS_YML = `models:
  - name: fct_shipments
    description: One row per shipment with its order's customer and amount, and the customer's loyalty points.
    config:
      group: insights
      access: public
      contract:
        enforced: true
      meta:
        audit:
          query: audits/fct_shipments.sql
          key: [shipment_id]
          money: [order_amount]
    data_tests:
      - columns_not_null:
          arguments:
            column_names: [shipment_id, order_id, customer_id, shipped_date, carrier, order_amount]
    columns:
      - name: shipment_id
        data_type: bigint
        description: Primary key of the shipment.
        data_tests:
          - unique
      - name: order_id
        data_type: bigint
        description: The order shipped.
      - name: customer_id
        data_type: bigint
        description: The customer who placed the order.
      - name: shipped_date
        data_type: date
        description: The date the parcel left.
      - name: carrier
        data_type: varchar
        description: Who carries the parcel.
      - name: recipient_hash
        data_type: varchar
        description: A keyed hash of the recipient's name.
      - name: order_amount
        data_type: decimal(18, 2)
        description: Total amount paid for the order, in dollars; 0.00 when unpaid.
      - name: loyalty_points
        data_type: bigint
        description: The customer's loyalty points; null without a loyalty account.
`;

// The mart's audit: the same rows from the domain tables alone, written apart from the models.
const FCT_SHIPMENTS_AUDIT = `-- The audit of fct_shipments: each shipment with its order's customer and amount, and the
-- customer's loyalty points, from the domain tables alone. Payments are integer cents.
with

paid as (
    select order_id, sum(amount) as cents
    from payments.public.payments
    group by order_id
)

select
    s.id as shipment_id,
    s.order_id,
    o.user_id as customer_id,
    s.shipped_date,
    s.carrier,
    s.recipient_name as recipient_hash,
    cast(coalesce(paid.cents, 0) as decimal(38, 2)) / 100 as order_amount,
    l.points as loyalty_points
from shipping.shipping.shipments s
left join orders.orders.orders o on o.id = s.order_id
left join paid on paid.order_id = s.order_id
left join loyalty.public.points l on l.customer_id = o.user_id
`;

const NEW_GROUPS = `  - name: shipping
    owner:
      name: shipping_owner
      email: shipping_owner@datamesh.local
  - name: loyalty
    owner:
      name: loyalty_owner
      email: loyalty_owner@datamesh.local
`;

/** What a user adds to the project for the two domains, by path; _groups.yml is changed, not added. */
function declarationFiles(loyaltyPort: number, loyaltyCaPem: string): Record<string, string> {
    return {
        "domains/shipping.yaml": SHIPPING_DECLARATION,
        "domains/loyalty.yaml": loyaltyDeclaration(loyaltyPort),
        "domains/certs/loyalty-ca.pem": loyaltyCaPem,
        "data/jaffle_shop/shipments.csv": SHIPMENTS_CSV,
        "dbt/models/staging/_shipping__sources.yml": SHIPPING_SOURCES,
        "dbt/models/staging/_loyalty__sources.yml": LOYALTY_SOURCES,
        "dbt/models/staging/stg_shipments.sql": STG_SHIPMENTS_SQL,
        "dbt/models/staging/stg_shipments.yml": STG_SHIPMENTS_YML,
        "dbt/models/staging/stg_loyalty_points.sql": STG_LOYALTY_POINTS_SQL,
        "dbt/models/staging/stg_loyalty_points.yml": STG_LOYALTY_POINTS_YML,
        "dbt/models/marts/fct_shipments.sql": FCT_SHIPMENTS_SQL,
        "dbt/models/marts/fct_shipments.yml": FCT_SHIPMENTS_YML,
        "dbt/audits/fct_shipments.sql": FCT_SHIPMENTS_AUDIT,
    };
}

/*
 * fct_shipments by hand: the shipments above, each order's customer and amount from
 * data/jaffle_shop/expected/fct_orders.csv (2: customer 3, 20.00; 4: 50, 25.00; 6: 54, 6.00;
 * 9: 53, 23.00; 65: 26, 0.00), and the points from LOYALTY_ROWS (customer 54 has none).
 */
const RECIPIENTS = ["Kathleen Payne", "Billy Long", "Rose Morgan", "Bailey, Anne", "Aaron Ruiz"];

const recipientHash = piiHash;

function expectedFctShipments(maskKey: string) {
    const hash = (i: number) => recipientHash(RECIPIENTS[i], maskKey);
    return {
        header: ["shipment_id", "order_id", "customer_id", "shipped_date", "carrier", "recipient_hash", "order_amount", "loyalty_points"],
        rows: [
            ["1", "2", "3", "2018-01-03", "UPS", hash(0), "20.00", "120"],
            ["2", "4", "50", "2018-01-06", "DHL", hash(1), "25.00", "45"],
            ["3", "6", "54", "2018-01-09", "UPS", hash(2), "6.00", ""],
            ["4", "9", "53", "2018-01-13", "FedEx", hash(3), "23.00", "0"],
            ["5", "65", "26", "2018-03-10", "DHL", hash(4), "0.00", "310"],
        ],
    };
}

describe("an external domain that cannot be reached", () => {
    let mesh: MeshUnderTest | undefined;

    afterAll(async () => {
        await mesh?.remove();
    }, 300_000);

    it("fails pulumi up naming the domain and its address, before Trino is started", async () => {
        mesh = await createMesh("unreachable");
        // A port of this stack's own range that none of its servers uses: nothing answers there.
        const port = mesh.basePort + 9;
        expect({ port, listening: await isListening(port) }).toEqual({ port, listening: false });
        writeProjectFile(
            mesh,
            "domains/returns.yaml",
            `name: returns
description: Returned parcels, in a database that is not running.
owner: returns_owner
engine: postgresql
rows: { from: external, host: 127.0.0.1, port: ${port}, database: returns, user: returns_reader, passwordKey: returnsPassword }
tables:
  - name: returns
    primaryKey: id
    columns:
      - { name: id, type: integer }
`,
        );
        await mesh.stack.setConfig("datamesh:returnsPassword", { value: "not-checked-nothing-answers", secret: true });

        const message = await mesh.stack.up().then(
            () => "pulumi up succeeded",
            (error: Error) => error.message,
        );
        expect(message).toMatch(new RegExp(`external domain 'returns' at 127\\.0\\.0\\.1:${port} \\(database returns, user returns_reader\\): cannot connect`));
        const types = await resourceTypes(mesh);
        expect(types).not.toHaveProperty("trino-server");
        expect(types).not.toHaveProperty("dbt-run");
        expect(await isListening(mesh.trinoPort)).toBe(false);
    });
});

describe("two domains added by declaration, deployed for real", () => {
    let external: ServerOutputs | undefined;
    let mesh: MeshUnderTest | undefined;
    let repoFiles: Map<string, string>;
    let externalBefore: Awaited<ReturnType<typeof externalDatabaseAsItsTeamSeesIt>>;
    const loyaltyPassword = crypto.randomBytes(18).toString("hex");
    /** The loyalty team's CA, which signed its server's certificate for 127.0.0.1. */
    const loyaltyCa = certificateAuthority("loyalty team's CA");

    const maskKey = () => piiMaskKey(mesh!);

    const denied = async (role: string, sql: string, message: RegExp) => {
        await expect(queryTrino(await mesh!.connection(role), sql)).rejects.toThrow(message);
    };

    beforeAll(async () => {
        external = await startExternalPostgres("loyalty team's PostgreSQL");
        await setUpLoyaltyDatabase(external, loyaltyPassword);
        await serveTlsOnly(external, issueCertificate(loyaltyCa, "IP:127.0.0.1"));
        externalBefore = await externalDatabaseAsItsTeamSeesIt(external, loyaltyCa.cert);

        // The checkout as createMesh copies it: the checkout may change under a long test, and the copy must not be blamed for it.
        repoFiles = projectFiles(REPO_DIR, NOT_COPIED);
        mesh = await createMesh("domains");
        for (const [relative, text] of Object.entries(declarationFiles(external.port, loyaltyCa.cert))) {
            writeProjectFile(mesh, relative, text);
        }
        fs.appendFileSync(path.join(mesh.projectDir, "dbt", "models", "_groups.yml"), NEW_GROUPS);
        await mesh.stack.setConfig("datamesh:loyaltyPassword", { value: loyaltyPassword, secret: true });
        await mesh.stack.up();
    }, 900_000);

    afterAll(async () => {
        try {
            await mesh?.remove();
        } finally {
            if (external) {
                await stopAndRemove(external);
            }
        }
    }, 300_000);

    it("gives Trino a catalog per new domain and exports both, with their rows", async () => {
        const catalogs = await queryAsText(mesh!, "SHOW CATALOGS", "dbt");
        expect(catalogs.rows.map(([name]) => name)).toEqual(expect.arrayContaining(["shipping", "loyalty"]));
        const outputs = await mesh!.stack.outputs();
        // A new managed domain's server serves TLS alone, with a certificate of the stack's CA, as the first three do.
        expect(outputs.domains.value.shipping).toMatchObject({
            engine: "mariadb",
            host: "127.0.0.1",
            port: mesh!.basePort + 4,
            database: "shipping",
            rows: { shipments: 5 },
            tls: { mode: "verify-full", caCert: outputs.domains.value.orders.tls.caCert },
        });
        expect(outputs.domains.value.loyalty).toEqual({
            engine: "postgresql",
            host: "127.0.0.1",
            port: external!.port,
            database: "loyalty",
            user: "loyalty_reader",
            password: loyaltyPassword,
            // What its team declared: a client of the loyalty database checks it against the team's CA, not the stack's.
            tls: { mode: "verify-full", caCert: loyaltyCa.cert },
            rows: { points: LOYALTY_ROWS.length },
        });
        // The reader's password came from a secret and stays one.
        expect(mesh!.storedState()).not.toContain(loyaltyPassword);
    });

    it("reaches the loyalty team's server, which accepts TLS only, over TLS: verify-full against its team's CA, in Trino's catalog too", async () => {
        const trinoEtc = path.join((await mesh!.resourceOutputs())["trino-server"].workDir, "etc");
        expect(fs.readFileSync(path.join(trinoEtc, "catalog", "loyalty.properties"), "utf8")).toContain(
            `connection-url=jdbc:postgresql://127.0.0.1:${external!.port}/loyalty?sslmode=verify-full&sslrootcert=${trinoEtc}/catalog/loyalty-ca.pem\n`,
        );
        expect(fs.readFileSync(path.join(trinoEtc, "catalog", "loyalty-ca.pem"), "utf8")).toBe(loyaltyCa.cert);
        // The rows output was read through Trino, and the probe counted them before: both connected, and in clear nothing can.
        expect((await mesh!.stack.outputs()).domains.value.loyalty.rows).toEqual({ points: LOYALTY_ROWS.length });
        await expect(withPostgres({ port: external!.port, user: "loyalty_reader", password: loyaltyPassword, database: "loyalty" }, async () => "connected in clear")).rejects.toThrow(
            /no pg_hba\.conf entry for host "127\.0\.0\.1", user "loyalty_reader", database "loyalty", no encryption/,
        );
    });

    it("governs the new catalogs by their declarations: owners, dbt with PII masked as declared", async () => {
        const outputs = await mesh!.stack.outputs();
        expect(Object.keys(outputs.users.value)).toEqual(expect.arrayContaining(["shipping_owner", "loyalty_owner"]));
        // The rules file Trino itself is told to read, not just any file of that name in the state folder.
        const trinoEtc = path.join((await mesh!.resourceOutputs())["trino-server"].workDir, "etc");
        const rulesFile = /^security\.config-file=(.+)$/m.exec(fs.readFileSync(path.join(trinoEtc, "access-control.properties"), "utf8"))?.[1];
        expect(rulesFile).toBe(path.join(trinoEtc, "rules.json"));
        expect(rulesFile!.startsWith(`${mesh!.stateDir}${path.sep}`)).toBe(true);
        const rules = JSON.parse(fs.readFileSync(rulesFile!, "utf8"));
        expect(rules.catalogs).toEqual(
            expect.arrayContaining([
                { allow: "all", catalog: "shipping", user: "shipping_owner" },
                { allow: "all", catalog: "loyalty", user: "loyalty_owner" },
                { allow: "read-only", catalog: "(customers|loyalty|orders|payments|shipping)", user: "dbt" },
                { allow: "read-only", catalog: "insights", user: "analyst" },
            ]),
        );
        expect(rules.tables).toEqual(
            expect.arrayContaining([
                { catalog: "shipping", privileges: ["DELETE", "GRANT_SELECT", "INSERT", "OWNERSHIP", "SELECT", "UPDATE"], user: "shipping_owner" },
                { catalog: "loyalty", privileges: ["DELETE", "GRANT_SELECT", "INSERT", "OWNERSHIP", "SELECT", "UPDATE"], user: "loyalty_owner" },
                {
                    catalog: "shipping",
                    // MariaDB's text column is a VARCHAR(1024) to Trino, which takes a mask of that exact type only.
                    columns: [{ mask: `CAST(to_hex(hmac_sha256(to_utf8(recipient_name), to_utf8('${await maskKey()}'))) AS varchar(1024))`, name: "recipient_name" }],
                    privileges: ["SELECT"],
                    table: "shipments",
                    user: "dbt",
                },
                { catalog: "insights", privileges: ["SELECT"], schema: "jaffle_shop", table: "(dim_customers|fct_orders|fct_shipments)", user: "analyst" },
            ]),
        );

        expect((await queryAsText(mesh!, "SELECT count(recipient_name) FROM shipping.shipping.shipments", "shipping_owner")).rows).toEqual([["5"]]);
        expect((await queryAsText(mesh!, "SELECT sum(points) FROM loyalty.public.points", "loyalty_owner")).rows).toEqual([["1474"]]);
        await denied("shipping_owner", "SELECT count(*) FROM loyalty.public.points", /Access Denied: Cannot (access catalog|select from table) loyalty/);
        await denied("shipping_owner", "SELECT count(*) FROM orders.orders.orders", /Access Denied: Cannot (access catalog|select from table) orders/);
        await denied("loyalty_owner", "SELECT count(*) FROM shipping.shipping.shipments", /Access Denied: Cannot (access catalog|select from table) shipping/);
        // dbt and the check read the recipient only as its keyed hash, computed here apart from Trino.
        const key = await maskKey();
        for (const role of ["dbt", "check"]) {
            const masked = await queryAsText(mesh!, "SELECT recipient_name FROM shipping.shipping.shipments ORDER BY id", role);
            expect({ role, rows: masked.rows }).toEqual({ role, rows: RECIPIENTS.map(name => [recipientHash(name, key)]) });
        }
        expect((await queryAsText(mesh!, "SELECT recipient_name FROM shipping.shipping.shipments ORDER BY id", "shipping_owner")).rows).toEqual(RECIPIENTS.map(name => [name]));
        expect((await queryAsText(mesh!, "SELECT count(carrier) FROM shipping.shipping.shipments", "dbt")).rows).toEqual([["5"]]);
    });

    it("publishes the new public mart to the analyst, exactly as computed by hand, and nothing of the new domains", async () => {
        const published = await queryAsText(mesh!, "SELECT table_name FROM insights.information_schema.tables WHERE table_schema = 'jaffle_shop' ORDER BY table_name", "analyst");
        expect(published.rows).toEqual([["dim_customers"], ["fct_orders"], ["fct_shipments"]]);
        const shipments = await queryAsText(mesh!, "SELECT * FROM insights.jaffle_shop.fct_shipments ORDER BY shipment_id", "analyst");
        expect(shipments).toEqual(expectedFctShipments(await maskKey()));
        await denied("analyst", "SELECT count(*) FROM shipping.shipping.shipments", /Access Denied: Cannot (access catalog|select from table) shipping/);
        await denied("analyst", "SELECT count(*) FROM loyalty.public.points", /Access Denied: Cannot (access catalog|select from table) loyalty/);
    });

    it("lets no recipient's name reach the insights in clear: no published table, no run's table, not the docs site", async () => {
        const schemas = (await queryAsText(mesh!, "SELECT schema_name FROM insights.information_schema.schemata WHERE schema_name LIKE 'jaffle_shop%' ORDER BY 1")).rows.flat();
        expect(schemas.length).toBeGreaterThan(1);
        const read: string[] = [];
        for (const schema of schemas) {
            const tables = (await queryAsText(mesh!, `SELECT table_name FROM insights.information_schema.tables WHERE table_schema = '${schema}'`)).rows.flat();
            for (const table of tables) {
                read.push(`${schema}.${table} ${JSON.stringify(await queryAsText(mesh!, `SELECT * FROM insights.${schema}.${table}`))}`);
            }
        }
        const docsUrl: string = (await mesh!.stack.outputs()).docsUrl.value;
        const docs = await (await fetch(docsUrl)).text();
        expect(docs).toContain("fct_shipments");
        const everything = [...read, docs].join("\n");
        // What the search would find if the mask failed: the hashes it did find, so the search looked where the column went.
        expect(everything).toContain(recipientHash(RECIPIENTS[3], await maskKey()));
        for (const name of RECIPIENTS) {
            expect({ name, found: everything.includes(name) || everything.includes(name.replace(", ", ",")) }).toEqual({ name, found: false });
        }
        expect(read.filter(text => text.includes("fct_shipments")).length).toBeGreaterThanOrEqual(2);
    });

    it("still reconciles the existing insights", async () => {
        const outputs = await mesh!.stack.outputs();
        expect(outputs.check.value).toMatch(/^OK: dim_customers 100 rows = audit 100, customer_lifetime_value 1672\.00 = audit 1672\.00; fct_orders 99 rows = audit 99, .*; fct_shipments 5 rows = audit 5, order_amount 74\.00 = audit 74\.00/);
    });

    it("refuses a seeded bug in the new mart, naming the mart and the key, and keeps what analysts read", async () => {
        const before = await mesh!.resourceOutputs();
        const model = path.join(mesh!.projectDir, "dbt", "models", "marts", "fct_shipments.sql");
        const original = fs.readFileSync(model, "utf8");
        // A customer without a loyalty account gets 0 points instead of none.
        fs.writeFileSync(model, original.replace("loyalty_points.loyalty_points", "coalesce(loyalty_points.loyalty_points, 0) as loyalty_points"));
        try {
            const message = await mesh!.stack.up().then(
                () => "pulumi up succeeded",
                (error: Error) => error.message,
            );
            expect(message).toMatch(
                /the insights do not reconcile with the domains; nothing was published:\s+insights\.jaffle_shop__[0-9a-f]{12}\.fct_shipments: 1 rows differ \(0 missing, 0 extra, 0 duplicated, 1 different\); first keys: shipment_id=3 different: loyalty_points 0, expected NULL/,
            );
            expect(message).not.toMatch(/dim_customers: \d+ rows differ|fct_orders: \d+ rows differ/);
        } finally {
            fs.writeFileSync(model, original);
        }
        const shipments = await queryAsText(mesh!, "SELECT * FROM insights.jaffle_shop.fct_shipments ORDER BY shipment_id", "analyst");
        expect(shipments).toEqual(expectedFctShipments(await maskKey()));
        const after = await mesh!.resourceOutputs();
        expect(after["check-publication"].publishedRun).toBe(before["check-publication"].publishedRun);
    });

    it("refuses a public mart without an audit before any resource changes, naming the model and its file", async () => {
        const before = await mesh!.stack.exportStack();
        const files = { sql: path.join(mesh!.projectDir, "dbt", "models", "marts", "fct_carriers.sql"), yml: path.join(mesh!.projectDir, "dbt", "models", "marts", "fct_carriers.yml") };
        fs.writeFileSync(files.sql, "select carrier, count(*) as shipments from {{ ref('stg_shipments') }} group by carrier\n");
        fs.writeFileSync(files.yml, "models:\n  - name: fct_carriers\n    config:\n      group: insights\n      access: public\n    columns:\n      - name: carrier\n        data_type: varchar\n      - name: shipments\n        data_type: bigint\n");
        try {
            const message = await mesh!.stack.up().then(
                () => "pulumi up succeeded",
                (error: Error) => error.message,
            );
            expect(message).toContain(`${files.yml}: models[0] (fct_carriers): a public model needs an audit before analysts may read it`);
        } finally {
            fs.rmSync(files.sql);
            fs.rmSync(files.yml);
        }
        const after = await mesh!.stack.exportStack();
        const byUrn = (deployment: typeof before) => Object.fromEntries(deployment.deployment.resources.map((r: { urn: string; outputs?: unknown }) => [r.urn, r.outputs]));
        expect(byUrn(after)).toEqual(byUrn(before));
        const published = await queryAsText(mesh!, "SELECT table_name FROM insights.information_schema.tables WHERE table_schema = 'jaffle_shop' ORDER BY table_name", "analyst");
        expect(published.rows).toEqual([["dim_customers"], ["fct_orders"], ["fct_shipments"]]);
    });

    it("refuses the loyalty team's server under another CA, naming the domain, the CA and the certificate problem, and keeps reading it as before", async () => {
        const before = await mesh!.resourceOutputs();
        const caFile = path.join(mesh!.projectDir, "domains", "certs", "loyalty-ca.pem");
        fs.writeFileSync(caFile, certificateAuthority("another team's CA").cert);
        try {
            const message = await mesh!.stack.up().then(
                () => "pulumi up succeeded",
                (error: Error) => error.message,
            );
            expect(message).toMatch(
                new RegExp(
                    `external domain 'loyalty' at 127\\.0\\.0\\.1:${external!.port} \\(database loyalty, user loyalty_reader\\): cannot connect: TLS verify-full: the server's certificate is not accepted \\((self[- ]signed certificate in certificate chain|unable to verify the first certificate)\\): ` +
                        `it presents 'CN=datamesh-test-server' issued by 'CN=loyalty team's CA' .*; the CA trusted is 'CN=another team's CA' \\(SHA-256 [0-9A-F:]+\\) from ${caFile.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`,
                ),
            );
        } finally {
            fs.writeFileSync(caFile, loyaltyCa.cert);
        }
        // The probe stopped the `up` before Trino: its catalog still trusts the team's CA, and reads the points.
        const trinoEtc = path.join(before["trino-server"].workDir, "etc");
        expect(fs.readFileSync(path.join(trinoEtc, "catalog", "loyalty-ca.pem"), "utf8")).toBe(loyaltyCa.cert);
        expect((await queryAsText(mesh!, "SELECT sum(points) FROM loyalty.public.points", "loyalty_owner")).rows).toEqual([["1474"]]);
        const after = await mesh!.resourceOutputs();
        expect(after["check-publication"].publishedRun).toBe(before["check-publication"].publishedRun);
        expect(after["trino-server"].pid).toBe(before["trino-server"].pid);
    });

    it("needed files under domains/, dbt/ and data/ only, and no change to the stack's code", () => {
        // What createMesh itself puts in the copy: the shared node_modules link and the test stack's settings file.
        const copyFiles = projectFiles(mesh!.projectDir, new Set(["node_modules", `Pulumi.${mesh!.stack.name}.yaml`]));
        const addedOrChanged = [...copyFiles].filter(([file, digest]) => repoFiles.get(file) !== digest).map(([file]) => file);
        const removed = [...repoFiles.keys()].filter(file => !copyFiles.has(file));
        expect(removed).toEqual([]);
        expect(addedOrChanged.filter(file => !DECLARATION_FOLDERS.some(folder => file.startsWith(folder)))).toEqual([]);
        expect(addedOrChanged.sort()).toEqual([...Object.keys(declarationFiles(external!.port, loyaltyCa.cert)), "dbt/models/_groups.yml"].sort());
    });

    it("destroys the mesh and leaves the loyalty team's database as it was: schema, rows, reader and its password", async () => {
        await mesh!.stack.destroy();
        const after = await externalDatabaseAsItsTeamSeesIt(external!, loyaltyCa.cert);
        expect(after).toEqual(externalBefore);
        expect(after.rows).toEqual(LOYALTY_ROWS);
        expect(after.databases.map((d: { datname: string }) => d.datname)).toContain("loyalty");
        expect(after.roles.map((r: { rolname: string }) => r.rolname)).toContain("loyalty_reader");
        const readerSees = await withPostgres({ port: external!.port, user: "loyalty_reader", password: loyaltyPassword, database: "loyalty", ssl: { ca: loyaltyCa.cert } }, async client =>
            (await client.query("SELECT count(*)::int AS n FROM points")).rows[0].n,
        );
        expect(readerSees).toBe(LOYALTY_ROWS.length);
    });
});
