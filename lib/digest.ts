import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

/** Folders that dbt writes into a project and that say nothing about the models. */
const GENERATED = new Set(["target", "logs", "dbt_packages", "__pycache__"]);

/**
 * A folder's files as paths relative to it, in a stable order: dbt's own output folders and
 * hidden files are left out. These are the files the digest covers.
 */
export function projectFiles(root: string): string[] {
    const files: string[] = [];
    const walk = (dir: string) => {
        for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
            if (GENERATED.has(entry.name) || entry.name.startsWith(".")) {
                continue;
            }
            const full = path.join(dir, entry.name);
            if (entry.isDirectory()) {
                walk(full);
            } else if (entry.isFile()) {
                files.push(path.relative(root, full));
            }
        }
    };
    walk(root);
    return files;
}

/**
 * A digest of a folder's files, names and contents, in a stable order. Editing, adding, removing
 * or renaming any file changes it; dbt's own output folders are left out.
 */
export function digestDirectory(root: string): string {
    const hash = crypto.createHash("sha256");
    for (const file of projectFiles(root)) {
        hash.update(file).update("\0").update(fs.readFileSync(path.join(root, file))).update("\0");
    }
    return hash.digest("hex");
}

/** A digest of text parts, for names and annotations that must change when their source does. */
export function shortDigest(...parts: string[]): string {
    const hash = crypto.createHash("sha256");
    for (const part of parts) {
        hash.update(part).update("\0");
    }
    return hash.digest("hex");
}
