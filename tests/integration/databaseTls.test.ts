import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { CatalogSpec, catalogPasswordEnv, domainCatalog, renderEtc } from "../../catalogs/trino";
import { DatabaseTls, Engine, TableSpec } from "../../lib/domains";
import { readVersions } from "../../lib/versions";
import { ServerOutputs, startServer, stopAndRemove } from "../../platforms/local/databaseServer";
import { catalogFilesOf } from "../../platforms/shared/trinoEtc";
import { findDatabasePrograms, findLocalToolchain } from "../../platforms/local/toolchain";
import { probeExternalDatabase } from "../../resources/externalDatabase";
import { certificateAuthority, issueCertificate, KeyPair } from "../selfSigned";
import { CACHE_DIR, freePortRange, REPO_DIR } from "./harness";
import { restartMariadbTlsOnly, serveTlsOnly } from "./tlsServers";

jest.setTimeout(120_000);

/*
 * TLS to an external domain's database, against a real PostgreSQL and a real MariaDB that accept
 * TLS connections only, each certificate signed by a test CA for localhost and 127.0.0.1. Both clients the
 * stack has: the probe (Node's pg and mysql2, as the reader's creation connects too), and each
 * engine's JDBC driver as Trino 476 ships it, given the very catalog files the stack writes into
 * Trino's etc/. No stack, no Trino.
 */

const POINTS: TableSpec = { name: "points", file: "points.csv", primaryKey: "customer_id", piiColumns: [], columns: [{ name: "customer_id", type: "integer" }, { name: "points", type: "integer" }] };
const reader = { user: "crm_reader", password: crypto.randomBytes(12).toString("hex") };

let root: string;
let ca: KeyPair;
let caFile: string;
let wrongCaFile: string;
const servers: Partial<Record<Engine, ServerOutputs>> = {};
/** How each domain names its server: a MariaDB domain with verify-full needs a host name (see lib/domains.ts). */
const HOST: Record<Engine, string> = { postgresql: "127.0.0.1", mariadb: "localhost" };

/** The CA file as a declaration names it, and the CA as the stack reads it from there. */
function verifyFull(file: string): DatabaseTls {
    return { mode: "verify-full", caPem: fs.readFileSync(file, "utf8"), caFile: file };
}

/** The probe of an external domain `crm` on the engine's server; MariaDB's schema is its database. */
const probe = (engine: Engine, tls: DatabaseTls | null) =>
    probeExternalDatabase({ domainName: "crm", engine, host: HOST[engine], port: servers[engine]!.port, database: "crm", schema: engine === "postgresql" ? "public" : "crm", reader, tables: [POINTS], tls });

const catalog = (engine: Engine, name: string, tls: DatabaseTls | undefined): CatalogSpec =>
    domainCatalog({ name, engine }, { host: HOST[engine], port: servers[engine]!.port, database: "crm", user: reader.user, tls });

/**
 * Each catalog as Trino's connector for it takes it: the catalog files the stack writes (each
 * catalog's properties and CA file) in a scratch etc/, read with java.util.Properties; the
 * connection-url checked by the MariaDB connector's own configuration class, which Trino runs at
 * startup; the url and user given to the JDBC driver, all from Trino's own plugin folder; the
 * password from the environment as Trino resolves `${ENV:...}`. Says, per catalog, what it read or
 * why it failed.
 */
