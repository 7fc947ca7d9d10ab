import * as fs from "fs";
import * as path from "path";
import { DbtProjectError, modelProperties } from "./dbtProject";
import { DomainSpec } from "./domains";
import { changesReferences, ModelAudit, resolveChanges } from "./reconcile";

/*
 * The audits the gate compares public models with. Each public model declares its audit beside it,
 * in its properties file:
 *
 *   config:
 *     access: public
 *     meta:
 *       audit:
 *         query: audits/my_mart.sql   # a Trino query, relative to the dbt project
 *         key: [customer_id]
 *         money: [customer_lifetime_value]
 *         affected: audits/my_mart_affected.sql   # optional: lets a change of domain rows be checked incrementally
 *
 * The query reads the domain catalogs only, by their Trino names (catalog.schema.table), never a
 * dbt model, so that a bug in the models cannot also be in what checks them. The affected query
 * returns the key columns of every row the sources' changed rows may alter, reading the changed rows
 * of a domain table as `{{ changes('catalog.schema.table') }}` (its columns and `change_side`, 'old'
 * or 'new'); it too reads domain tables only. Everything here is read and refused before any
 * resource exists.
 */

/** A query with comments removed and every string literal emptied, so that neither is read as SQL. */
function withoutCommentsAndStrings(sql: string): string {
    let out = "";
    for (let i = 0; i < sql.length; ) {
        if (sql.startsWith("--", i)) {
            const end = sql.indexOf("\n", i);
            i = end < 0 ? sql.length : end;
        } else if (sql.startsWith("/*", i)) {
            const end = sql.indexOf("*/", i + 2);
            if (end < 0) {
                throw new Error("a /* comment is never closed");
            }
            out += " ";
            i = end + 2;
        } else if (sql[i] === "'") {
            let j = i + 1;
            while (j < sql.length && !(sql[j] === "'" && sql[j + 1] !== "'")) {
                j += sql[j] === "'" ? 2 : 1;
            }
            if (j >= sql.length) {
                throw new Error("a string literal is never closed");
            }
            out += "''";
            i = j + 1;
        } else {
            out += sql[i];
            i++;
        }
    }
    return out.replace(/"(\w+)"/g, "$1");
}

/** The query's text at parenthesis depth 0, other depths blanked; fails on unbalanced parentheses. */
function topLevel(sql: string): string {
    let depth = 0;
    let out = "";
    for (const char of sql) {
        if (char === "(") {
            depth++;
            out += depth === 1 ? "(" : " ";
        } else if (char === ")") {
            depth--;
            if (depth < 0) {
                throw new Error("a ')' closes nothing");
            }
            out += depth === 0 ? ")" : " ";
        } else {
            out += depth === 0 ? char : " ";
        }
    }
    if (depth !== 0) {
        throw new Error("a '(' is never closed");
    }
    return out;
}

/** Splits at commas outside parentheses. */
function splitTopLevel(text: string): string[] {
    const parts: string[] = [];
    let depth = 0;
    let current = "";
    for (const char of text) {
        depth += char === "(" ? 1 : char === ")" ? -1 : 0;
        if (char === "," && depth === 0) {
            parts.push(current);
            current = "";
        } else {
            current += char;
        }
    }
    parts.push(current);
    return parts.map(p => p.trim());
}

/** The names of the columns the query returns, from its final SELECT list: each item a column or an `AS` alias. */
export function auditColumns(sql: string): string[] {
    const clean = withoutCommentsAndStrings(sql);
    const top = topLevel(clean);
    // The main query's SELECT is the first one at depth 0: WITH's queries are all inside parentheses.
    const select = /\bselect\b/i.exec(top);
    if (!select) {
        throw new Error("no SELECT at the top level of the query");
    }
    const from = /\b(from|union|intersect|except|order\s+by|limit)\b/i.exec(top.slice(select.index + 6));
    const listEnd = from ? select.index + 6 + from.index : clean.length;
    const list = clean.slice(select.index + 6, listEnd).replace(/^\s*(distinct|all)\b/i, "");
    return splitTopLevel(list).map(item => {
        const alias = /\bas\s+(\w+)\s*$/i.exec(item) ?? /^(?:\w+\.)?(\w+)$/.exec(item) ?? /\)\s+(\w+)$/.exec(item);
        if (!alias || alias[1] === "*") {
            throw new Error(`the final SELECT's item '${item.replace(/\s+/g, " ")}' has no name: name it with AS (* is not allowed there)`);
        }
        return alias[1].toLowerCase();
    });
}

