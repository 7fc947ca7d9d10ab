import * as crypto from "crypto";

/*
 * The two bucket calls the stack makes itself, signed with AWS Signature Version 4: whether a bucket
 * exists (and the credentials open it), and creating it. Any S3-compatible store answers them, so
 * the stack needs no S3 SDK for its own store or a user's.
 */

export interface S3Location {
    /** http(s)://host[:port] of the S3 API. */
    endpoint: string;
    bucket: string;
    region: string;
    /** Bucket in the path (most self-hosted stores) rather than in the host name (AWS's default). */
    pathStyle: boolean;
    accessKey: string;
    secretKey: string;
}

export interface S3Answer {
    status: number;
    /** The S3 error code of a failed call, e.g. InvalidAccessKeyId or NoSuchBucket. */
    code?: string;
    body: string;
}

const sha256 = (data: string | Buffer) => crypto.createHash("sha256").update(data).digest("hex");
const hmac = (key: crypto.BinaryLike, data: string) => crypto.createHmac("sha256", key).update(data).digest();

/** The headers that sign one request, at the given time. */
export function signV4(request: { method: string; url: URL; region: string; accessKey: string; secretKey: string; body: string; now: Date }): Record<string, string> {
    const amzDate = request.now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
    const day = amzDate.slice(0, 8);
    const payloadHash = sha256(request.body);
    const headers: Record<string, string> = { host: request.url.host, "x-amz-content-sha256": payloadHash, "x-amz-date": amzDate };
    const signedHeaders = Object.keys(headers).sort().join(";");
    const canonicalHeaders = Object.keys(headers)
        .sort()
        .map(name => `${name}:${headers[name]}\n`)
        .join("");
    const canonicalPath = request.url.pathname.split("/").map(encodeURIComponent).join("/") || "/";
    const canonicalQuery = [...request.url.searchParams.entries()]
        .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
        .sort()
        .join("&");
    const canonicalRequest = [request.method, canonicalPath, canonicalQuery, canonicalHeaders, signedHeaders, payloadHash].join("\n");
    const scope = `${day}/${request.region}/s3/aws4_request`;
    const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, sha256(canonicalRequest)].join("\n");
    const signingKey = hmac(hmac(hmac(hmac(`AWS4${request.secretKey}`, day), request.region), "s3"), "aws4_request");
    const signature = crypto.createHmac("sha256", signingKey).update(stringToSign).digest("hex");
    return { ...headers, authorization: `AWS4-HMAC-SHA256 Credential=${request.accessKey}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}` };
}

export function bucketUrl(location: Pick<S3Location, "endpoint" | "bucket" | "pathStyle">): URL {
    const base = new URL(location.endpoint);
    if (location.pathStyle) {
        return new URL(`${base.origin}/${location.bucket}`);
    }
    return new URL(`${base.protocol}//${location.bucket}.${base.host}/`);
}

async function call(location: S3Location, method: "GET" | "PUT", body: string, query = ""): Promise<S3Answer> {
    const url = new URL(bucketUrl(location).toString() + query);
    const headers = signV4({ method, url, region: location.region, accessKey: location.accessKey, secretKey: location.secretKey, body, now: new Date() });
    const transport = url.protocol === "https:" ? require("https") : require("http");
    return new Promise((resolve, reject) => {
        const request = transport.request(url, { method, headers: { ...headers, "content-length": Buffer.byteLength(body) }, timeout: 30_000, agent: false }, (response: import("http").IncomingMessage) => {
            const chunks: Buffer[] = [];
            response.on("data", chunk => chunks.push(chunk));
            response.on("end", () => {
                const text = Buffer.concat(chunks).toString("utf8");
                const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? (response.headers["x-amz-error-code"] as string | undefined);
                resolve({ status: response.statusCode ?? 0, code, body: text });
            });
        });
        request.on("timeout", () => request.destroy(new Error(`no answer from ${url.origin} within 30 s`)));
        request.on("error", (error: Error) => reject(new Error(`cannot reach the S3 endpoint ${url.origin}: ${error.message}`)));
        request.end(body);
    });
}

/** The bucket's region: a GET rather than a HEAD, so that a refusal carries its S3 error code. */
export const bucketLocation = (location: S3Location) => call(location, "GET", "", "?location");

export function createBucket(location: S3Location): Promise<S3Answer> {
    // us-east-1 is the one region whose CreateBucket must not name itself.
    const body =
        location.region === "us-east-1"
            ? ""
            : `<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>${location.region}</LocationConstraint></CreateBucketConfiguration>`;
    return call(location, "PUT", body);
}