function connectAsTrino(engine: Engine, catalogs: CatalogSpec[]): Record<string, string> {
    const etcDir = fs.mkdtempSync(path.join(root, "etc-"));
    const files = catalogFilesOf(
        renderEtc({
            node: { environment: "test", nodeId: "test", dataDir: path.join(root, "data"), pluginDir: path.join(root, "plugin") },
            coordinator: { httpsPort: 1, internalPort: 2, maxHeap: "1G", etcDir, keystoreFile: "keystore.p12", sharedSecretEnv: "SHARED_SECRET" },
            catalogs,
        }),
    );
    for (const [relative, text] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(etcDir, relative)), { recursive: true });
        fs.writeFileSync(path.join(etcDir, relative), text);
    }
    const program = path.join(root, "Connect.java");
    fs.writeFileSync(
        program,
        `import java.io.*; import java.sql.*; import java.util.*;
public class Connect { public static void main(String[] args) throws Exception {
  for (String file : Arrays.copyOfRange(args, 1, args.length)) {
    Properties p = new Properties(); try (Reader r = new FileReader(file)) { p.load(r); }
    if (p.getProperty("connector.name").equals("mariadb")) {
      Object config = Class.forName("io.trino.plugin.mariadb.MariaDbJdbcConfig").getConstructor().newInstance();
      config.getClass().getMethod("setConnectionUrl", String.class).invoke(config, p.getProperty("connection-url"));
      if (!(Boolean) config.getClass().getMethod("isUrlValid").invoke(config) || !(Boolean) config.getClass().getMethod("isUrlWithoutDatabase").invoke(config)) {
        System.out.println(new File(file).getName() + "\trefused by Trino's MariaDbJdbcConfig"); continue;
      }
    }
    String password = System.getenv(p.getProperty("connection-password").replaceAll("^\\\\$\\\\{ENV:(.*)\\\\}$", "$1"));
    try (Connection c = DriverManager.getConnection(p.getProperty("connection-url"), p.getProperty("connection-user"), password);
         ResultSet rs = c.createStatement().executeQuery(args[0])) {
      rs.next(); System.out.println(new File(file).getName() + "\\tread " + rs.getLong(1));
    } catch (SQLException e) {
      StringBuilder m = new StringBuilder(); for (Throwable t = e; t != null; t = t.getCause()) m.append(" | ").append(t.getMessage());
      System.out.println(new File(file).getName() + "\\tfailed" + m.toString().replaceAll("\\\\s+", " "));
    }
  }
}}
`,
    );
    // Trino's own JDK: its plugin classes need it.
    const { trinoHome, javaHome } = findLocalToolchain({ cacheDir: CACHE_DIR, trinoVersion: readVersions().TRINO_VERSION, projectDir: REPO_DIR });
    const pluginDir = path.join(trinoHome, "plugin", engine);
    // The MariaDB connector's configuration class needs the plugin's other jars; PostgreSQL's driver is read alone, since another
    // driver the plugin folder registers keeps DriverManager from finding it.
    const classpath = engine === "mariadb" ? path.join(pluginDir, "*") : path.join(pluginDir, fs.readdirSync(pluginDir).find(file => /^org\.postgresql_postgresql-.*\.jar$/.test(file)) ?? "no-pgjdbc.jar");
    const env = { ...process.env, ...Object.fromEntries(catalogs.map(c => [catalogPasswordEnv(c.name), reader.password])) };
    const query = engine === "postgresql" ? "SELECT count(*) FROM points" : "SELECT count(*) FROM crm.points";
    const catalogFiles = catalogs.map(c => path.join(etcDir, "catalog", `${c.name}.properties`));
    const output = execFileSync(path.join(javaHome, "bin", "java"), ["-cp", classpath, program, query, ...catalogFiles], { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return Object.fromEntries(output.trim().split("\n").map(line => line.split("\t")).map(([file, result]) => [file.replace(/\.properties$/, ""), result]));
}

/** The team's server, in clear, with its database `crm`, a table of three rows, and a reader that may only select. */
async function startTeamServer(engine: Engine): Promise<ServerOutputs> {
    const server = await startServer({
        component: `the CRM team's ${engine}`,
        engine,
        port: await freePortRange(1),
        workDir: path.join(root, engine),
        programs: findDatabasePrograms()[engine === "postgresql" ? "postgres" : "mariadb"],
        adminPassword: crypto.randomBytes(12).toString("hex"),
    });
    const admin = { host: "127.0.0.1", port: server.port, user: server.adminUser, password: server.adminPassword };
    const table = "CREATE TABLE points (customer_id bigint PRIMARY KEY, points bigint NOT NULL)";
    const rows = "INSERT INTO points VALUES (3, 120), (7, 999), (26, 310)";
    if (engine === "postgresql") {
        const pg = require("pg");
        for (const [database, statements] of [
            ["postgres", ["CREATE DATABASE crm", `CREATE ROLE ${reader.user} LOGIN PASSWORD '${reader.password}'`]],
            ["crm", [table, rows, `GRANT SELECT ON points TO ${reader.user}`]],
        ] as const) {
            const client = new pg.Client({ ...admin, database });
            await client.connect();
            for (const sql of statements) {
                await client.query(sql);
            }
            await client.end();
        }
    } else {
        const mysql = require("mysql2/promise");
        const connection = await mysql.createConnection(admin);
        for (const sql of ["CREATE DATABASE crm", "USE crm", table, rows, `CREATE USER '${reader.user}'@'%' IDENTIFIED BY '${reader.password}'`, `GRANT SELECT ON crm.points TO '${reader.user}'@'%'`]) {
            await connection.query(sql);
        }
        await connection.end();
    }
    return server;
}

beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), "datamesh-it-tls-"));
    // Run as root, the servers run as their own accounts, which must pass through the test's folder.
    fs.chmodSync(root, 0o711);
    ca = certificateAuthority("CRM team's CA");
    caFile = path.join(root, "crm-ca.pem");
    fs.writeFileSync(caFile, ca.cert);
    wrongCaFile = path.join(root, "another-ca.pem");
    fs.writeFileSync(wrongCaFile, certificateAuthority("Another team's CA").cert);
    servers.postgresql = await startTeamServer("postgresql");
    servers.mariadb = await startTeamServer("mariadb");
    const certificate = issueCertificate(ca, "DNS:localhost,IP:127.0.0.1");
    await serveTlsOnly(servers.postgresql, certificate);
    servers.mariadb = await restartMariadbTlsOnly(servers.mariadb, certificate);
});

