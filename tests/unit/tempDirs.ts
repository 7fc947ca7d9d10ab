import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const created: string[] = [];

afterAll(() => {
    for (const dir of created.splice(0)) {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});

/** A scratch folder removed when the test file finishes. */
export function makeTempDir(prefix: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `datamesh-${prefix}-`));
    created.push(dir);
    return dir;
}
