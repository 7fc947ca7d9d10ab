import * as pulumi from "@pulumi/pulumi";
import { S3Warehouse } from "../../catalogs/trino";
import { CONFIG_NAMESPACE, ExternalS3 } from "../../config";
import { GeneratedPassword } from "../../resources/password";
import { WarehouseBucket } from "./warehouseBucket";
import { Warehouse } from "../platform";
import { Cluster } from "./cluster";
import { podsOf } from "./networkPolicies";
import { IMAGE_USERS } from "./podSecurity";
import { TRINO_NODES } from "./trino";
import { singleServer } from "./singleServer";
import { RESOURCE_SIZES } from "./sizing";

/*
 * Where the insights' Iceberg files live on a cluster: an S3 bucket every Trino node reaches. Either
 * the stack runs its own SeaweedFS (one server with its volume claim), or the user names a store
 * they already have, and the stack then runs none.
 */

const S3_PORT = 8333;
const ACCESS_KEY_ENV = "WAREHOUSE_ACCESS_KEY";
const SECRET_KEY_ENV = "WAREHOUSE_SECRET_KEY";

function trinoEnv(accessKey: pulumi.Input<string>, secretKey: pulumi.Input<string>): pulumi.Output<Record<string, string>> {
    return pulumi.secret(pulumi.all([accessKey, secretKey]).apply(([access, secret]): Record<string, string> => ({ [ACCESS_KEY_ENV]: access, [SECRET_KEY_ENV]: secret })));
}

/** The user's own S3 store: checked from the deploying machine with the given credentials, never created or deleted. */
export function externalWarehouse(name: string, store: ExternalS3, opts: pulumi.CustomResourceOptions): Warehouse {
    const key = (suffix: string) => `${CONFIG_NAMESPACE}:warehouse${suffix}`;
    const storage: S3Warehouse = { kind: "s3", endpoint: store.endpoint, region: store.region, bucket: store.bucket, pathStyle: store.pathStyle, accessKeyEnv: ACCESS_KEY_ENV, secretKeyEnv: SECRET_KEY_ENV };
    const bucket = new WarehouseBucket(
        `${name}-bucket`,
        {
            location: pulumi.secret({ endpoint: store.endpoint, bucket: store.bucket, region: store.region, pathStyle: store.pathStyle, accessKey: store.accessKey, secretKey: store.secretKey }),
            create: false,
            names: { accessKey: key("AccessKey"), secretKey: key("SecretKey"), bucket: key("Bucket") },
        },
        opts,
    );
    return { storage: bucket.id.apply(() => storage), trinoEnv: trinoEnv(store.accessKey, store.secretKey), resource: bucket };
}

/** The stack's own S3 store: SeaweedFS, its identities from a Secret, the bucket created once it serves. */
export function seaweedfsWarehouse(cluster: Cluster, image: string, name: string, opts: pulumi.CustomResourceOptions): Warehouse {
    const component = name.split("-")[0];
    const accessKey = new GeneratedPassword(`${name}-access-key`, { length: 20 }, opts);
    const secretKey = new GeneratedPassword(`${name}-secret-key`, { length: 40 }, opts);
    const identities = cluster.secret(
        `${name}-identities`,
        component,
        "warehouse",
        pulumi.all([accessKey.value, secretKey.value]).apply(([access, secret]) => ({
            "s3.json": JSON.stringify({ identities: [{ name: "trino", credentials: [{ accessKey: access, secretKey: secret }], actions: ["Admin", "Read", "List", "Tagging", "Write"] }] }),
        })),
        opts,
    );
    const { service, ready: serving } = singleServer(
        cluster,
        name,
        {
            component,
            role: "warehouse",
            container: {
                name: "seaweedfs",
                image,
                // Only the S3 API answers on the pod's address, and only to the Secret's identity: the master, volume and
                // filer servers, which take requests without credentials, listen on the loopback interface for the S3 gateway
                // beside them; the Iceberg and Lance endpoints, which the stack does not use, stay closed.
                args: [
                    "server",
                    "-dir=/data",
                    "-ip=127.0.0.1",
                    "-ip.bind=127.0.0.1",
                    "-master.volumeSizeLimitMB=1024",
                    "-volume.max=0",
                    "-s3",
                    "-s3.ip.bind=0.0.0.0",
                    `-s3.port=${S3_PORT}`,
                    "-s3.port.iceberg=0",
                    "-s3.port.lance=0",
                    "-s3.config=/etc/datamesh/s3/s3.json",
                ],
                readinessProbe: { tcpSocket: { port: S3_PORT }, periodSeconds: 5 },
            },
            port: { name: "s3", number: S3_PORT },
            dataDir: "/data",
            storage: "5Gi",
            size: RESOURCE_SIZES.objectStore,
            user: IMAGE_USERS.seaweedfs,
            scratch: ["/tmp"],
            clients: TRINO_NODES.map(role => podsOf(cluster, role)),
            extraVolumes: [
                {
                    volume: { name: "identities", secret: { secretName: identities.metadata.name } },
                    mount: { name: "identities", mountPath: "/etc/datamesh/s3", readOnly: true },
                },
            ],
        },
        { ...opts, dependsOn: [identities] },
    );
    const endpoint = `http://${cluster.serviceHost(name)}:${S3_PORT}`;
    const tunnel = cluster.tunnel(service.metadata.name, S3_PORT);
    const bucket = tunnel
        ? new WarehouseBucket(
              `${name}-bucket`,
              {
                  location: pulumi.secret(
                      pulumi.all([accessKey.value, secretKey.value]).apply(([access, secret]) => ({ endpoint, bucket: name, region: "us-east-1", pathStyle: true, accessKey: access, secretKey: secret })),
                  ),
                  tunnel,
                  create: true,
                  names: { accessKey: `${component}: the warehouse's access key`, secretKey: `${component}: the warehouse's secret key`, bucket: `${component}: the warehouse bucket` },
              },
              { ...opts, dependsOn: [serving, service] },
          )
        : undefined;
    const ready = bucket ?? serving;
    const storage: S3Warehouse = { kind: "s3", endpoint, region: "us-east-1", bucket: name, pathStyle: true, accessKeyEnv: ACCESS_KEY_ENV, secretKeyEnv: SECRET_KEY_ENV };
    return { storage: ready.urn.apply(() => storage), trinoEnv: trinoEnv(accessKey.value, secretKey.value), resource: ready };
}
