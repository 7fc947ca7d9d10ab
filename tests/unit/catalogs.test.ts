import { renderDbtProfile } from "../../catalogs/dbt";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { envReference, renderProperties } from "../../catalogs/properties";
import { findJavaHome } from "../../platforms/local/toolchain";
import { makeTempDir } from "./tempDirs";
import { CatalogSpec, catalogPasswordEnv, CoordinatorSpec, renderCatalog, renderWorkerEtc, S3Warehouse, renderCoordinatorConfig, renderEtc, renderJvmConfig, renderPasswordDb } from "../../catalogs/trino";
import { renderYaml } from "../../catalogs/yaml";

const customers: CatalogSpec = { kind: "postgresql", name: "customers", host: "127.0.0.1", port: 15430, database: "customers", user: "customers_trino", passwordEnv: catalogPasswordEnv("customers") };
const orders: CatalogSpec = { kind: "mariadb", name: "orders", host: "127.0.0.1", port: 15431, user: "orders_trino", passwordEnv: catalogPasswordEnv("orders") };
const CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBtestCA\n-----END CERTIFICATE-----\n";
const crm: CatalogSpec = { kind: "postgresql", name: "crm", host: "crm-db.internal", port: 5432, database: "crm", user: "trino_reader", passwordEnv: catalogPasswordEnv("crm"), tls: { mode: "verify-full", caPem: CA_PEM } };
const shop: CatalogSpec = { kind: "mariadb", name: "shop", host: "10.1.2.3", port: 3306, user: "trino_reader", passwordEnv: catalogPasswordEnv("shop"), tls: { mode: "verify-full", caPem: CA_PEM } };
const HASH = "$2y$10$4OY2fyP60b/5x3v36uMzLu7jNK8pwMuD/3sAcC6/.p4.WmM38nDEi";
const coordinator: CoordinatorSpec = {
    httpsPort: 18443,
    internalPort: 18080,
    maxHeap: "2G",
    etcDir: "/state/trino/etc",
    keystoreFile: "keystore.p12",
    keystorePasswordEnv: "TRINO_KEYSTORE_PASSWORD",
    sharedSecretEnv: "TRINO_SHARED_SECRET",
};
const insights: CatalogSpec = {
    kind: "iceberg",
    name: "insights",
    metastore: { host: "127.0.0.1", port: 15433, database: "iceberg_catalog", user: "iceberg_trino", passwordEnv: catalogPasswordEnv("insights") },
    warehouse: { kind: "local", dir: "/state/insights-warehouse" },
};
const sharedInsights: CatalogSpec = {
    ...insights,
    warehouse: { kind: "s3", endpoint: "http://warehouse:8333", region: "us-east-1", bucket: "insights", pathStyle: true, accessKeyEnv: "WAREHOUSE_ACCESS_KEY", secretKeyEnv: "WAREHOUSE_SECRET_KEY" },
};

describe("properties", () => {
    it("sorts keys so equal values give equal bytes", () => {
        expect(renderProperties({ b: 1, a: true, c: "x" })).toBe("a=true\nb=1\nc=x\n");
        expect(renderProperties({ b: 1, a: 2 })).toBe(renderProperties({ a: 2, b: 1 }));
    });

    it("refuses values that would break the file", () => {
        expect(() => renderProperties({ a: "one\ntwo" })).toThrow("property 'a' cannot be written");
    });

    it("writes values that Java's own Properties.load reads back as they were, backslashes included", () => {
        const values = { a: "C:\\data\\new", b: "\\u0041 is not A", c: "ends with \\", d: "plain" };
        const dir = makeTempDir("properties");
        const file = path.join(dir, "values.properties");
        fs.writeFileSync(file, renderProperties(values));
        const reader = path.join(dir, "Read.java");
        fs.writeFileSync(
            reader,
            "import java.io.*; import java.util.*;\n" +
                "public class Read { public static void main(String[] a) throws Exception { Properties p = new Properties(); try (Reader r = new InputStreamReader(new FileInputStream(a[0]), \"UTF-8\")) { p.load(r); }\n" +
                "  for (String k : new TreeSet<>(p.stringPropertyNames())) System.out.println(k + \"\\t\" + p.getProperty(k)); } }\n",
        );
        const java = path.join(findJavaHome(11), "bin", "java");
        const read = execFileSync(java, [reader, file], { encoding: "utf8" });
        expect(Object.fromEntries(read.trim().split("\n").map(line => line.split("\t")))).toEqual(values);
    });

    it("refers to secrets through the environment", () => {
        expect(envReference("CUSTOMERS_DB_PASSWORD")).toBe("${ENV:CUSTOMERS_DB_PASSWORD}");
        expect(() => envReference("lower")).toThrow("environment variable name 'lower'");
    });
});

