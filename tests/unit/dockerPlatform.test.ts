import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderDbtScript } from "../../catalogs/jobs";
import { catalogPasswordEnv } from "../../catalogs/trino";
import { DEFAULT_IMAGES } from "../../config";
import { digestDirectory, projectFiles } from "../../lib/digest";
import { selfSignedCertificate } from "../selfSigned";
import { dependsOn, recordDependencies, recordProtection } from "./dependencies";
import { attachUrns, installMocks, RecordedResource, UNIT_TEST_CA, valueOf } from "./mocks";
import { docsServerCommand } from "../../platforms/shared/docsServer";

// Pulumi serializes dynamic providers through the V8 inspector, which Jest's module sandbox breaks;
// the real serialization is exercised by the integration tests' `pulumi up`.
jest.mock("@pulumi/pulumi/runtime/closure/serializeClosure", () => ({ serializeFunction: async () => ({ text: "exports.handler = undefined;", exportName: "handler" }) }));

/* The stack on the docker platform, with two Trino workers; the mock stack is named "unit". */

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const DBT_DIR = path.join(__dirname, "..", "..", "dbt");
const CONTAINER = "docker:index/container:Container";
const DYNAMIC = (kind: string) => `pulumi-nodejs:dynamic/datamesh:${kind}`;
const BASE_CONFIG = { "datamesh:platform": "docker", "datamesh:basePort": "25430", "datamesh:trinoPort": "28080" };
let resources: RecordedResource[];
let dependencies: Map<string, string[]>;
let protection: Map<string, boolean>;
let stack: Awaited<typeof import("../../index")>;

const byName = (name: string) => {
    const found = resources.find(r => r.name === name);
    if (!found) {
        throw new Error(`no resource named ${name}; have ${resources.map(r => r.name).join(", ")}`);
    }
    return found;
};
const containers = () => resources.filter(r => r.type === CONTAINER);
const isSecretValue = (value: unknown): value is { value: unknown } => typeof value === "object" && value !== null && SECRET_SIG in value;
/** The plain value of a recorded input, with every secret wrapper taken off. */
const reveal = (value: any): any => {
    if (isSecretValue(value)) {
        return reveal(value.value);
    }
    if (Array.isArray(value)) {
        return value.map(reveal);
    }
    if (typeof value === "object" && value !== null) {
        return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, reveal(inner)]));
    }
    return value;
};
const uploadsOf = (name: string): { file: string; content?: string; contentBase64?: string }[] => reveal(byName(name).inputs.uploads);
const uploaded = (name: string, file: string) => {
    const found = uploadsOf(name).find(u => u.file === file);
    if (!found) {
        throw new Error(`${name} uploads no ${file}; it uploads ${uploadsOf(name).map(u => u.file).join(", ")}`);
    }
    return found;
};

beforeAll(async () => {
    resources = await installMocks();
    dependencies = recordDependencies();
    protection = recordProtection();
    pulumi.runtime.setAllConfig({ ...BASE_CONFIG, "datamesh:workers": "2" });
    stack = await import("../../index");
    await valueOf(stack.check);
    await valueOf(stack.trinoUrl);
    await valueOf(stack.docsUrl);
    attachUrns(resources);
});

