import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { DomainSpec, TRINO_COLUMN_TYPES } from "./domains";

/*
 * What the stack reads from the dbt project without running dbt: which models analysts may read,
 * and whether the project's sources are the declared domains' tables. The declarations are the
 * data products' contracts, and the sources' columns and data_types are what dbt's source contract
 * check enforces against Trino on every build, so the two must agree before anything is deployed.
 */

/** A dbt project that disagrees with the declarations; the message names both files and the field. */
export class DbtProjectError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "DbtProjectError";
    }
}

/** The project's model folders, as its dbt_project.yml names them (models/ by default). */
function modelPathsOf(projectDir: string): string[] {
    try {
        const document = parseYaml(fs.readFileSync(path.join(projectDir, "dbt_project.yml"), "utf8")) ?? {};
        return Array.isArray(document["model-paths"]) ? document["model-paths"].map(String) : ["models"];
    } catch {
        return ["models"];
    }
}

interface YamlFile {
    file: string;
    document: any;
}

/** What the stack reads of a project's dbt_project.yml. */
export interface DbtProjectSettings {
    /** The project's folder. */
    dir: string;
    /**
     * Whether the project's on-run-end hook copies the models a deferred build did not build
     * (copy_unbuilt_models): only then may a model edit build just what it changed.
     */
    defersModelEdits: boolean;
}

/**
 * Reads a dbt project's dbt_project.yml, refusing one whose profile is not the one the stack
 * writes (naming the file and the field), since dbt would then look for a profile that is not there.
 */
export function readDbtProject(dir: string, profileName: string): DbtProjectSettings {
    const file = path.join(dir, "dbt_project.yml");
    if (!fs.existsSync(file)) {
        throw new DbtProjectError(`${dir}: not a dbt project: it has no dbt_project.yml`);
    }
    let document: any;
    try {
        document = parseYaml(fs.readFileSync(file, "utf8")) ?? {};
    } catch (e) {
        throw new DbtProjectError(`${file}: not valid YAML: ${(e as Error).message.split("\n")[0]}`);
    }
    if (document.profile !== profileName) {
        throw new DbtProjectError(`${file}: profile: '${document.profile ?? ""}', but the stack writes the profile '${profileName}'; set profile: ${profileName} (the stack generates it, with Trino's address and dbt's credentials)`);
    }
    const onRunEnd = [document["on-run-end"] ?? []].flat().map(String);
    return { dir, defersModelEdits: onRunEnd.some(hook => hook.includes("copy_unbuilt_models")) };
}

/** Every properties file under models/, parsed, in a stable order. */
function modelPropertyFiles(projectDir: string): YamlFile[] {
    const files: string[] = [];
    const walk = (dir: string) => {
        for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
            const full = path.join(dir, entry.name);
            if (entry.isDirectory()) {
                walk(full);
            } else if (/\.ya?ml$/.test(entry.name)) {
                files.push(full);
            }
        }
    };
    for (const modelPath of modelPathsOf(projectDir)) {
        if (fs.existsSync(path.join(projectDir, modelPath))) {
            walk(path.join(projectDir, modelPath));
        }
    }
    return files.map(file => {
        try {
            return { file, document: parseYaml(fs.readFileSync(file, "utf8")) ?? {} };
        } catch (e) {
            throw new DbtProjectError(`${file}: not valid YAML: ${(e as Error).message.split("\n")[0]}`);
        }
    });
}

/** Every model's properties, with the file and the index that name it in an error. */
export function modelProperties(projectDir: string): { file: string; index: number; model: any }[] {
    return modelPropertyFiles(projectDir).flatMap(({ file, document }) =>
        (Array.isArray(document.models) ? document.models : []).map((model: any, index: number) => ({ file, index, model })),
    );
}

/** The models whose properties declare `access: public` (under config or at the top): the marts analysts read. */
export function publicModels(projectDir: string): string[] {
    const names = modelProperties(projectDir)
        .map(({ model }) => model)
        .filter((model: any) => (model.config?.access ?? model.access) === "public")
        .map((model: any) => String(model.name));
    if (names.length === 0) {
        throw new DbtProjectError(`${path.join(projectDir, "models")}: no model declares access: public, so analysts would have nothing to read`);
    }
    return [...new Set(names)].sort();
}

/**
 * Checks every dbt source against the declarations: a source is a declared domain, its tables are
 * that domain's tables, and each column it lists is a declared column, with the type Trino reports
 * for it and the same PII mark. A source lists the columns dbt reads, which may be fewer than the
 * domain declares: a domain adds a column without the dbt project changing. A declared domain that
 * no source names is allowed too: no model reads it yet.
 */
export function checkSourcesAgainstDomains(projectDir: string, domains: readonly DomainSpec[]): void {
    const problems: string[] = [];
    for (const { file, document } of modelPropertyFiles(projectDir)) {
        const sources: any[] = Array.isArray(document.sources) ? document.sources : [];
        sources.forEach((source, sourceIndex) => {
            const at = `${file}: sources[${sourceIndex}]`;
            const domain = domains.find(d => d.name === source.name);
            if (!domain) {
                problems.push(`${at}.name: '${source.name}' is not a declared domain (${domains.map(d => d.name).join(", ")}); declare it in domains/${source.name}.yaml`);
                return;
            }
            const tables: any[] = Array.isArray(source.tables) ? source.tables : [];
            tables.forEach((table, tableIndex) => {
                const tableAt = `${at}.tables[${tableIndex}]`;
                const declared = domain.tables.find(t => t.name === (table.identifier ?? table.name));
                if (!declared) {
                    problems.push(`${tableAt}.name: '${table.name}' is not a table of domain '${domain.name}' (${domain.file} declares ${domain.tables.map(t => t.name).join(", ")})`);
                    return;
                }
                const columns: any[] = Array.isArray(table.columns) ? table.columns : [];
                if (columns.length === 0) {
                    // dbt's source contract check (macros/check_source_contracts.sql) refuses a table without columns on every build.
                    problems.push(`${tableAt}.columns: lists no column; list each column of ${domain.name}.${declared.name} that dbt reads, with its data_type (${domain.file} declares ${declared.columns.map(c => c.name).join(", ")})`);
                    return;
                }
                columns.forEach((listed, index) => {
                    const column = declared.columns.find(c => c.name === listed?.name);
                    if (!column) {
                        problems.push(`${tableAt}.columns[${index}].name: '${listed?.name}' is not a column of ${domain.name}.${declared.name} in ${domain.file} (${declared.columns.map(c => c.name).join(", ")})`);
                        return;
                    }
                    const qualified = `${domain.name}.${declared.name}.${column.name}`;
                    const expectedType = TRINO_COLUMN_TYPES[column.type];
                    if (String(listed.data_type ?? "").toLowerCase() !== expectedType) {
                        problems.push(`${tableAt}.columns[${index}].data_type: '${listed.data_type ?? ""}', but ${domain.file} declares ${qualified} as ${column.type}, which Trino reports as ${expectedType}`);
                    }
                    const markedPii = Boolean(listed.meta?.contains_pii ?? listed.config?.meta?.contains_pii);
                    const declaredPii = declared.piiColumns.includes(column.name);
                    if (markedPii !== declaredPii) {
                        problems.push(`${tableAt}.columns[${index}].meta.contains_pii: ${markedPii}, but ${domain.file} ${declaredPii ? "declares" : "does not declare"} ${qualified} as PII`);
                    }
                });
            });
        });
    }
    if (problems.length > 0) {
        throw new DbtProjectError(`the dbt project's sources disagree with the domain declarations:\n${problems.join("\n")}`);
    }
}