/** Whether a FROM at `at` belongs to a function such as extract(year FROM d), not to a query. */
function insideValueFunction(sql: string, at: number): boolean {
    let depth = 0;
    for (let i = at - 1; i >= 0; i--) {
        if (sql[i] === ")") {
            depth++;
        } else if (sql[i] === "(") {
            if (depth === 0) {
                return /\b(extract|substring|trim|position|overlay)\s*$/i.test(sql.slice(0, i));
            }
            depth--;
        }
    }
    return false;
}

/** Every relation the query reads: after FROM or JOIN, and every three-part name; and the names its WITH clauses define. */
export function auditRelations(sql: string): { relations: string[]; ctes: string[] } {
    const clean = withoutCommentsAndStrings(sql);
    topLevel(clean);
    const ctes = [...clean.matchAll(/\b(\w+)\s+as\s*\(/gi)].map(m => m[1].toLowerCase());
    const relations: string[] = [];
    for (const match of clean.matchAll(/\b(?:from|join)\s+([\w.]+(?:\s*(?:\w+\s*)?,\s*[\w.]+)*)/gi)) {
        if (insideValueFunction(clean, match.index!)) {
            continue;
        }
        for (const item of match[1].split(",")) {
            const name = item.trim().split(/\s+/)[0];
            if (name && !/^(unnest|lateral)$/i.test(name)) {
                relations.push(name.toLowerCase());
            }
        }
    }
    // Unqualified names fail at run time (the check has no session catalog), so a three-part name is the only way to read a
    // model: every one, wherever it stands (after a comma, in a subquery), is a relation.
    for (const match of clean.matchAll(/(?<![\w.])(\w+\.\w+\.\w+)(?![\w.])/g)) {
        relations.push(match[1].toLowerCase());
    }
    return { relations: [...new Set(relations)], ctes: [...new Set(ctes)] };
}

/** The domain tables a query may read, as Trino names them. */
function domainTableNames(domains: readonly DomainSpec[]): Set<string> {
    return new Set(domains.flatMap(d => d.tables.map(t => `${d.name}.${d.trinoSchema}.${t.name}`)));
}

interface DeclaredAudit {
    query?: unknown;
    key?: unknown;
    money?: unknown;
    affected?: unknown;
}

const TEXT_TYPES = /^(varchar|char|text|string)\b/i;
const EXACT_TYPES = /^decimal\s*\(/i;

/** The affected-keys query of an audit, or undefined with the problem recorded. */
function readAffected(projectDir: string, at: string, declared: unknown, model: string, key: string[], allowedTables: Set<string>, problems: string[]): string | undefined {
    if (typeof declared !== "string" || !declared) {
        problems.push(`${at}: the path of the SQL file that returns the affected keys, relative to the dbt project (for example audits/${model}_affected.sql)`);
        return undefined;
    }
    const file = path.resolve(projectDir, declared);
    if (!fs.existsSync(file)) {
        problems.push(`${at}: ${file} does not exist`);
        return undefined;
    }
    const sql = fs.readFileSync(file, "utf8").trim().replace(/;\s*$/, "");
    const before = problems.length;
    for (const table of changesReferences(sql).filter(table => !allowedTables.has(table))) {
        problems.push(`${file}: the affected keys of ${model} read the changes of ${table}, which is not a table any domain declares`);
    }
    // The parser reads each changes reference as the domain table it stands for.
    const asParsed = resolveChanges(sql);
    if (/\{\{|\}\}/.test(asParsed)) {
        problems.push(`${file}: the affected keys of ${model} use a template other than {{ changes('catalog.schema.table') }}`);
        return undefined;
    }
    try {
        const returned = auditColumns(asParsed);
        if (returned.join(",") !== key.join(",")) {
            problems.push(`${file}: the affected keys of ${model} return ${returned.join(", ")}; they must return the audit's key, ${key.join(", ")}`);
        }
        const read = auditRelations(asParsed);
        for (const relation of read.relations.filter(r => !read.ctes.includes(r) && !allowedTables.has(r))) {
            problems.push(`${file}: the affected keys of ${model} read ${relation}, which is not a table any domain declares; they read the domain catalogs and their changes only`);
        }
    } catch (error) {
        problems.push(`${file}: the affected keys of ${model} do not parse: ${(error as Error).message}`);
    }
    return problems.length === before ? sql : undefined;
}

/**
 * The audit of every public model, read from the dbt project and checked against the model's
 * contract and the declared domains. Refuses, naming the file and the field: a public model without
 * an audit or a contract, an audit file that is missing or does not parse, an audit that reads
 * anything but a declared domain table, and an audit whose columns are not the contract's.
 */
export function readAudits(projectDir: string, domains: readonly DomainSpec[]): ModelAudit[] {
    const problems: string[] = [];
    const audits: ModelAudit[] = [];
    const allowedTables = domainTableNames(domains);
    for (const { file, index, model } of modelProperties(projectDir)) {
        if ((model.config?.access ?? model.access) !== "public") {
            continue;
        }
        const name = String(model.name);
        const at = `${file}: models[${index}] (${name})`;
        const declared: DeclaredAudit | undefined = model.config?.meta?.audit ?? model.meta?.audit;
        if (!declared || typeof declared !== "object") {
            problems.push(`${at}: a public model needs an audit before analysts may read it; add config.meta.audit with query, key and money (see dbt/README.md#audits)`);
            continue;
        }
        const columns: { name: string; type: string }[] = (Array.isArray(model.columns) ? model.columns : []).map((c: any) => ({ name: String(c?.name), type: String(c?.data_type ?? "") }));
        if (columns.length === 0 || columns.some(c => !c.type)) {
            problems.push(`${at}.columns: a public model's contract lists every column with its data_type, which the audit is compared with`);
            continue;
        }
        const columnNames = columns.map(c => c.name);
        const key = Array.isArray(declared.key) ? declared.key.map(String) : typeof declared.key === "string" ? [declared.key] : [];
        if (key.length === 0) {
            problems.push(`${at}.config.meta.audit.key: the model's key columns are missing`);
        }
        for (const column of key.filter(k => !columnNames.includes(k))) {
            problems.push(`${at}.config.meta.audit.key: '${column}' is not a column of the model's contract (${columnNames.join(", ")})`);
        }
        const money = declared.money === undefined ? [] : Array.isArray(declared.money) ? declared.money.map(String) : null;
        if (money === null) {
            problems.push(`${at}.config.meta.audit.money: a list of the model's money columns, possibly empty`);
        }
        for (const column of money ?? []) {
            const type = columns.find(c => c.name === column)?.type;
            if (!type) {
                problems.push(`${at}.config.meta.audit.money: '${column}' is not a column of the model's contract (${columnNames.join(", ")})`);
            } else if (!EXACT_TYPES.test(type)) {
                problems.push(`${at}.config.meta.audit.money: '${column}' is ${type}; money is compared exactly, so its contract type must be decimal(p, s)`);
            }
        }
        if (typeof declared.query !== "string" || !declared.query) {
            problems.push(`${at}.config.meta.audit.query: the path of the audit's SQL file, relative to the dbt project (for example audits/${name}.sql)`);
            continue;
        }
        const queryFile = path.resolve(projectDir, declared.query);
        if (!fs.existsSync(queryFile)) {
            problems.push(`${at}.config.meta.audit.query: ${queryFile} does not exist`);
            continue;
        }
        const query = fs.readFileSync(queryFile, "utf8").trim().replace(/;\s*$/, "");
        let returned: string[];
        let read: ReturnType<typeof auditRelations>;
        try {
            returned = auditColumns(query);
            read = auditRelations(query);
        } catch (error) {
            problems.push(`${queryFile}: the audit of ${name} does not parse: ${(error as Error).message}`);
            continue;
        }
        for (const relation of read.relations.filter(r => !read.ctes.includes(r))) {
            if (!allowedTables.has(relation)) {
                problems.push(
                    `${queryFile}: the audit of ${name} reads ${relation}, which is not a table any domain declares; an audit reads the domain catalogs only (catalog.schema.table), never a dbt model`,
                );
            }
        }
        const missing = columnNames.filter(c => !returned.includes(c));
        const extra = returned.filter(c => !columnNames.includes(c));
        if (missing.length > 0 || extra.length > 0) {
            problems.push(
                `${queryFile}: the audit of ${name} returns ${returned.join(", ")}, but the model's contract in ${file} has ${columnNames.join(", ")}` +
                    `${missing.length ? `; missing: ${missing.join(", ")}` : ""}${extra.length ? `; not in the contract: ${extra.join(", ")}` : ""}`,
            );
        }
        const affected = declared.affected === undefined ? undefined : readAffected(projectDir, `${at}.config.meta.audit.affected`, declared.affected, name, key, allowedTables, problems);
        audits.push({
            model: name,
            query,
            key,
            columns: columnNames,
            textColumns: columns.filter(c => TEXT_TYPES.test(c.type)).map(c => c.name),
            money: money ?? [],
            ...(affected ? { affected } : {}),
        });
    }
    if (problems.length > 0) {
        throw new DbtProjectError(`the gate cannot check every public model:\n${problems.join("\n")}`);
    }
    return audits.sort((a, b) => a.model.localeCompare(b.model));
}