describe("the docker platform's inventory", () => {
    it("declares one network and one pulled image per pinned image, as top-level docker-* resources", () => {
        expect(byName("docker-network").inputs.name).toBe("datamesh-unit");
        const images = resources.filter(r => r.type === "docker:index/remoteImage:RemoteImage" && !r.inputs.build);
        expect(images.map(r => [r.name, r.inputs.name, r.inputs.keepLocally])).toEqual([
            ["docker-image-postgres", "postgres:17.6", true],
            ["docker-image-mariadb", "mariadb:11.8.3", true],
            ["docker-image-trino", "trinodb/trino:476", true],
        ]);
    });

    it("parents everything else to its component and names it <component>-<role>", () => {
        const components = new Map(resources.filter(r => r.type.startsWith("datamesh:index:")).map(r => [r.name, r.type]));
        const children = resources.filter(r => r.type.startsWith("docker:") && !r.name.startsWith("docker-"));
        expect(children.length).toBeGreaterThanOrEqual(15);
        for (const child of children) {
            const owner = child.name.split("-")[0];
            expect(components.has(owner)).toBe(true);
            expect(child.urn).toContain(`::${components.get(owner)}$${child.type}::${child.name}`);
        }
    });

    it("gives each database its container from the pinned image, its own volume, its alias on the network and a port on 127.0.0.1", () => {
        const servers = [
            ["customers-server", "customers", "postgres", 25430],
            ["orders-server", "orders", "mariadb", 25431],
            ["payments-server", "payments", "postgres", 25432],
            ["insights-metastore", "insights-metastore", "postgres", 25433],
        ] as const;
        for (const [name, alias, image, port] of servers) {
            const server = byName(name);
            expect(server.type).toBe(CONTAINER);
            expect(server.inputs.image).toBe(`sha256:image-of-docker-image-${image}`);
            const volume = byName(`${name}-volume`);
            expect(volume.type).toBe("docker:index/volume:Volume");
            const dataDir = image === "postgres" ? "/var/lib/postgresql/data" : "/var/lib/mysql";
            expect(server.inputs.volumes).toEqual([{ volumeName: volume.inputs.name, containerPath: dataDir }]);
            expect(server.inputs.networksAdvanced).toEqual([{ name: "datamesh-unit", aliases: [alias] }]);
            const internal = image === "postgres" ? 5432 : 3306;
            expect(server.inputs.ports).toEqual([{ internal, external: port, ip: "127.0.0.1", protocol: "tcp" }]);
            const probe = image === "postgres" ? /^CMD pg_isready .*--host=127\.0\.0\.1/ : /^CMD healthcheck\.sh --connect --innodb_initialized$/;
            expect(server.inputs.healthcheck.tests.join(" ")).toMatch(probe);
            expect(server.inputs.wait).toBe(true);
        }
        expect(new Set(servers.map(([name]) => byName(`${name}-volume`).inputs.name)).size).toBe(servers.length);
    });

    it("hands each database its admin password as a secret file, and sets up the domains through the published ports", () => {
        const domains = [["customers", 0, "POSTGRES_PASSWORD_FILE"], ["orders", 1, "MARIADB_ROOT_PASSWORD_FILE"], ["payments", 2, "POSTGRES_PASSWORD_FILE"]] as const;
        for (const [domain, index, variable] of domains) {
            const server = byName(`${domain}-server`);
            expect(server.inputs.envs).toEqual([`${variable}=/run/secrets/admin-password`]);
            expect(server.inputs.uploads[SECRET_SIG]).toBeDefined();
            expect(uploaded(`${domain}-server`, "/run/secrets/admin-password").content).toBe(`generated-${domain}-admin-password`);
            const admin = { user: variable.startsWith("POSTGRES") ? "postgres" : "root", password: `generated-${domain}-admin-password` };
            expect(reveal(byName(`${domain}-access`).inputs)).toMatchObject({ host: "127.0.0.1", port: 25430 + index, admin });
        }
    });
});

