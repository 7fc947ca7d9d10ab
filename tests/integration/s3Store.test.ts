import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { bucketLocation } from "../../lib/s3";
import { readVersions } from "../../lib/versions";
import { ensureBucket, BucketInputs } from "../../platforms/kubernetes/warehouseBucket";
import { freePortRange, isListening } from "./harness";

/*
 * The warehouse bucket check against a real S3 server: SeaweedFS's `weed`, the binary the test
 * image of the store is built from, on loopback. The stack's own store gets its bucket created;
 * a user's store is only checked, and a refusal names the config key to fix.
 */

const CACHE_DIR = process.env.DATAMESH_CACHE ?? path.join(os.homedir(), ".cache", "datamesh");
const ACCESS_KEY = "AKDATAMESHTEST0001";
const SECRET_KEY = "a-secret-key-for-the-s3-store-test";

let store: ChildProcess;
let workDir: string;
let endpoint: string;

const userStore = (overrides: Partial<BucketInputs["location"]>, create = false): BucketInputs => ({
    location: { endpoint, bucket: "insights", region: "us-east-1", pathStyle: true, accessKey: ACCESS_KEY, secretKey: SECRET_KEY, ...overrides },
    create,
    names: { accessKey: "datamesh:warehouseAccessKey", secretKey: "datamesh:warehouseSecretKey", bucket: "datamesh:warehouseBucket" },
});

beforeAll(async () => {
    const weed = path.join(CACHE_DIR, "test-images", "weed", readVersions().SEAWEEDFS_MODULE_VERSION, "weed");
    if (!fs.existsSync(weed)) {
        throw new Error(`missing ${weed}: this test needs SeaweedFS's weed; run scripts/setup.sh --kubernetes --test-cluster`);
    }
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), "datamesh-s3-"));
    fs.writeFileSync(
        path.join(workDir, "s3.json"),
        JSON.stringify({ identities: [{ name: "trino", credentials: [{ accessKey: ACCESS_KEY, secretKey: SECRET_KEY }], actions: ["Admin", "Read", "List", "Tagging", "Write"] }] }),
    );
    const base = await freePortRange(5);
    endpoint = `http://127.0.0.1:${base + 4}`;
    store = spawn(
        weed,
        [
            "server",
            `-dir=${workDir}`,
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            `-master.port=${base}`,
            `-volume.port=${base + 1}`,
            `-filer.port=${base + 2}`,
            "-volume.max=0",
            "-master.volumeSizeLimitMB=64",
            "-s3",
            `-s3.port=${base + 4}`,
            `-s3.config=${path.join(workDir, "s3.json")}`,
        ],
        { cwd: workDir, stdio: "ignore" },
    );
    const deadline = Date.now() + 60_000;
    while (!(await isListening(base + 4))) {
        if (Date.now() > deadline) {
            throw new Error("SeaweedFS did not serve S3 within 60 s");
        }
        await new Promise(resolve => setTimeout(resolve, 500));
    }
}, 120_000);

// weed takes about half a minute to stop on SIGTERM (it waits out its own peers' timeouts); the
// store holds nothing worth keeping, so past a short grace it is killed.
afterAll(async () => {
    if (store && store.exitCode === null && store.signalCode === null) {
        const exited = new Promise(resolve => store.once("exit", resolve));
        store.kill("SIGTERM");
        const grace = setTimeout(() => store.kill("SIGKILL"), 3_000);
        await exited;
        clearTimeout(grace);
    }
    if (workDir) {
        fs.rmSync(workDir, { recursive: true, force: true });
    }
}, 30_000);

describe("the warehouse bucket on a real S3 server", () => {
    it("refuses a user's bucket that does not exist, naming the key, and creates none", async () => {
        await expect(ensureBucket(userStore({ bucket: "not-there" }))).rejects.toThrow(/^datamesh:warehouseBucket: the S3 endpoint .* answered 404 NoSuchBucket: bucket 'not-there' does not exist/);
        await expect(ensureBucket(userStore({ bucket: "not-there" }))).rejects.toThrow(/NoSuchBucket/);
    });

    it("creates the stack's own bucket, and takes it again once it exists", async () => {
        // Another bucket's name than the refusal test's, read back with a call of the S3 API's own.
        const own = userStore({ bucket: "stack-own" }, true);
        expect((await bucketLocation(own.location)).code).toBe("NoSuchBucket");
        await ensureBucket(own);
        expect(await bucketLocation(own.location)).toMatchObject({ status: 200 });
        await expect(ensureBucket(own)).resolves.toBeUndefined();
        await expect(ensureBucket({ ...own, create: false })).resolves.toBeUndefined();
        expect(await bucketLocation(own.location)).toMatchObject({ status: 200 });
    });

    it("names the access key when the store does not know it", async () => {
        await expect(ensureBucket(userStore({ accessKey: "AKUNKNOWN" }))).rejects.toThrow(/^datamesh:warehouseAccessKey: the S3 endpoint .* answered 403 InvalidAccessKeyId/);
    });

    it("names the secret key when it does not match the access key", async () => {
        await expect(ensureBucket(userStore({ secretKey: "not-the-secret" }))).rejects.toThrow(/^datamesh:warehouseSecretKey: the S3 endpoint .* answered 403 SignatureDoesNotMatch/);
    });
});
