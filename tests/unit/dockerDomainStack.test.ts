import * as pulumi from "@pulumi/pulumi";
import { domainOfProduct } from "../../lib/dataProduct";
import { dependsOn, recordDependencies, recordProtection } from "./dependencies";
import { attachUrns, installMocks, isSecret, RecordedResource, resourceNamed, UNIT_TEST_CA, valueOf } from "./mocks";

// Pulumi serializes dynamic providers through the V8 inspector, which Jest's module sandbox breaks;
// the real serialization is exercised by the integration tests' `pulumi up`.
jest.mock("@pulumi/pulumi/runtime/closure/serializeClosure", () => ({ serializeFunction: async () => ({ text: "exports.handler = undefined;", exportName: "handler" }) }));

/*
 * The customers team's domain stack on docker: its server on a network of its own, which nothing
 * else of the stack joins; the mesh's Trino containers join it (dockerMeshOfStacks.test.ts). The
 * mock stack is named "unit".
 */

const CONTAINER = "docker:index/container:Container";
const NETWORK = "docker:index/network:Network";
let resources: RecordedResource[];
let dependencies: Map<string, string[]>;
let protection: Map<string, boolean>;
let stack: Record<string, any>;

const ofType = (type: string) => resources.filter(r => r.type === type);
/** A recorded input with every secret wrapper taken off. */
const reveal = (value: any): any => {
    if (value && typeof value === "object" && "4dabf18193072939515e22adb298388d" in value) {
        return reveal(value.value);
    }
    if (Array.isArray(value)) {
        return value.map(reveal);
    }
    return value && typeof value === "object" ? Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, reveal(inner)])) : value;
};

beforeAll(async () => {
    resources = await installMocks();
    dependencies = recordDependencies();
    protection = recordProtection();
    pulumi.runtime.setAllConfig({
        "datamesh:platform": "docker",
        "datamesh:role": "domain",
        "datamesh:domain": "customers",
        "datamesh:basePort": "26430",
    });
    stack = await import("../../index");
    await valueOf(pulumi.output(stack.dataProduct));
    attachUrns(resources);
}, 60_000);

describe("a domain stack on docker", () => {
    it("runs its domain's server alone, from the image the mesh's managed domains use, and pulls no other image", () => {
        expect(ofType(CONTAINER).map(r => r.name)).toEqual(["customers-server"]);
        expect(ofType("docker:index/remoteImage:RemoteImage").map(r => [r.name, r.inputs.name])).toEqual([["docker-image-postgres", "postgres:17.6"]]);
        expect(ofType("docker:index/image:Image")).toEqual([]);
        expect(ofType("docker:index/volume:Volume").map(r => r.inputs.name)).toEqual(["datamesh-unit-customers-server-volume"]);
    });

    it("puts the server on a network of its own, which no other container of the stack joins", () => {
        expect(ofType(NETWORK).map(r => r.inputs.name)).toEqual(["datamesh-unit"]);
        const server = resourceNamed(resources, "customers-server");
        expect(server.inputs.name).toBe("datamesh-unit-customers-server");
        expect(server.inputs.networksAdvanced).toEqual([{ name: "datamesh-unit", aliases: ["customers"] }]);
    });

    it("publishes its port on 127.0.0.1 only, and loads its rows from the deploying process there, once the server is up", () => {
        const server = resourceNamed(resources, "customers-server");
        expect(server.inputs.ports).toEqual([{ internal: 5432, external: 26430, ip: "127.0.0.1", protocol: "tcp" }]);
        for (const step of ["customers-access", "customers-data"]) {
            expect({ step, host: resourceNamed(resources, step).inputs.host, port: resourceNamed(resources, step).inputs.port }).toEqual({ step, host: "127.0.0.1", port: 26430 });
        }
        expect(dependsOn(dependencies, resourceNamed(resources, "customers-access").urn, server.urn)).toBe(true);
        // The rows are in the volume, which is protected; the container is replaced when its certificate is renewed.
        expect(protection.get(resourceNamed(resources, "customers-server-volume").urn)).toBe(true);
        expect(protection.get(server.urn)).toBe(false);
    });

    it("publishes the server as the mesh's Trino reaches it, by container name on its network, with the network and the published port", async () => {
        const product = await valueOf(pulumi.output(stack.dataProduct));
        expect(product).toMatchObject({
            name: "customers",
            engine: "postgresql",
            endpoint: { host: "datamesh-unit-customers-server", port: 5432 },
            network: "datamesh-unit",
            published: { host: "127.0.0.1", port: 26430 },
            reader: { user: "customers_trino" },
            tls: { mode: "verify-full", caCert: UNIT_TEST_CA },
        });
        expect(await isSecret(stack.dataProduct.reader.password)).toBe(true);
        expect(await isSecret(pulumi.output(stack.dataProduct.endpoint))).toBe(false);
        const { domain } = domainOfProduct("organization/datamesh/customers", product);
        expect(domain.external).toEqual({
            host: "datamesh-unit-customers-server",
            port: 5432,
            database: "customers",
            user: "customers_trino",
            network: "datamesh-unit",
            published: { host: "127.0.0.1", port: 26430 },
            tls: { mode: "verify-full", caPem: UNIT_TEST_CA, caFile: "dataProduct.tls.caCert of stack organization/datamesh/customers" },
        });
    });

    it("serves TLS alone, with a certificate from the stack's CA naming the container name the mesh's Trino connects to, localhost and 127.0.0.1", async () => {
        const certificate = resourceNamed(resources, "customers-server-certificate");
        expect(reveal(certificate.inputs)).toMatchObject({
            component: "customers",
            hostnames: ["datamesh-unit-customers-server", "localhost"],
            ipAddresses: ["127.0.0.1"],
            authority: { certificatePem: UNIT_TEST_CA },
        });
        expect(resourceNamed(resources, "stack-ca").inputs.commonName).toBe("datamesh unit CA");
        const server = resourceNamed(resources, "customers-server");
        expect(server.inputs.command).toEqual([
            "postgres",
            "-c",
            "ssl=on",
            "-c",
            "ssl_cert_file=/etc/datamesh/tls/server.crt",
            "-c",
            "ssl_key_file=/etc/datamesh/tls/server.key",
            "-c",
            "hba_file=/etc/datamesh/tls/pg_hba.conf",
        ]);
        expect(server.inputs.entrypoints[2]).toBe('install -o postgres -g postgres -m 0600 /etc/datamesh/tls/upload/server.key /etc/datamesh/tls/server.key && exec docker-entrypoint.sh "$@"');
        expect(server.inputs.uploads["4dabf18193072939515e22adb298388d"]).toBeDefined();
        const key = reveal(server.inputs.uploads).find((u: { file: string }) => u.file === "/etc/datamesh/tls/upload/server.key");
        expect(key).toEqual({ file: "/etc/datamesh/tls/upload/server.key", content: expect.stringContaining("MOCK-KEY-customers-server-certificate"), permissions: "0600" });
        // The loads verify the server as the product tells the mesh to.
        for (const step of ["customers-access", "customers-data"]) {
            expect({ step, tls: reveal(resourceNamed(resources, step).inputs.tls) }).toMatchObject({ step, tls: { mode: "verify-full", caPem: UNIT_TEST_CA } });
        }
        expect(JSON.stringify(reveal({ envs: server.inputs.envs, command: server.inputs.command, entrypoints: server.inputs.entrypoints }))).not.toContain("PRIVATE KEY");
    });
});
