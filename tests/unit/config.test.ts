import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { selfSignedCertificate } from "../selfSigned";
import { makeTempDir } from "./tempDirs";
import { ConfigError, defaultInsightsSchema, loadConfig, projectConfig } from "../../config";
import { CANONICAL_DATA_DIR } from "../../lib/dataset";
import { DOMAINS, DomainSpec } from "../../lib/domains";

const context = { stack: "dev", projectDir: "/project", env: {} as NodeJS.ProcessEnv };

function error(raw: Record<string, string>): string {
    try {
        loadConfig(raw, context);
    } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        // Pulumi prints a RunError's message alone, without a stack trace.
        expect(pulumi.RunError.isInstance(e)).toBe(true);
        return (e as Error).message;
    }
    throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
    it("defaults to the local platform and the canonical data", () => {
        const config = loadConfig({}, context);
        expect(config).toMatchObject({
            platform: "local",
            stateDir: path.join("/project", ".datamesh", "dev"),
            basePort: 15430,
            trinoPort: 18080,
            trinoInternalPort: 18081,
            protectDomainData: true,
            // /project has no dbt project to name the schema after.
            insightsSchema: "insights",
            dataSource: { kind: "files", dir: CANONICAL_DATA_DIR },
        });
        expect(config.dataFingerprint).toMatch(/^[0-9a-f]{64}$/);
        expect(Object.keys(config.domainFingerprints)).toEqual(["customers", "orders", "payments"]);
        Object.values(config.domainFingerprints).forEach(fingerprint => expect(fingerprint).toMatch(/^files:[0-9a-f]{64}$/));
        expect(config.cacheDir).toBe(path.join(os.homedir(), ".cache", "datamesh"));
    });

    it("publishes to the schema the dbt project names: its insights_schema var, or else its name", () => {
        const repo = path.join(__dirname, "..", "..");
        expect(defaultInsightsSchema(path.join(repo, "dbt"))).toBe("jaffle_shop");
        expect(defaultInsightsSchema(path.join(repo, "tests", "fixtures", "compose_demo_dbt"))).toBe("compose_demo");
        expect(loadConfig({ insightsSchema: "sales" }, context).insightsSchema).toBe("sales");
    });

    it("takes the cache folder from DATAMESH_CACHE", () => {
        expect(loadConfig({}, { ...context, env: { DATAMESH_CACHE: "/cache" } }).cacheDir).toBe("/cache");
    });

    it("reads readers per domain and a preset analyst password", () => {
        expect(loadConfig({ readers: '{"orders": ["finance", "audit"]}', analystPassword: "correct horse battery" }, context)).toMatchObject({
            readers: { orders: ["finance", "audit"] },
            analystPassword: "correct horse battery",
        });
    });

    it("takes an analyst password with quotes, backslashes and Latin-1 letters as is", () => {
        expect(loadConfig({ analystPassword: `it's "naïve" C:\\dir ß` }, context).analystPassword).toBe(`it's "naïve" C:\\dir ß`);
        // 72 bytes in UTF-8, all of which bcrypt reads.
        expect(loadConfig({ analystPassword: "ß".repeat(36) }, context).analystPassword).toBe("ß".repeat(36));
    });

    it("reads the container platforms' settings: workers, namespace, pinned images", () => {
        const config = loadConfig({ platform: "kubernetes", workers: "3", renderYamlTo: "out", trinoImage: "registry.local:5000/trino@sha256:" + "a".repeat(64) }, context);
        expect(config).toMatchObject({ platform: "kubernetes", workers: 3, namespace: "datamesh-dev", renderYamlTo: "/project/out", podSecurityLabel: true, workerGracePeriodSeconds: 30 });
        expect(config.allowedClients).toBeUndefined();
        expect(config.workerAutoscaling).toBeUndefined();
        expect(config.dbtToolchain).toBe("volume");
        expect(loadConfig({ platform: "kubernetes", dbtImage: "registry.local/dbt-trino:1.11.0" }, context).dbtToolchain).toBe("image");
        expect(loadConfig({ platform: "kubernetes", dbtImage: "registry.local/python:3.11.14", dbtToolchain: "volume" }, context).dbtToolchain).toBe("volume");
        expect(loadConfig({ platform: "kubernetes", workers: '{"min":1,"max":4}' }, context)).toMatchObject({ workers: 1, workerAutoscaling: { min: 1, max: 4, scaleDownWindowSeconds: 300 } });
        expect(loadConfig({ platform: "kubernetes", allowedClients: "analytics, 10.20.0.0/16" }, context).allowedClients).toEqual([{ namespace: "analytics" }, { cidr: "10.20.0.0/16" }]);
        expect(config.images).toMatchObject({ trinoImage: `registry.local:5000/trino@sha256:${"a".repeat(64)}`, postgresImage: "postgres:17.6", mariadbImage: "mariadb:11.8.3" });
    });

    it("defaults the dbt image's base to the pinned Python image, and leaves pip's settings unset", () => {
        const config = loadConfig({ platform: "docker" }, context);
        expect(config.images.dbtBaseImage).toBe("python:3.11.14-slim-bookworm");
        expect(config.pip).toEqual({ indexUrl: undefined, caBundle: undefined });
    });

    it("reads a dbt base image from a mirror, pinned by tag or digest, with pip's index and CA bundle", () => {
        const { cert } = selfSignedCertificate("DNS:pypi.example.internal");
        const digest = "mirror.example.internal:5000/library/python@sha256:" + "c".repeat(64);
        expect(loadConfig({ platform: "docker", dbtBaseImage: digest }, context).images.dbtBaseImage).toBe(digest);
        const config = loadConfig(
            { platform: "docker", dbtBaseImage: "mirror.example.internal:5000/library/python:3.11.14-slim-bookworm", pipIndexUrl: "https://pypi.example.internal/simple", pipCaBundle: cert + cert },
            context,
        );
        expect(config.images.dbtBaseImage).toBe("mirror.example.internal:5000/library/python:3.11.14-slim-bookworm");
        expect(config.pip).toEqual({ indexUrl: "https://pypi.example.internal/simple", caBundle: cert + cert });
    });

    it("refuses a CA bundle too large to pass as a build argument, naming the key", () => {
        const { cert } = selfSignedCertificate("DNS:pypi.example.internal");
        expect(error({ platform: "docker", pipCaBundle: cert.repeat(Math.ceil((121 * 1024) / cert.length)) })).toMatch(
            /datamesh:pipCaBundle: is \d+ bytes; a build argument must stay under 122880: give the mirror's CA, not a whole system bundle/,
        );
    });

    it("reads a scale as a synthetic data source", () => {
        expect(loadConfig({ scale: "12" }, context)).toMatchObject({
            dataSource: { kind: "synthetic", scale: 12 },
            domainFingerprints: { customers: "synthetic:v1:scale=12", orders: "synthetic:v1:scale=12", payments: "synthetic:v1:scale=12" },
        });
    });

    it("takes Trino's JVM flags as a JSON list, none by default", () => {
        expect(loadConfig({ trinoJvmOptions: '["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]' }, context).trinoJvmOptions).toEqual(["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]);
        expect(loadConfig({}, context).trinoJvmOptions).toEqual([]);
    });

    it("resolves relative folders against the project", () => {
        expect(loadConfig({ stateDir: "state" }, context).stateDir).toBe("/project/state");
    });

    it.each([
        [{ platform: "nomad" }, /datamesh:platform: Invalid option: expected one of "local"\|"docker"\|"kubernetes"/],
        [{ scale: "0" }, /datamesh:scale: Too small: expected number to be >=1/],
        [{ scale: "1.5" }, /datamesh:scale: Invalid input: expected int, received number/],
        [{ scale: "many" }, /datamesh:scale: Invalid input: expected number, received NaN/],
        [{ basePort: "80" }, /datamesh:basePort: Too small/],
        [{ trinoPort: "70000" }, /datamesh:trinoPort: Too big/],
        [{ trinoPort: "15431" }, /datamesh:trinoPort: must not fall in the database ports/],
        [{ trinoMaxHeap: "lots" }, /datamesh:trinoMaxHeap: must be a JVM heap size/],
        [{ insightsSchema: "Insights-1" }, /datamesh:insightsSchema: must be a lower-case SQL identifier/],
        [{ dataDir: "x", scale: "2" }, /datamesh:scale: set either datamesh:dataDir or datamesh:scale, not both/],
        [{ sacle: "2" }, /datamesh:sacle: unknown configuration key/],
        [{ dbtProject: "/nonexistent/dbt" }, /datamesh:dbtProject: \/nonexistent\/dbt is not a folder/],
        [{ dbtProject: "/tmp" }, /datamesh:dbtProject: \/tmp has no dbt_project\.yml, so it is not a dbt project/],
        [{ protectDomainData: "yes" }, /datamesh:protectDomainData: must be true or false/],
        [{ trinoInternalPort: "18080" }, /datamesh:trinoInternalPort: must differ from trinoPort/],
        [{ analystPassword: "" }, /datamesh:analystPassword: must be at least 12 characters/],
        [{ analystPassword: "costs 5 € a month" }, /datamesh:analystPassword: must consist of printable Latin-1 characters .*Trino reads passwords as ISO-8859-1/],
        [{ analystPassword: "correct horse\tbattery" }, /datamesh:analystPassword: must consist of printable Latin-1 characters/],
        // 37 characters, 74 bytes: each ß is two bytes in UTF-8.
        [{ analystPassword: "ß".repeat(37) }, /datamesh:analystPassword: must be at most 72 bytes in UTF-8 \(bcrypt/],
        [{ trinoHostnames: "Trino_Host" }, /datamesh:trinoHostnames\.0: must be lower-case DNS names/],
        [{ trinoJvmOptions: "-XX:TieredStopAtLevel=1" }, /datamesh:trinoJvmOptions: must be a JSON list of JVM flags/],
        [{ trinoJvmOptions: '["-XX:TieredStopAtLevel=1", "-Xmx8G"]' }, /datamesh:trinoJvmOptions\.1: sets the heap: use datamesh:trinoMaxHeap/],
        [{ trinoJvmOptions: '["-XX:SharedArchiveFile=/tmp/a.jsa"]' }, /datamesh:trinoJvmOptions\.0: sets the class archive/],
        [{ trinoJvmOptions: '["-Dx=1\\n-Xmx8G"]' }, /datamesh:trinoJvmOptions\.0: must be one JVM flag/],
        [{ trinoJvmOptions: '["XX:+UseSerialGC"]' }, /datamesh:trinoJvmOptions\.0: must be one JVM flag/],
        [{ trinoCertificate: "x" }, /datamesh:trinoPrivateKey: set both datamesh:trinoCertificate and datamesh:trinoPrivateKey, or neither/],
        [{ trinoCertificate: "x", trinoPrivateKey: "y" }, /datamesh:trinoCertificate: is not a PEM certificate/],
        [{ readers: '{"shipping": ["finance"]}' }, /datamesh:readers(\.shipping)?: .*unknown domain/],
        [{ readers: '{"orders": ["Finance Team"]}' }, /datamesh:readers\.orders\.0: must be a lower-case SQL identifier/],
        [{ readers: "orders=finance" }, /datamesh:readers: must be JSON/],
        [{ readers: '{"orders": ["dbt"]}' }, /datamesh:readers\.orders\.0: 'dbt' is one of the stack's own Trino users/],
        [{ platform: "kubernetes", workers: "-1" }, /datamesh:workers: must be 0 or more/],
        [{ platform: "kubernetes", workers: '{"min":3,"max":2}' }, /datamesh:workers: min \(3\) must not exceed max \(2\)/],
        [{ platform: "kubernetes", workers: '{"min":0,"max":2}' }, /datamesh:workers: min must be a whole number, 1 or more/],
        [{ platform: "kubernetes", workers: '{"min":1,"max":2,"target":50}' }, /datamesh:workers: takes only min and max, not target/],
        [{ platform: "kubernetes", workers: "{min:1}" }, /datamesh:workers: '\{min:1\}' is neither a whole number nor/],
        [{ platform: "docker", workers: '{"min":1,"max":2}' }, /datamesh:workers: \{min, max\} scales workers with a HorizontalPodAutoscaler, on platform kubernetes only/],
        [{ platform: "kubernetes", workerGracePeriod: "2" }, /datamesh:workerGracePeriod: must be at least 5 seconds/],
        [{ platform: "kubernetes", workerGracePeriod: "soon" }, /datamesh:workerGracePeriod: must be a whole number of seconds/],
        [{ platform: "kubernetes", podSecurityLabel: "no" }, /datamesh:podSecurityLabel: must be true or false/],
        [{ platform: "kubernetes", allowedClients: "analytics,10.0.0.0/33" }, /datamesh:allowedClients: '10\.0\.0\.0\/33' is neither a namespace name nor an IPv4 CIDR/],
        [{ platform: "kubernetes", allowedClients: "Analytics" }, /datamesh:allowedClients: 'Analytics' is neither a namespace name nor an IPv4 CIDR/],
        [{ platform: "kubernetes", allowedClients: " , " }, /datamesh:allowedClients: must name at least one namespace or CIDR/],
        [{ platform: "local", podSecurityLabel: "false" }, /datamesh:platform: renderYamlTo, namespace, meshNamespace, podSecurityLabel/],
        [{ platform: "docker", workers: "two" }, /datamesh:workers: must be a whole number/],
        [{ workers: "2" }, /datamesh:workers: the local platform runs a single Trino node/],
        [{ platform: "kubernetes", trinoImage: "trinodb/trino:latest" }, /datamesh:trinoImage: 'trinodb\/trino:latest' is not pinned/],
        [{ platform: "docker", postgresImage: "postgres" }, /datamesh:postgresImage: 'postgres' is not pinned/],
        [{ platform: "kubernetes", dbtImage: "Not An Image" }, /datamesh:dbtImage: 'Not An Image' is not an image reference/],
        [{ renderYamlTo: "manifests" }, /datamesh:platform: renderYamlTo, namespace, meshNamespace, podSecurityLabel, allowedClients, workerGracePeriod, workerScaleDownWindow, dbtToolchain, kubeconfig, kubeContext and the warehouse\* keys apply to platform kubernetes only/],
        [{ platform: "kubernetes", warehouseEndpoint: "https://s3.example.com" }, /datamesh:warehouseEndpoint: an external S3 store needs all of warehouseEndpoint, warehouseBucket, warehouseAccessKey and warehouseSecretKey/],
        [{ platform: "kubernetes", warehouseEndpoint: "s3.example.com", warehouseBucket: "b", warehouseAccessKey: "a", warehouseSecretKey: "s" }, /datamesh:warehouseEndpoint: must be the S3 API.s URL/],
        [{ platform: "kubernetes", seaweedfsImage: "chrislusf\/seaweedfs" }, /datamesh:seaweedfsImage: .chrislusf\/seaweedfs. is not pinned/],
        [{ platform: "kubernetes", namespace: "Data_Mesh" }, /datamesh:namespace: must be a DNS label/],
        [{ platform: "docker", dbtBaseImage: "python" }, /datamesh:dbtBaseImage: 'python' is not pinned/],
        [{ platform: "docker", dbtBaseImage: "python:latest" }, /datamesh:dbtBaseImage: 'python:latest' is not pinned/],
        [{ platform: "docker", dbtBaseImage: "mirror.example.internal:5000/library/python" }, /datamesh:dbtBaseImage: 'mirror\.example\.internal:5000\/library\/python' is not pinned/],
        [{ platform: "docker", dbtBaseImage: "Python 3.11" }, /datamesh:dbtBaseImage: 'Python 3\.11' is not an image reference/],
        [{ platform: "kubernetes", dbtToolchain: "pip" }, /datamesh:dbtToolchain: must be volume \(install dbt\/requirements\.txt once into a volume\) or image \(dbtImage has dbt\)/],
        [{ platform: "docker", pipIndexUrl: "pypi.example.internal/simple" }, /datamesh:pipIndexUrl: must be a URL such as https:\/\/pypi\.example\.com\/simple/],
        [{ platform: "docker", pipIndexUrl: "ftp://pypi.example.internal/simple" }, /datamesh:pipIndexUrl: must start with http:\/\/ or https:\/\//],
        [{ platform: "docker", pipCaBundle: "/etc/ssl/certs/corporate.pem" }, /datamesh:pipCaBundle: must hold one or more PEM certificates/],
        [{ platform: "docker", dockerBuildNetwork: "host; rm -rf /" }, /datamesh:dockerBuildNetwork: must be a Docker network mode or name/],
        [{ platform: "docker", pipCaBundle: "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n" }, /datamesh:pipCaBundle: certificate 1 is not a valid PEM certificate/],
    ])("rejects %j naming the key", (raw, message) => {
        expect(error(raw as Record<string, string>)).toMatch(message);
    });

    it("rejects a data folder that is missing a file, naming the key and the file", () => {
        const dir = makeTempDir("config");
        fs.copyFileSync(path.join(CANONICAL_DATA_DIR, "customers.csv"), path.join(dir, "customers.csv"));
        fs.copyFileSync(path.join(CANONICAL_DATA_DIR, "orders.csv"), path.join(dir, "orders.csv"));
        expect(error({ dataDir: dir })).toBe(`invalid configuration:\ndatamesh:dataDir: data folder '${dir}' is missing '${path.join(dir, "payments.csv")}' (domain payments)`);
    });

    it("rejects a certificate that does not cover the host clients use, naming the key and the host", () => {
        const { cert, key } = selfSignedCertificate("DNS:localhost,IP:127.0.0.1");
        const certificate = { trinoCertificate: cert, trinoPrivateKey: key };
        expect(loadConfig(certificate, context).trinoTls?.certificatePem).toBe(certificate.trinoCertificate);
        expect(error({ ...certificate, trinoHostnames: "trino.example.internal" })).toBe(
            "invalid configuration:\ndatamesh:trinoCertificate: the certificate does not cover trino.example.internal (it names: DNS:localhost, IP Address:127.0.0.1)",
        );
    });

    it("rejects a data folder that does not exist", () => {
        expect(error({ dataDir: "/no/such/folder" })).toMatch("datamesh:dataDir: data folder '/no/such/folder' does not exist");
    });

    it("rejects a malformed row in a data folder, naming the file and line", () => {
        const dir = makeTempDir("config");
        for (const file of ["customers.csv", "orders.csv", "payments.csv"]) {
            fs.copyFileSync(path.join(CANONICAL_DATA_DIR, file), path.join(dir, file));
        }
        fs.appendFileSync(path.join(dir, "orders.csv"), "200,1,2018-13-01,placed\n");
        expect(error({ dataDir: dir })).toMatch(`datamesh:dataDir: ${path.join(dir, "orders.csv")}:101: column 'order_date' must be a date`);
    });
});

describe("projectConfig", () => {
    it("keeps only this project's keys, without the namespace", () => {
        expect(projectConfig({ "datamesh:scale": "2", "aws:region": "x", "datamesh:platform": "local" })).toEqual({ scale: "2", platform: "local" });
    });
});

describe("loadConfig with declared domains", () => {
    const shipping: DomainSpec = {
        ...DOMAINS[1],
        name: "shipping",
        owner: "shipping_owner",
        trinoSchema: "shipping",
        readers: ["logistics"],
        file: "domains/shipping.yaml",
        tables: [{ ...DOMAINS[1].tables[0], name: "shipments", file: "shipments.csv" }],
    };
    const loyalty: DomainSpec = {
        ...DOMAINS[0],
        name: "loyalty",
        owner: "loyalty_owner",
        readers: [],
        file: "domains/loyalty.yaml",
        tables: [{ ...DOMAINS[0].tables[0], name: "points", file: "points.csv", piiColumns: [] }],
        external: { host: "db.example.com", port: 5432, database: "loyalty", user: "trino_reader", passwordKey: "loyaltyPassword" },
    };
    const withDomains = (domains: DomainSpec[]) => ({ ...context, domains });

    it("gives a new managed domain the port after the metastore's, so that no existing server moves", () => {
        const dir = makeTempDir("config-shipping");
        for (const file of ["customers.csv", "orders.csv", "payments.csv"]) {
            fs.copyFileSync(path.join(CANONICAL_DATA_DIR, file), path.join(dir, file));
        }
        fs.writeFileSync(path.join(dir, "shipments.csv"), "id,user_id,order_date,status\n1,1,2018-01-01,shipped\n");
        const config = loadConfig({ dataDir: dir }, withDomains([...DOMAINS, shipping]));
        expect(config.domainPorts).toEqual({ customers: 15430, orders: 15431, payments: 15432, shipping: 15434 });
        expect(config.metastorePort).toBe(15433);
        expect(config.readers).toEqual({ shipping: ["logistics"] });
        expect(() => loadConfig({ dataDir: dir, trinoPort: "15434" }, withDomains([...DOMAINS, shipping]))).toThrow("datamesh:trinoPort: must not fall in the database ports basePort..basePort+4 (15430..15434)");
    });

    it("takes an external domain's password from the key its declaration names, and gives it no port or data", () => {
        const config = loadConfig({ loyaltyPassword: "s3cret-reader" }, withDomains([...DOMAINS, loyalty]));
        expect(config.externalPasswords).toEqual({ loyalty: "s3cret-reader" });
        expect(Object.keys(config.domainPorts)).toEqual(["customers", "orders", "payments"]);
        expect(Object.keys(config.domainFingerprints)).toEqual(["customers", "orders", "payments"]);
        expect(() => loadConfig({}, withDomains([...DOMAINS, loyalty]))).toThrow(
            "datamesh:loyaltyPassword: not set; external domain 'loyalty' (domains/loyalty.yaml) reads its reader's password from it",
        );
    });

    it("merges the readers a declaration names with those the configuration adds", () => {
        const config = loadConfig({ readers: JSON.stringify({ shipping: ["finance", "logistics"] }), dataDir: CANONICAL_DATA_DIR }, withDomains([...DOMAINS, { ...shipping, tables: DOMAINS[1].tables }]));
        expect(config.readers).toEqual({ shipping: ["logistics", "finance"] });
    });
});

describe("loadConfig's errors, all at once", () => {
    it("names a reader of an unknown domain beside the other keys' mistakes", () => {
        const message = error({ platform: "nomad", readers: JSON.stringify({ shipping: ["finance"] }) });
        expect(message).toContain("datamesh:platform: Invalid option");
        expect(message).toContain("datamesh:readers.shipping: unknown domain 'shipping'; declared domains: customers, orders, payments");
    });
});