describe("Trino catalogs", () => {
    it.each([
        ["customers", customers],
        ["orders", orders],
        ["insights (local folder)", insights],
        ["insights (S3 bucket)", sharedInsights],
        ["PostgreSQL over TLS, verify-full", crm],
        ["PostgreSQL over TLS, require", { ...crm, tls: { mode: "require" } } as CatalogSpec],
        ["MariaDB over TLS, verify-full", shop],
        ["MariaDB over TLS, require", { ...shop, tls: { mode: "require" } } as CatalogSpec],
    ])("renders the %s catalog", (_label, spec) => {
        const text = renderCatalog(spec, coordinator.etcDir);
        expect(text).toMatchSnapshot();
        expect(text).not.toMatch(/password=(?!\$\{ENV:)/);
    });

    it("points each driver's verify-full at the CA file written beside the catalog, which every node mounts", () => {
        const etc = renderEtc({ node: { environment: "e", nodeId: "n", dataDir: "/d", pluginDir: "/p" }, coordinator, catalogs: [crm, shop, customers] });
        expect(etc["catalog/crm-ca.pem"]).toBe(CA_PEM);
        expect(etc["catalog/shop-ca.pem"]).toBe(CA_PEM);
        expect(Object.keys(etc).filter(file => file.endsWith(".pem"))).toEqual(["catalog/crm-ca.pem", "catalog/shop-ca.pem"]);
        expect(etc["catalog/crm.properties"]).toContain("connection-url=jdbc:postgresql://crm-db.internal:5432/crm?sslmode=verify-full&sslrootcert=/state/trino/etc/catalog/crm-ca.pem\n");
        expect(etc["catalog/shop.properties"]).toContain("connection-url=jdbc:mariadb://10.1.2.3:3306?sslMode=verify-full&serverSslCert=/state/trino/etc/catalog/shop-ca.pem\n");
        expect(etc["catalog/customers.properties"]).toContain("connection-url=jdbc:postgresql://127.0.0.1:15430/customers\n");
    });

    it("refuses a CA path a JDBC URL cannot carry, and verify-full without a CA", () => {
        expect(() => renderCatalog(crm, "/state/my trino/etc")).toThrow("catalog 'crm': the CA file's path /state/my trino/etc/catalog/crm-ca.pem must be absolute");
        expect(() => renderCatalog(shop, "/state/a&b")).toThrow("catalog 'shop': the CA file's path");
        expect(() => renderCatalog({ ...crm, tls: { mode: "verify-full" } }, coordinator.etcDir)).toThrow("catalog 'crm': TLS verify-full needs the CA's certificate");
    });

    it("rejects a relative warehouse and a bad catalog name", () => {
        expect(() => renderCatalog({ ...insights, warehouse: { kind: "local", dir: "warehouse" } }, coordinator.etcDir)).toThrow("catalog 'insights': the warehouse folder must be an absolute path");
        expect(() => renderCatalog({ ...sharedInsights, warehouse: { ...(sharedInsights.warehouse as S3Warehouse), bucket: "Bad_Bucket" } }, coordinator.etcDir)).toThrow("'Bad_Bucket' is not a valid bucket name");
        expect(() => renderCatalog({ ...customers, name: "Customers" }, coordinator.etcDir)).toThrow("catalog name 'Customers' must be a lower-case identifier");
    });

    it("renders the whole etc folder but the password file and the access rules: one file per catalog, security, and no secret", () => {
        const etc = renderEtc({
            node: { environment: "datamesh", nodeId: "dev-trino", dataDir: "/state/trino/data", pluginDir: "/cache/trino/476/server/plugin", loopbackOnly: true },
            coordinator,
            catalogs: [orders, customers, insights],
        });
        expect(Object.keys(etc)).toEqual([
            "access-control.properties",
            "catalog/customers.properties",
            "catalog/insights.properties",
            "catalog/orders.properties",
            "config.properties",
            "jvm.config",
            "log.properties",
            "node.properties",
            "password-authenticator.properties",
        ]);
        expect(etc).toMatchSnapshot();
    });

    it("serves clients over HTTPS with passwords, never over plain HTTP", () => {
        const config = renderCoordinatorConfig(coordinator);
        expect(config).toContain("http-server.authentication.type=PASSWORD\n");
        expect(config).toContain("http-server.https.enabled=true\n");
        expect(config).toContain("http-server.https.keystore.key=${ENV:TRINO_KEYSTORE_PASSWORD}\n");
        expect(config).toContain("internal-communication.shared-secret=${ENV:TRINO_SHARED_SECRET}\n");
        expect(config).not.toContain("allow-insecure-over-http");
    });

    it("reads a PEM keystore with an unencrypted key without a password", () => {
        const config = renderCoordinatorConfig({ ...coordinator, keystoreFile: "keystore.pem", keystorePasswordEnv: undefined });
        expect(config).toContain("http-server.https.keystore.path=/state/trino/etc/keystore.pem\n");
        expect(config).not.toContain("keystore.key");
    });

    it("sizes query memory from the heap so that any heap starts", () => {
        expect(renderCoordinatorConfig({ ...coordinator, maxHeap: "1G" })).toContain("query.max-memory-per-node=512MB\n");
        expect(renderCoordinatorConfig({ ...coordinator, maxHeap: "3000M" })).toContain("query.max-memory=1500MB\n");
    });

    it("lists users with bcrypt hashes only, sorted", () => {
        expect(renderPasswordDb([{ user: "dbt", bcryptHash: HASH }, { user: "analyst", bcryptHash: HASH }])).toBe(`analyst:${HASH}\ndbt:${HASH}\n`);
        expect(() => renderPasswordDb([{ user: "dbt", bcryptHash: "plain-password" }])).toThrow("Trino user 'dbt': the password file takes a $2y$ bcrypt hash, never a password");
        expect(() => renderPasswordDb([{ user: "dbt", bcryptHash: HASH }, { user: "dbt", bcryptHash: HASH }])).toThrow("Trino user 'dbt' is declared twice");
    });

    it("refuses a catalog declared twice", () => {
        expect(() =>
            renderEtc({ node: { environment: "e", nodeId: "n", dataDir: "/d", pluginDir: "/p" }, coordinator, catalogs: [customers, customers] }),
        ).toThrow("catalog 'customers' is declared twice");
    });

    it("lays out a cluster: the coordinator leaves work to workers, which find it by its service name", () => {
        const clusterCoordinator = { ...coordinator, etcDir: "/etc/trino", secretDir: "/etc/trino/secrets", discoveryUri: "http://trino:8080", includeCoordinator: false };
        const etc = renderEtc({ node: { environment: "datamesh", dataDir: "/data/trino", pluginDir: "/usr/lib/trino/plugin" }, coordinator: clusterCoordinator, catalogs: [customers] });
        // The rules hold the PII mask key: Trino reads them beside the password file, from the secret folder.
        expect(etc["access-control.properties"]).toContain("security.config-file=/etc/trino/secrets/rules.json\n");
        expect(etc["config.properties"]).toContain("node-scheduler.include-coordinator=false\n");
        expect(etc["config.properties"]).toContain("discovery.uri=http://trino:8080\n");
        expect(etc["config.properties"]).toContain("http-server.https.keystore.path=/etc/trino/secrets/keystore.p12\n");
        expect(etc["password-authenticator.properties"]).toContain("file.password-file=/etc/trino/secrets/password.db\n");
        expect(etc["node.properties"]).not.toMatch(/node\.(id|bind-ip|internal-address)/);
        const worker = renderWorkerEtc({
            node: { environment: "datamesh", dataDir: "/data/trino", pluginDir: "/usr/lib/trino/plugin" },
            worker: { httpPort: 8080, discoveryUri: "http://trino:8080", maxHeap: "2G", sharedSecretEnv: "TRINO_SHARED_SECRET" },
        });
        expect(worker).toMatchSnapshot();
        expect(worker["config.properties"]).toContain("coordinator=false\n");
        expect(worker["config.properties"]).not.toContain("https");
        expect(worker["access-control.properties"]).toBeUndefined();
    });

    it("lets a draining worker's rules admit its drain user alone, and sets its grace period", () => {
        const worker = renderWorkerEtc({
            node: { environment: "datamesh", dataDir: "/data/trino", pluginDir: "/usr/lib/trino/plugin" },
            worker: {
                httpPort: 8080,
                discoveryUri: "http://trino:8080",
                maxHeap: "2G",
                sharedSecretEnv: "TRINO_SHARED_SECRET",
                drain: { gracePeriodSeconds: 30, user: "datamesh_drain", etcDir: "/etc/trino" },
            },
        });
        expect(worker).toMatchSnapshot();
        expect(worker["config.properties"]).toContain("shutdown.grace-period=30s\n");
        expect(worker["access-control.properties"]).toContain("security.config-file=/etc/trino/worker-rules.json\n");
        // Trino's default access control refuses every user a worker's state change; these rules allow one.
        expect(JSON.parse(worker["worker-rules.json"])).toEqual({ system_information: [{ user: "datamesh_drain", allow: ["read", "write"] }] });
    });

    it("has the JVM map a class archive only where one is given, as its last flag", () => {
        expect(renderJvmConfig({ maxHeap: "2G", classArchive: "/cache/trino/476/class-archive/0123456789ab.jsa" })).toMatch(/\n-XX:SharedArchiveFile=\/cache\/trino\/476\/class-archive\/0123456789ab\.jsa\n$/);
        expect(renderJvmConfig({ maxHeap: "2G" })).not.toContain("SharedArchiveFile");
    });

    it("puts the user's JVM flags last on coordinator and worker, so that each wins over a default it contradicts", () => {
        const coordinator = renderJvmConfig({ maxHeap: "2G", classArchive: "/a.jsa", jvmOptions: ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"] });
        expect(coordinator).toMatch(/\n-XX:\+UseG1GC\n[\s\S]*-XX:SharedArchiveFile=\/a\.jsa\n-XX:TieredStopAtLevel=1\n-XX:\+UseSerialGC\n$/);
        const worker = renderWorkerEtc({
            node: { environment: "datamesh", dataDir: "/data", pluginDir: "/plugin" },
            worker: { httpPort: 8080, discoveryUri: "http://trino:8080", maxHeap: "2G", sharedSecretEnv: "S", jvmOptions: ["-XX:TieredStopAtLevel=1"] },
        })["jvm.config"];
        expect(worker).toMatch(/\n-XX:TieredStopAtLevel=1\n$/);
        expect(() => renderJvmConfig({ maxHeap: "2G", jvmOptions: ["-Dx=1\n-Xmx8G"] })).toThrow("a JVM flag must start with - and hold no space or line break");
    });

    it("validates the heap size", () => {
        expect(renderJvmConfig({ maxHeap: "1536M" })).toContain("-Xmx1536M\n");
        expect(() => renderJvmConfig({ maxHeap: "2 GB" })).toThrow("maxHeap must look like 2G");
    });
});

describe("dbt profile", () => {
    const profileSpec = { host: "127.0.0.1", port: 1, user: "dbt", passwordEnv: "DATAMESH_DBT_PASSWORD", caCertFile: "/state/dbt-run/profile/trino-ca.pem", catalog: "insights", schema: "jaffle_shop", threads: 2 };

    it("renders profiles.yml for dbt-trino", () => {
        const profile = renderDbtProfile({ ...profileSpec, port: 18080 });
        expect(profile).toMatchSnapshot();
        expect(profile).toContain(`password: "{{ env_var('DATAMESH_DBT_PASSWORD') }}"`);
    });

    it("rejects a zero thread count", () => {
        expect(() => renderDbtProfile({ ...profileSpec, threads: 0 })).toThrow("threads must be a positive integer");
        expect(() => renderDbtProfile({ ...profileSpec, passwordEnv: "lower" })).toThrow("passwordEnv 'lower' must be an upper-case environment variable name");
    });
});

describe("yaml", () => {
    it("quotes what YAML would misread and sorts keys", () => {
        expect(renderYaml({ z: "yes", a: { c: "1.5", b: "plain", d: 3 } })).toBe('a:\n  b: plain\n  c: "1.5"\n  d: 3\nz: "yes"\n');
    });
});
