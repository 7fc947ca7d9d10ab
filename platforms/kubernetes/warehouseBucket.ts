import * as pulumi from "@pulumi/pulumi";
import { KubeTunnel, openPortForward } from "../../lib/kubectl";
import { createBucket, bucketLocation, S3Answer, S3Location } from "../../lib/s3";

/*
 * The insights' bucket, proven usable from the deploying machine before Trino is told about it: the
 * credentials open it, and the stack's own store gets the bucket created. A user's store is only
 * checked: its bucket is the user's to create, and destroy never touches it.
 */

export interface BucketInputs {
    location: S3Location;
    /** The stack's own store inside a cluster, reached through a port-forward. */
    tunnel?: KubeTunnel;
    /** Create the bucket when it is missing (the stack's own store only). */
    create: boolean;
    /** What to name in an error about each credential: a config key, or the component. */
    names: { accessKey: string; secretKey: string; bucket: string };
}

function refusal(inputs: BucketInputs, answer: S3Answer, endpoint: string): Error {
    const what = `the S3 endpoint ${endpoint} answered ${answer.status}${answer.code ? ` ${answer.code}` : ""}`;
    switch (answer.code) {
        case "InvalidAccessKeyId":
            return new Error(`${inputs.names.accessKey}: ${what}: it does not know this access key`);
        case "SignatureDoesNotMatch":
            return new Error(`${inputs.names.secretKey}: ${what}: the secret key does not match the access key`);
        case "NoSuchBucket":
            return new Error(`${inputs.names.bucket}: ${what}: bucket '${inputs.location.bucket}' does not exist; create it, or let the stack run its own store`);
        default:
            return answer.status === 403
                ? new Error(`${inputs.names.accessKey}: ${what}: these credentials may not use bucket '${inputs.location.bucket}'`)
                : new Error(`${inputs.names.bucket}: ${what}: ${answer.body.slice(0, 300)}`);
    }
}

export async function ensureBucket(inputs: BucketInputs): Promise<void> {
    const forward = inputs.tunnel ? await openPortForward(inputs.tunnel) : undefined;
    const location = forward ? { ...inputs.location, endpoint: `http://127.0.0.1:${forward.localPort}`, pathStyle: true } : inputs.location;
    try {
        // A store that has just started may not serve S3 yet.
        const deadline = Date.now() + 120_000;
        for (;;) {
            try {
                let answer = await bucketLocation(location);
                if (answer.status === 404 && inputs.create) {
                    const created = await createBucket(location);
                    if (created.status !== 200 && created.code !== "BucketAlreadyOwnedByYou") {
                        throw refusal(inputs, created, inputs.location.endpoint);
                    }
                    answer = await bucketLocation(location);
                }
                if (answer.status === 404 && !answer.code) {
                    answer = { ...answer, code: "NoSuchBucket" };
                }
                if (answer.status !== 200) {
                    throw refusal(inputs, answer, inputs.location.endpoint);
                }
                return;
            } catch (error) {
                if (!(error as Error).message.startsWith("cannot reach the S3 endpoint") || Date.now() > deadline) {
                    throw error;
                }
                await new Promise(resolve => setTimeout(resolve, 2_000));
            }
        }
    } finally {
        forward?.close();
    }
}

const bucketProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: BucketInputs) {
        await ensureBucket(inputs);
        return { id: `${inputs.location.endpoint}/${inputs.location.bucket}`, outs: inputs };
    },
    async update(_id: string, _olds: BucketInputs, news: BucketInputs) {
        await ensureBucket(news);
        return { outs: news };
    },
};

export interface WarehouseBucketArgs {
    /** The store and bucket, with the access key pair (secret). */
    location: pulumi.Input<S3Location>;
    /** The stack's own store inside a cluster: reached through a port-forward to this Service. */
    tunnel?: pulumi.Input<KubeTunnel>;
    /** Create the bucket when it is missing. */
    create: boolean;
    /** What errors name for each credential: config keys for a user's store. */
    names: { accessKey: string; secretKey: string; bucket: string };
}

/** A bucket the insights' files go to, checked (and for the stack's own store, created) on every change. */
export class WarehouseBucket extends pulumi.dynamic.Resource {
    constructor(name: string, args: WarehouseBucketArgs, opts?: pulumi.CustomResourceOptions) {
        super(bucketProvider, name, { ...args }, { ...opts, additionalSecretOutputs: ["location"] }, "datamesh", "WarehouseBucket");
    }
}
