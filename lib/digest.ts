import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

/** Folders that dbt writes into a project and that say nothing about the models. */
const GENERATED = new Set(["target", "logs", "dbt_packages", "__pycache__"]);

/**
 * A digest of a folder's files, names and contents, in a stable order. Editing, adding, removing
 * or renaming any file changes it; dbt's own output folders are left out.
 */
export function digestDirectory(root: string): string {
    const hash = crypto.createHash("sha256");
    const walk = (dir: string) => {
        for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
            if (GENERATED.has(entry.name) || entry.name.startsWith(".")) {
                continue;
            }
            const full = path.join(dir, entry.name);
            if (entry.isDirectory()) {
                walk(full);
            } else if (entry.isFile()) {
                hash.update(path.relative(root, full)).update("\0").update(fs.readFileSync(full)).update("\0");
            }
        }
    };
    walk(root);
    return hash.digest("hex");
}