afterAll(async () => {
    for (const server of Object.values(servers)) {
        await stopAndRemove(server);
    }
    fs.rmSync(root, { recursive: true, force: true });
}, 60_000);

/** Escaped for a regular expression. */
const literally = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Why a driver refuses a chain that does not lead to the CA it trusts, in Node's words. */
const UNTRUSTED_CHAIN = "self[- ]signed certificate in certificate chain|unable to verify the first certificate|unable to get local issuer certificate";

/**
 * The probe's refusal of a certificate it cannot trust, with both sides: the domain and its
 * address, the driver's reason, the certificate the server presents (subject, issuer, names), and
 * the CA it was checked against with the file it came from.
 */
const refused = (engine: Engine, reason: string, presentedFor: string, trusted: string, file: string) =>
    new RegExp(
        `external domain 'crm' at ${literally(HOST[engine])}:\\d+ \\(database crm, user crm_reader\\): cannot connect: TLS verify-full: the server's certificate is not accepted \\((${reason})\\): ` +
            `it presents 'CN=datamesh-test-server' issued by 'CN=CRM team's CA' \\(SHA-256 [0-9A-F:]+\\) for ${literally(presentedFor)}; the CA trusted is '${literally(trusted)}' \\(SHA-256 [0-9A-F:]+\\) from ${literally(file)}$`,
    );