describe("TLS on the docker platform's domain servers", () => {
    const DOMAIN_SERVERS = [
        ["customers", "postgres"],
        ["orders", "mysql"],
        ["payments", "postgres"],
    ] as const;
    // Written out here, not taken from the code under test.
    const COMMANDS: Record<string, string[]> = {
        postgres: [
            "postgres",
            "-c",
            "ssl=on",
            "-c",
            "ssl_cert_file=/etc/datamesh/tls/server.crt",
            "-c",
            "ssl_key_file=/etc/datamesh/tls/server.key",
            "-c",
            "hba_file=/etc/datamesh/tls/pg_hba.conf",
        ],
        mysql: ["mariadbd", "--ssl-cert=/etc/datamesh/tls/server.crt", "--ssl-key=/etc/datamesh/tls/server.key", "--require-secure-transport=ON"],
    };

    it("issues one certificate per domain server from the one stack CA, naming the alias Trino uses, localhost and the published address", () => {
        const cas = resources.filter(r => r.type === DYNAMIC("StackCertificateAuthority"));
        expect(cas.map(r => [r.name, r.inputs.commonName])).toEqual([["stack-ca", "datamesh unit CA"]]);
        // The CA is the stack's own, parented to no component.
        expect(byName("stack-ca").urn).toBe(`urn:pulumi:unit::datamesh::${DYNAMIC("StackCertificateAuthority")}::stack-ca`);
        const certificates = resources.filter(r => r.type === DYNAMIC("ServerCertificate"));
        expect(certificates.map(r => r.name).sort()).toEqual(["customers-server-certificate", "orders-server-certificate", "payments-server-certificate"]);
        for (const [domain] of DOMAIN_SERVERS) {
            const certificate = byName(`${domain}-server-certificate`);
            expect(reveal(certificate.inputs)).toMatchObject({ component: domain, hostnames: [domain, "localhost"], ipAddresses: ["127.0.0.1"], authority: { certificatePem: UNIT_TEST_CA } });
            expect(certificate.urn).toContain(`::datamesh:index:DomainDatabase$${DYNAMIC("ServerCertificate")}::${domain}-server-certificate`);
        }
    });

    it("runs each domain server with its certificate, TLS alone, through the image's own entrypoint after installing the key for the server's account, mode 0600", () => {
        for (const [domain, account] of DOMAIN_SERVERS) {
            const server = byName(`${domain}-server`);
            expect({ domain, command: server.inputs.command }).toEqual({ domain, command: COMMANDS[account] });
            expect({ domain, entrypoints: server.inputs.entrypoints }).toEqual({
                domain,
                entrypoints: [
                    "/bin/sh",
                    "-c",
                    `install -o ${account} -g ${account} -m 0600 /etc/datamesh/tls/upload/server.key /etc/datamesh/tls/server.key && exec docker-entrypoint.sh "$@"`,
                    "sh",
                ],
            });
        }
    });

    it("uploads the certificate readable by all and the key, as a secret, readable by root alone; PostgreSQL's rules admit TLS alone over TCP", () => {
        for (const [domain, account] of DOMAIN_SERVERS) {
            const name = `${domain}-server`;
            expect(byName(name).inputs.uploads[SECRET_SIG]).toBeDefined();
            expect(uploaded(name, "/etc/datamesh/tls/server.crt")).toEqual({
                file: "/etc/datamesh/tls/server.crt",
                content: `-----BEGIN CERTIFICATE-----\nMOCK-${name}-certificate\n-----END CERTIFICATE-----\n`,
                permissions: "0644",
            });
            expect(uploaded(name, "/etc/datamesh/tls/upload/server.key")).toEqual({
                file: "/etc/datamesh/tls/upload/server.key",
                content: `-----BEGIN PRIVATE KEY-----\nMOCK-KEY-${name}-certificate\n-----END PRIVATE KEY-----\n`,
                permissions: "0600",
            });
            const files = uploadsOf(name).map(u => u.file);
            if (account === "postgres") {
                expect(files).toEqual(["/run/secrets/admin-password", "/etc/datamesh/tls/server.crt", "/etc/datamesh/tls/upload/server.key", "/etc/datamesh/tls/pg_hba.conf"]);
                // No `host` line: a login in clear over TCP matches no rule. The socket, which the official image's entrypoint uses while it initializes, by OS account.
                expect(uploaded(name, "/etc/datamesh/tls/pg_hba.conf")).toEqual({
                    file: "/etc/datamesh/tls/pg_hba.conf",
                    content: "hostssl all all all scram-sha-256\nlocal all all peer\n",
                    permissions: "0644",
                });
            } else {
                expect(files).toEqual(["/run/secrets/admin-password", "/etc/datamesh/tls/server.crt", "/etc/datamesh/tls/upload/server.key"]);
            }
        }
    });

    it("protects each domain's data volume, not its container, so that a renewed certificate can replace the container", () => {
        for (const [domain] of DOMAIN_SERVERS) {
            const volume = byName(`${domain}-server-volume`);
            const server = byName(`${domain}-server`);
            expect({ domain, volume: protection.get(volume.urn), container: protection.get(server.urn) }).toEqual({ domain, volume: true, container: false });
        }
        // A new certificate is a new upload, which the provider can only apply by replacing the container.
        expect(dependsOn(dependencies, byName("customers-server").urn, byName("customers-server-certificate").urn)).toBe(true);
    });

    it("leaves the metastore's container as it was: in clear, the image's own entrypoint and command, its password the only upload", () => {
        const metastore = byName("insights-metastore");
        // The inputs it had before the domain servers served TLS, no more.
        expect(Object.keys(metastore.inputs).sort()).toEqual(["envs", "healthcheck", "image", "name", "networksAdvanced", "ports", "restart", "uploads", "volumes", "wait", "waitTimeout"]);
        expect(metastore.inputs.uploads[SECRET_SIG]).toBeDefined();
        expect(uploadsOf("insights-metastore")).toEqual([{ file: "/run/secrets/admin-password", content: "generated-insights-admin-password" }]);
        expect(resources.map(r => r.name)).not.toContain("insights-metastore-certificate");
    });

    it("has the deploying process's loads verify each domain server against the stack's CA at its published port", () => {
        for (const [domain] of DOMAIN_SERVERS) {
            for (const step of [`${domain}-access`, `${domain}-data`]) {
                expect({ step, tls: reveal(byName(step).inputs.tls) }).toEqual({ step, tls: { mode: "verify-full", caPem: UNIT_TEST_CA, caFile: "the stack's CA (stack output domains.<domain>.tls.caCert)" } });
            }
        }
    });

    it("tells users, in the domains output, to verify the servers against the stack's CA", async () => {
        for (const [domain] of DOMAIN_SERVERS) {
            expect(await valueOf(pulumi.output(stack.domains[domain].tls))).toEqual({ mode: "verify-full", caCert: UNIT_TEST_CA });
        }
    });
});