describe("servers that accept TLS only, their certificates signed by their team's CA for localhost and 127.0.0.1", () => {
    it("refuse a connection in clear, so what connects below connected over TLS", async () => {
        await expect(probe("postgresql", null)).rejects.toThrow(/external domain 'crm' at 127\.0\.0\.1:\d+ \(database crm, user crm_reader\): cannot connect: .*no encryption/);
        // MariaDB 10.11 answers a login in clear under require_secure_transport as a wrong password; the same password is taken over TLS below.
        await expect(probe("mariadb", null)).rejects.toThrow(/external domain 'crm' at localhost:\d+ \(database crm, user crm_reader\): cannot connect: Access denied for user 'crm_reader'@'127\.0\.0\.1' \(using password: YES\)$/);
    });

    it.each(["postgresql", "mariadb"] as const)("%s: probed with verify-full and the team's CA, and refused with another CA, naming the domain, the CA's file and the certificate problem", async engine => {
        expect(await probe(engine, verifyFull(caFile))).toEqual({ points: 3 });
        expect(await probe(engine, { mode: "require" })).toEqual({ points: 3 });
        await expect(probe(engine, verifyFull(wrongCaFile))).rejects.toThrow(refused(engine, UNTRUSTED_CHAIN, "DNS:localhost, IP Address:127.0.0.1", "CN=Another team's CA", wrongCaFile));
    });

    it("postgresql: read by Trino's driver through the catalog files the stack writes: verify-full with the team's CA, not with another", () => {
        expect(
            connectAsTrino("postgresql", [
                catalog("postgresql", "crm", verifyFull(caFile)),
                catalog("postgresql", "crm_wrong_ca", verifyFull(wrongCaFile)),
                catalog("postgresql", "crm_require", { mode: "require" }),
                catalog("postgresql", "crm_clear", undefined),
            ]),
        ).toEqual({
            crm: "read 3",
            crm_wrong_ca: expect.stringMatching(/^failed .*PKIX path building failed.*unable to find valid certification path to requested target/),
            crm_require: "read 3",
            // Without sslmode pgjdbc prefers TLS when the server offers it, checking nothing: encrypted, but anyone's certificate would do.
            crm_clear: "read 3",
        });
    });

    it("mariadb: read by Trino's driver through the catalog files the stack writes: verify-full with the team's CA, not with another, never in clear", () => {
        expect(
            connectAsTrino("mariadb", [
                catalog("mariadb", "crm", verifyFull(caFile)),
                catalog("mariadb", "crm_wrong_ca", verifyFull(wrongCaFile)),
                catalog("mariadb", "crm_require", { mode: "require" }),
                catalog("mariadb", "crm_clear", undefined),
            ]),
        ).toEqual({
            crm: "read 3",
            crm_wrong_ca: expect.stringMatching(/^failed .*unable to find valid certification path to requested target/),
            crm_require: "read 3",
            crm_clear: expect.stringMatching(/^failed .*Access denied for user 'crm_reader'@'127\.0\.0\.1' \(using password: YES\)/),
        });
    });
});

describe("the same servers presenting a certificate of their CA for another host", () => {
    beforeAll(async () => {
        const elsewhere = issueCertificate(ca, "DNS:db.elsewhere.example");
        await serveTlsOnly(servers.postgresql!, elsewhere);
        servers.mariadb = await restartMariadbTlsOnly(servers.mariadb!, elsewhere);
    });

    it.each(["postgresql", "mariadb"] as const)("%s: verify-full fails in both clients, which check the host name and not only the CA, while require still connects", async engine => {
        const mismatch = engine === "postgresql" ? "IP: 127\\.0\\.0\\.1 is not in the cert's list: ?" : "Host: localhost\\. is not in the cert's altnames: DNS:db\\.elsewhere\\.example";
        await expect(probe(engine, verifyFull(caFile))).rejects.toThrow(refused(engine, `Hostname/IP does not match certificate's altnames: ${mismatch}`, "DNS:db.elsewhere.example", "CN=CRM team's CA", caFile));
        expect(await probe(engine, { mode: "require" })).toEqual({ points: 3 });
        expect(connectAsTrino(engine, [catalog(engine, "crm", verifyFull(caFile)), catalog(engine, "crm_require", { mode: "require" })])).toEqual({
            crm: expect.stringMatching(
                engine === "postgresql" ? /^failed .*The hostname 127\.0\.0\.1 could not be verified/ : /^failed .*SSL hostname verification failed : DNS host "localhost" doesn't correspond to certificate CN "datamesh-test-server" and SAN\[\{DNS:"db\.elsewhere\.example"\}\]/,
            ),
            crm_require: "read 3",
        });
    });
});