describe("Trino on docker", () => {
    const workers = () => containers().filter(r => /^trino-server-worker-\d+$/.test(r.name));

    it("uploads exactly one catalog per domain plus the insights catalog to every node, each reaching its server by its alias on the network, over TLS checked against the stack's CA", () => {
        // Written out here, not rendered by the code under test: the connector, the address on the network and the certificate check, the reader, and no password.
        const expected: Record<string, string[]> = {
            customers: [
                "connector.name=postgresql",
                "connection-url=jdbc:postgresql://customers:5432/customers?sslmode=verify-full&sslrootcert=/etc/trino/catalog/customers-ca.pem",
                "connection-user=customers_trino",
                `connection-password=\${ENV:${catalogPasswordEnv("customers")}}`,
            ],
            // The metastore is not a domain: it speaks in clear, on the stack's own network.
            insights: ["connector.name=iceberg", "iceberg.catalog.type=jdbc", "iceberg.jdbc-catalog.connection-url=jdbc:postgresql://insights-metastore:5432/iceberg_catalog", "iceberg.jdbc-catalog.connection-user=iceberg_trino"],
            orders: [
                "connector.name=mariadb",
                "connection-url=jdbc:mariadb://orders:3306?sslMode=verify-full&serverSslCert=/etc/trino/catalog/orders-ca.pem",
                "connection-user=orders_trino",
                `connection-password=\${ENV:${catalogPasswordEnv("orders")}}`,
            ],
            payments: [
                "connector.name=postgresql",
                "connection-url=jdbc:postgresql://payments:5432/payments?sslmode=verify-full&sslrootcert=/etc/trino/catalog/payments-ca.pem",
                "connection-user=payments_trino",
                `connection-password=\${ENV:${catalogPasswordEnv("payments")}}`,
            ],
        };
        for (const node of ["trino-server", ...workers().map(w => w.name)]) {
            const cas = uploadsOf(node).filter(u => u.file.startsWith("/etc/trino/catalog/") && u.file.endsWith("-ca.pem"));
            expect({ node, cas: cas.map(u => [u.file, u.content]) }).toEqual({
                node,
                cas: ["customers", "orders", "payments"].map(domain => [`/etc/trino/catalog/${domain}-ca.pem`, UNIT_TEST_CA]),
            });
            const catalogs = uploadsOf(node).filter(u => u.file.startsWith("/etc/trino/catalog/") && u.file.endsWith(".properties"));
            expect(catalogs.map(u => u.file)).toEqual(Object.keys(expected).map(name => `/etc/trino/catalog/${name}.properties`));
            for (const upload of catalogs) {
                const content = upload.content ?? "";
                const lines = content.split("\n");
                const name = path.basename(upload.file, ".properties");
                expect({ node, name, lines: expected[name].filter(line => !lines.includes(line)) }).toEqual({ node, name, lines: [] });
                expect(content).not.toMatch(/password=(?!\$\{ENV:)/);
            }
        }
    });

    it("runs the coordinator and two workers, all mounting the one warehouse volume that Trino's user owns", () => {
        expect(workers().map(w => w.name).sort()).toEqual(["trino-server-worker-1", "trino-server-worker-2"]);
        const warehouse = byName("insights-warehouse");
        expect(warehouse.type).toBe("docker:index/volume:Volume");
        const mount = { volumeName: warehouse.inputs.name, containerPath: "/data/warehouse" };
        for (const node of [byName("trino-server"), ...workers()]) {
            expect(node.inputs.image).toBe("sha256:image-of-docker-image-trino");
            expect(node.inputs.volumes).toEqual([mount]);
            expect(node.inputs.healthcheck.tests).toEqual(["CMD", "/usr/lib/trino/bin/health-check"]);
            expect(node.inputs.wait).toBe(true);
        }
        const owner = byName("insights-warehouse-owner");
        expect(owner.inputs).toMatchObject({ user: "root", entrypoints: ["chown"], command: ["trino:trino", "/data/warehouse"], volumes: [mount], attach: true, mustRun: false });
    });

    it("lays the nodes out as a cluster: the coordinator schedules no work, the workers find it by its alias", () => {
        const config = (node: string) => uploaded(node, "/etc/trino/config.properties").content!;
        expect(config("trino-server")).toContain("node-scheduler.include-coordinator=false\n");
        expect(config("trino-server")).toContain("discovery.uri=http://trino:28081\n");
        expect(config("trino-server")).toContain("http-server.https.port=28080\n");
        expect(uploaded("trino-server", "/etc/trino/node.properties").content).not.toContain("node.id");
        for (const worker of workers()) {
            expect(config(worker.name)).toContain("coordinator=false\n");
            expect(config(worker.name)).toContain("discovery.uri=http://trino:28081\n");
            expect(worker.inputs.ports).toEqual([]);
        }
        const coordinator = byName("trino-server");
        expect(coordinator.inputs.networksAdvanced).toEqual([{ name: "datamesh-unit", aliases: ["trino"] }]);
        expect(coordinator.inputs.ports).toEqual([{ internal: 28080, external: 28080, ip: "127.0.0.1", protocol: "tcp" }]);
        expect(coordinator.inputs.entrypoints[2]).toMatch(/exec \/usr\/lib\/trino\/bin\/run-trino -Dquery-manager\.required-workers=2$/);
    });

    it("passes Trino's secrets in an uploaded env file that the entrypoint sources, and the keystore as a file", () => {
        for (const node of ["trino-server", ...workers().map(w => w.name)]) {
            expect(byName(node).inputs.uploads[SECRET_SIG]).toBeDefined();
            const script = /^set -a; \. \/etc\/trino\/secrets\.env; set \+a; exec \/usr\/lib\/trino\/bin\/run-trino/;
            expect(byName(node).inputs.entrypoints).toEqual(["/bin/sh", "-c", expect.stringMatching(script)]);
            expect(uploaded(node, "/etc/trino/secrets.env").content).toBe(
                [
                    "CUSTOMERS_DB_PASSWORD='generated-customers-reader-password'",
                    "INSIGHTS_DB_PASSWORD='generated-insights-connector-password'",
                    "ORDERS_DB_PASSWORD='generated-orders-reader-password'",
                    "PAYMENTS_DB_PASSWORD='generated-payments-reader-password'",
                    "TRINO_KEYSTORE_PASSWORD='generated-trino-keystore-password'",
                    "TRINO_SHARED_SECRET='generated-trino-shared-secret'",
                    "",
                ].join("\n"),
            );
            expect(uploaded(node, "/etc/trino/keystore.p12").contentBase64).toBe("a2V5c3RvcmU=");
        }
        expect(uploaded("trino-server", "/etc/trino/password.db").content).toMatch(/^analyst:\$2y\$10\$/);
        for (const worker of workers()) {
            expect(uploadsOf(worker.name).map(u => u.file)).not.toContain("/etc/trino/password.db");
        }
    });

    it("makes the certificate cover the alias dbt uses", () => {
        expect(byName("trino-tls").inputs.hostnames).toEqual(["localhost", "trino"]);
    });
});

describe("dbt on docker", () => {
    it("builds the toolchain image from the project's Dockerfile, tagged with the pinned name and never pushed", () => {
        const build = { context: DBT_DIR, dockerfile: path.join(DBT_DIR, "Dockerfile"), builder: "default" };
        expect(byName("dbt-run-image").type).toBe("docker:index/remoteImage:RemoteImage");
        expect(byName("dbt-run-image").inputs).toMatchObject({ name: "datamesh/dbt-trino:1.11.0", keepLocally: true, build });
        const dockerfile = fs.readFileSync(path.join(DBT_DIR, "Dockerfile"), "utf8");
        expect(dockerfile).toMatch(/^FROM \$\{DBT_BASE_IMAGE\}$/m);
        expect(dockerfile.match(/^ARG DBT_BASE_IMAGE=(.*)$/m)?.[1]).toBe(DEFAULT_IMAGES.dbtBaseImage);
        expect(dockerfile.match(/^COPY .*/gm)).toEqual(["COPY requirements.txt /tmp/requirements.txt"]);
        expect(dockerfile).toMatch(/^USER dbt$/m);
        expect(fs.readFileSync(path.join(DBT_DIR, ".dockerignore"), "utf8").split("\n").filter(line => line && !line.startsWith("#"))).toEqual(["*", "!requirements.txt"]);
    });

    it("passes the base image as the only build argument, and no secret, when pip's settings are unset, so that pip keeps its defaults", () => {
        expect(byName("dbt-run-image").inputs.build.buildArgs).toEqual({ DBT_BASE_IMAGE: "python:3.11.14-slim-bookworm" });
        expect(byName("dbt-run-image").inputs.build.networkMode).toBeUndefined();
        expect(byName("dbt-run-image").inputs.build.secrets).toBeUndefined();
        const dockerfile = fs.readFileSync(path.join(DBT_DIR, "Dockerfile"), "utf8");
        expect(dockerfile.match(/^ARG PIP_\w+=.*$/gm)).toEqual(["ARG PIP_CA_BUNDLE="]);
        // The index's URL only ever as a secret mounted for the one RUN that installs, read when the file is there and not empty.
        expect(dockerfile).toContain("RUN --mount=type=secret,id=pip_index_url \\\n");
        expect(dockerfile).toContain('if [ -s /run/secrets/pip_index_url ]; then PIP_INDEX_URL="$(cat /run/secrets/pip_index_url)" && export PIP_INDEX_URL; fi');
        expect(dockerfile).not.toMatch(/ARG PIP_INDEX_URL|ENV PIP_INDEX_URL/);
        expect(dockerfile).toContain('if [ -n "$PIP_CA_BUNDLE" ]; then printf \'%s\\n\' "$PIP_CA_BUNDLE" > /tmp/pip-ca.pem && export PIP_CERT=/tmp/pip-ca.pem; fi');
    });

    it("runs once on the network from the built image, to the end, labelled with what makes it run again", () => {
        const run = byName("dbt-run");
        expect(run.inputs).toMatchObject({ image: "sha256:image-of-dbt-run-image", attach: true, logs: true, mustRun: false, networksAdvanced: [{ name: "datamesh-unit" }] });
        expect(run.inputs.labels).toEqual([
            { label: "datamesh.dbt.project-digest", value: digestDirectory(DBT_DIR) },
            { label: "datamesh.dbt.run-schema", value: byName("check-publication").inputs.runSchema },
        ]);
    });

    it("uploads the project, the profile, the CA certificate, the script and a secret env file the entrypoint sources", () => {
        const files = uploadsOf("dbt-run");
        const projectUploads = files.filter(u => u.file.startsWith("/dbt/project/")).map(u => u.file.slice("/dbt/project/".length));
        expect(projectUploads).toEqual(projectFiles(DBT_DIR));
        expect(projectUploads).toContain("models/marts/dim_customers.sql");
        expect(projectUploads.some(file => /^(target|logs|dbt_packages)\//.test(file))).toBe(false);
        const profile = uploaded("dbt-run", "/dbt/profile/profiles.yml").content!;
        expect(profile).toContain("host: trino\n");
        expect(profile).toContain("port: 28080\n");
        expect(profile).toContain('cert: "/dbt/profile/trino-ca.pem"\n');
        expect(profile).toContain("DATAMESH_DBT_PASSWORD");
        expect(uploaded("dbt-run", "/dbt/profile/trino-ca.pem").content).toMatch(/^-----BEGIN CERTIFICATE-----/);
        const vars = {
            customers_catalog: "customers",
            customers_schema: "public",
            orders_catalog: "orders",
            orders_schema: "orders",
            payments_catalog: "payments",
            payments_schema: "public",
        };
        expect(uploaded("dbt-run", "/dbt/run.sh").content).toBe(renderDbtScript({ projectDir: "/dbt/project", profilesDir: "/dbt/profile", workDir: "/dbt/work", vars }));
        expect(uploaded("dbt-run", "/dbt/secrets.env").content).toBe("DATAMESH_DBT_PASSWORD='generated-trino-dbt-password'\n");
        expect(byName("dbt-run").inputs.uploads[SECRET_SIG]).toBeDefined();
        expect(byName("dbt-run").inputs.entrypoints).toEqual(["/bin/sh", "-c", "set -a; . /dbt/secrets.env; set +a; exec /bin/sh /dbt/run.sh"]);
    });
});

describe("the dbt docs site on docker", () => {
    it("serves a volume from the dbt image on 127.0.0.1, and generates the page into it after the publication", async () => {
        const server = byName("docs-site");
        const volume = byName("docs-site-volume");
        expect(server.inputs.image).toBe(byName("dbt-run").inputs.image);
        expect(server.inputs.entrypoints).toEqual(docsServerCommand("/site", 8080));
        expect(server.inputs.ports).toEqual([{ internal: 8080, external: 28082, ip: "127.0.0.1", protocol: "tcp" }]);
        expect(server.inputs.volumes).toEqual([{ volumeName: volume.inputs.name, containerPath: "/site", readOnly: true }]);
        // The volume is handed to dbt's user before anything writes to it.
        const owner = byName("docs-site-owner");
        expect(owner.inputs).toMatchObject({ user: "root", entrypoints: ["chown"], command: ["dbt:dbt", "/site"], volumes: [{ volumeName: volume.inputs.name, containerPath: "/site" }] });

        const generate = byName("docs-site-generate");
        const publication = byName("check-publication");
        expect(generate.inputs.volumes).toEqual([{ volumeName: volume.inputs.name, containerPath: "/site" }]);
        expect(generate.inputs.labels).toEqual([
            { label: "datamesh.dbt.project-digest", value: digestDirectory(DBT_DIR) },
            { label: "datamesh.docs.published-run", value: publication.state.publishedRun },
        ]);
        const script = uploaded("docs-site-generate", "/dbt/run.sh").content!;
        expect(script).toContain("dbt docs generate --static");
        expect(script).toContain(`docs site: serving ${publication.state.publishedRun}`);
        expect(uploaded("docs-site-generate", "/dbt/profile/profiles.yml").content).toContain(`schema: ${publication.state.publishedRun}`);
        expect(reveal(byName("docs-site-generate").inputs.uploads).map((u: { file: string }) => u.file)).toEqual(uploadsOf("dbt-run").map(u => u.file));

        expect(dependsOn(dependencies, generate.urn, publication.urn)).toBe(true);
        expect(dependsOn(dependencies, generate.urn, server.urn)).toBe(true);
        expect(await valueOf(stack.docsUrl)).toBe("http://127.0.0.1:28082/");
    });
});

describe("a second `pulumi up`", () => {
    const probed = () => containers().filter(c => c.inputs.healthcheck !== undefined);

    it("declares every healthcheck field the provider saves, each as the provider writes it", () => {
        const database = { interval: "2s", timeout: "5s", startPeriod: "2m0s", startInterval: "0s", retries: 5 };
        const trino = { interval: "5s", timeout: "5s", startPeriod: "5m0s", startInterval: "0s", retries: 3 };
        const servers = ["customers-server", "orders-server", "payments-server", "insights-metastore"];
        const docs = { interval: "2s", timeout: "5s", startPeriod: "30s", startInterval: "0s", retries: 5 };
        const nodes = ["trino-server", "trino-server-worker-1", "trino-server-worker-2"];
        expect(probed().map(c => c.name).sort()).toEqual([...servers, ...nodes, "docs-site"].sort());
        for (const container of probed()) {
            const { tests, ...timing } = container.inputs.healthcheck;
            expect(tests[0]).toBe("CMD");
            const expected = nodes.includes(container.name) ? trino : container.name === "docs-site" ? docs : database;
            expect({ container: container.name, timing }).toEqual({ container: container.name, timing: expected });
        }
    });

    it("leaves the provider nothing to change: each container's inputs equal the state the provider saved for it", () => {
        expect(containers().length).toBe(12);
        for (const container of containers()) {
            const saved = Object.fromEntries(Object.keys(container.inputs).map(key => [key, container.state[key]]));
            expect({ container: container.name, inputs: container.inputs }).toEqual({ container: container.name, inputs: saved });
        }
    });
});

describe("secrets", () => {
    it("never puts a password, the keystore, a server's key or the CA's key in a container's envs, command, entrypoints or labels", () => {
        const passwords = resources.filter(r => r.type.endsWith(":GeneratedPassword")).map(r => `generated-${r.name}`);
        expect(passwords.length).toBeGreaterThan(10);
        const serverKeys = ["customers", "orders", "payments"].map(domain => `MOCK-KEY-${domain}-server-certificate`);
        const secrets = [...passwords, "a2V5c3RvcmU=", "keystore", ...serverKeys, "MOCK-CA-KEY", "PRIVATE KEY"];
        expect(containers().length).toBe(12);
        for (const container of containers()) {
            const { envs, command, entrypoints, labels } = container.inputs;
            const exposed = JSON.stringify(reveal({ envs, command, entrypoints, labels }));
            for (const secret of secrets) {
                expect({ container: container.name, leaks: exposed.includes(secret) ? secret : undefined }).toEqual({ container: container.name, leaks: undefined });
            }
        }
    });
});

describe("the order of the deployment", () => {
    const urn = (name: string) => byName(name).urn;

    it("starts Trino after every database, dbt after Trino, and checks after the dbt run", () => {
        for (const server of ["customers-server", "orders-server", "payments-server", "insights-metastore", "insights-warehouse-owner"]) {
            expect({ server, before: dependsOn(dependencies, urn("trino-server"), urn(server)) }).toEqual({ server, before: true });
        }
        expect(dependsOn(dependencies, urn("dbt-run"), urn("trino-server"))).toBe(true);
        for (const load of ["customers-data", "orders-data", "payments-data"]) {
            expect(dependsOn(dependencies, urn("dbt-run"), urn(load))).toBe(true);
        }
        expect(dependsOn(dependencies, urn("check-reconciliation"), urn("dbt-run"))).toBe(true);
        expect(dependsOn(dependencies, urn("trino-server"), urn("dbt-run"))).toBe(false);
    });

    it("reports the coordinator ready only once the workers are", () => {
        for (const worker of ["trino-server-worker-1", "trino-server-worker-2"]) {
            expect(dependsOn(dependencies, urn("trino-server"), urn(worker))).toBe(true);
        }
    });
});

describe("stack outputs", () => {
    it("exports Trino and the domains on 127.0.0.1 at their published ports", async () => {
        expect(await valueOf(stack.trinoUrl)).toBe("https://127.0.0.1:28080");
        // What the coordinator answered through its published port, not the pinned version echoed back.
        const nodes = resources.find(r => r.type.endsWith(":TrinoNodes") && r.name === "trino-server-nodes")!;
        expect((nodes.inputs.access.value ?? nodes.inputs.access).connection).toMatchObject({ url: "https://127.0.0.1:28080", user: "datamesh_check" });
        expect(nodes.inputs.nodes).toBe(3);
        expect(await valueOf(stack.trinoVersion)).toBe(nodes.state.version);
        for (const [domain, port] of [["customers", 25430], ["orders", 25431], ["payments", 25432]] as const) {
            expect(await valueOf(stack.domains[domain].host)).toBe("127.0.0.1");
            expect(await valueOf(stack.domains[domain].port)).toBe(port);
        }
        expect(await valueOf(stack.dbtSummary)).toBe("Done. PASS=1 WARN=0 ERROR=0 SKIP=0 TOTAL=1");
        expect(await valueOf(stack.check)).toBe(byName("check-publication").state.summary);
    });
});

describe("images the docker platform refuses", () => {
    const load = async (config: Record<string, string>) => {
        const before = resources.length;
        pulumi.runtime.setAllConfig({ ...BASE_CONFIG, ...config });
        let failure: Error | undefined;
        await jest.isolateModulesAsync(async () => {
            await import("../../index").catch((e: Error) => (failure = e));
        });
        expect(resources.length).toBe(before);
        return failure?.message;
    };

    it("rejects a 'latest' tag, naming the key", async () => {
        expect(await load({ "datamesh:postgresImage": "postgres:latest" })).toMatch(/datamesh:postgresImage: 'postgres:latest' is not pinned/);
    });

    it("rejects a dbt base image without a tag or tagged 'latest', naming the key", async () => {
        expect(await load({ "datamesh:dbtBaseImage": "python" })).toMatch(/datamesh:dbtBaseImage: 'python' is not pinned/);
        expect(await load({ "datamesh:dbtBaseImage": "mirror.example:5000/library/python:latest" })).toMatch(/datamesh:dbtBaseImage: 'mirror\.example:5000\/library\/python:latest' is not pinned/);
    });

    it("rejects a Trino image that does not run the pinned release, naming the key", async () => {
        expect(await load({ "datamesh:trinoImage": "trinodb/trino:475" })).toMatch(/datamesh:trinoImage: 'trinodb\/trino:475' runs Trino 475, but the stack pins Trino 476/);
        expect(await load({ "datamesh:trinoImage": "trinodb/trino@sha256:" + "a".repeat(64) })).toMatch(/datamesh:trinoImage: .* has no tag, but the stack pins Trino 476/);
    });
});

describe("dbt's image behind a registry mirror", () => {
    const baseImage = "mirror.example.internal:5000/library/python@sha256:" + "b".repeat(64);
    const indexUrl = "https://token:s3cret@pypi.example.internal/simple";
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "datamesh-docker-unit-"));
    const secretFile = path.join(stateDir, "pip-index-url");
    let caBundle: string;
    let image: RecordedResource;
    let fileAfterUp: { content: string; mode: number };
    let fileLeftWhenUnset: boolean;

    const deploy = async (config: Record<string, string>) => {
        pulumi.runtime.setAllConfig({ ...BASE_CONFIG, "datamesh:stateDir": stateDir, ...config });
        await jest.isolateModulesAsync(async () => {
            const program = await import("../../index");
            await valueOf(program.dbtSummary);
        });
        return resources.filter(r => r.name === "dbt-run-image").pop()!;
    };

    beforeAll(async () => {
        caBundle = selfSignedCertificate("DNS:pypi.example.internal").cert;
        image = await deploy({ "datamesh:dbtBaseImage": baseImage, "datamesh:pipIndexUrl": indexUrl, "datamesh:pipCaBundle": caBundle, "datamesh:dockerBuildNetwork": "host" });
        fileAfterUp = { content: fs.readFileSync(secretFile, "utf8"), mode: fs.statSync(secretFile).mode & 0o777 };
        await deploy({});
        fileLeftWhenUnset = fs.existsSync(secretFile);
    });

    afterAll(() => fs.rmSync(stateDir, { recursive: true, force: true }));

    it("builds FROM the configured base image, with the CA bundle as a build argument", () => {
        expect(image.inputs.build.buildArgs).toEqual({ DBT_BASE_IMAGE: baseImage, PIP_CA_BUNDLE: caBundle });
    });

    it("gives pip's index URL, which may carry a token, to the build as a BuildKit secret read from a file only the user can read", () => {
        expect(image.inputs.build.secrets).toEqual([{ id: "pip_index_url", src: secretFile }]);
        expect(fileAfterUp).toEqual({ content: indexUrl, mode: 0o600 });
        // Neither the image's history (build arguments) nor the stack's state (inputs) holds the token: only the file's path.
        expect(JSON.stringify(reveal(image.inputs))).not.toContain("s3cret");
    });

    it("removes that file once the setting is unset", () => {
        expect(fileLeftWhenUnset).toBe(false);
    });

    it("runs the build's RUN steps on the configured network, for an engine without a default bridge", () => {
        expect(image.inputs.build.networkMode).toBe("host");
    });
});

