import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import { DbtJob } from "./components/DbtJob";
import { DocsSite } from "./components/DocsSite";
import { DomainDatabase, MeshDomain } from "./components/DomainDatabase";
import { ExternalDomain } from "./components/ExternalDomain";
import { InsightsCatalog } from "./components/InsightsCatalog";
import { InsightsCheck } from "./components/InsightsCheck";
import { TrinoCoordinator } from "./components/TrinoCoordinator";
import { GovernedDomain, renderAccessRules } from "./catalogs/accessRules";
import { domainStackNames, loadConfig, MeshConfig, projectConfig } from "./config";
import { readAudits } from "./lib/audits";
import { checkSourcesAgainstDomains, publicModels, readDbtProject } from "./lib/dbtProject";
import { DBT_PROFILE_NAME } from "./catalogs/dbt";
import { dataProductOf, DATA_PRODUCT_OUTPUT, readDomainStacks } from "./lib/dataProduct";
import { DomainSpec } from "./lib/domains";
import { trinoTypeOfManagedColumn } from "./lib/sql";
import { ModelAudit } from "./lib/reconcile";
import { readVersions } from "./lib/versions";
import { createPlatform, Platform } from "./platforms";

const projectDir = __dirname;
const versions = readVersions();
const INSIGHTS_CATALOG = "insights";

/** The domain's part of the mesh: a database the stack runs and loads, or one its team already runs. */
function declareDomain(config: MeshConfig, platform: Platform, domain: DomainSpec): MeshDomain {
    if (domain.external) {
        return new ExternalDomain(domain.name, {
            domain,
            password: config.externalPasswords[domain.name],
            adminPassword: config.externalAdminPasswords[domain.name],
            platform,
        });
    }
    return new DomainDatabase(domain.name, {
        domain,
        platform,
        port: config.domainPorts[domain.name],
        dataSource: config.dataSource,
        dataFingerprint: config.domainFingerprints[domain.name],
        protect: config.protectDomainData,
    });
}

/** A domain as its access rules see it: each table's PII columns, with what others read of them. */
function governedDomain(domain: DomainSpec): GovernedDomain {
    const piiColumns = Object.fromEntries(
        domain.tables.map(table => [
            table.name,
            table.piiColumns.map(name => ({ name, mask: table.piiMasks?.[name] ?? "deny", trinoType: trinoTypeOfManagedColumn(domain.engine, table.columns.find(c => c.name === name)!.type) })),
        ]),
    );
    return { name: domain.name, catalog: domain.name, owner: domain.owner, piiColumns };
}

/** A first query for a newcomer: the first public model, in key order. */
function exampleQuery(config: MeshConfig, audit: ModelAudit): string {
    return `SELECT ${audit.columns.join(", ")} FROM ${INSIGHTS_CATALOG}.${config.insightsSchema}.${audit.model} ORDER BY ${audit.key.join(", ")} LIMIT 10`;
}

/** A domain stack: the one domain, its server, users and loads, published as a data product and nothing else. */
function declareDomainStack(config: MeshConfig, platform: Platform) {
    const [domain] = config.domains;
    const database = declareDomain(config, platform, domain) as DomainDatabase;
    // The stack's only output: the mesh stack reads it, and its state must hold no credential but the reader's.
    return { [DATA_PRODUCT_OUTPUT]: dataProductOf(domain, database) };
}

/** The mesh's dbt project, read and checked against the domains before the platform declares anything. */
function readInsightsProject(config: MeshConfig) {
    /** The dbt project the insights are built with; its profile must be the one the stack writes. */
    const project = readDbtProject(config.dbtProjectDir, DBT_PROFILE_NAME);
    // Each column the dbt sources list must be a domain's, of the same type and PII mark, before anything is deployed.
    checkSourcesAgainstDomains(project.dir, config.domains);
    /** What the gate compares each public model with; a public model without an audit is refused here. */
    const audits = readAudits(project.dir, config.domains);
    /** Why the gate must check every run in full: a public model whose audit names no affected keys. */
    const unscoped = audits.filter(audit => !audit.affected).map(audit => audit.model);
    return {
        project,
        /** What analysts read: the models the dbt project declares `access: public`. */
        publicMarts: publicModels(project.dir),
        audits,
        gateRefusal: unscoped.length > 0 ? `the audit of ${unscoped.join(", ")} names no affected keys` : "",
    };
}

/** Declares the domains, Trino, the dbt job and the check on the platform; returns the stack's outputs. */
function declareMesh(config: MeshConfig, platform: Platform, insightsProject: ReturnType<typeof readInsightsProject>) {
    const { project, publicMarts, audits, gateRefusal } = insightsProject;
    /** Trino's users by role; the role names are the keys of the `users` output. */
    const TRINO_USERS: Record<string, string> = {
        analyst: "analyst",
        dbt: "dbt",
        check: "datamesh_check",
        ...Object.fromEntries(config.domains.map(d => [d.owner, d.owner])),
        ...Object.fromEntries(Object.values(config.readers).flat().map(reader => [reader, reader])),
    };

    const domainComponents = config.domains.map(domain => declareDomain(config, platform, domain));

    const insightsCatalog = new InsightsCatalog(INSIGHTS_CATALOG, { platform, catalogName: INSIGHTS_CATALOG, metastorePort: config.metastorePort });

    const trino = new TrinoCoordinator("trino", {
        platform,
        version: versions.TRINO_VERSION,
        port: config.trinoPort,
        internalPort: config.trinoInternalPort,
        maxHeap: config.trinoMaxHeap,
        jvmOptions: config.trinoJvmOptions,
        workers: config.workers,
        catalogs: [...domainComponents.map(d => d.trinoCatalog), insightsCatalog.trinoCatalog],
        secretEnv: [...domainComponents.map(d => d.trinoEnv), insightsCatalog.trinoEnv],
        domainNetworks: config.domains.flatMap(domain => (domain.external?.network ? [domain.external.network] : [])),
        users: TRINO_USERS,
        accessRules: piiMaskKey =>
            renderAccessRules({
                domains: config.domains.map(governedDomain),
                insights: { catalog: INSIGHTS_CATALOG, schema: config.insightsSchema, publicTables: publicMarts },
                users: { dbt: TRINO_USERS.dbt, analyst: TRINO_USERS.analyst, check: TRINO_USERS.check },
                readers: config.readers,
                piiMaskKey,
            }),
        presetPasswords: config.analystPassword ? { analyst: config.analystPassword } : {},
        probeRole: "check",
        extraHostnames: config.trinoHostnames,
        certificate: config.trinoTls ? { certificatePem: config.trinoTls.certificatePem, privateKeyPem: pulumi.secret(config.trinoTls.privateKeyPem) } : undefined,
    });

    const dbt = new DbtJob("dbt", {
        platform,
        project,
        // The toolchain is the stack's, whichever project it runs.
        toolchainDir: path.join(projectDir, "dbt"),
        trino,
        role: "dbt",
        insightsCatalog: INSIGHTS_CATALOG,
        insightsSchema: config.insightsSchema,
        domains: config.domains,
        dataFingerprint: config.dataFingerprint,
        after: domainComponents,
        publicTables: publicMarts,
        rebuild: config.rebuild,
        gateRefusal,
    });

    const insightsCheck = new InsightsCheck("check", {
        platform,
        trino,
        checkRole: "check",
        publishRole: "dbt",
        insights: { catalog: INSIGHTS_CATALOG, schema: config.insightsSchema },
        audits,
        dbt,
    });

    const docs = new DocsSite("docs", { platform, dbt, check: insightsCheck, port: config.docsPort });

    /** A domain's tables as this `up` read them through Trino: rows and columns by table; when only rendering, nothing was read. */
    const tablesRead = (domain: DomainSpec) =>
        dbt.sourceTables.apply(tables =>
            Object.fromEntries(
                tables
                    .filter(facts => facts.table.startsWith(`${domain.name}.${domain.trinoSchema}.`))
                    .map(facts => [facts.table.split(".").pop()!, { rows: facts.rows, columns: Object.fromEntries(facts.columns.map(([name, type]) => [name, type])) }]),
            ),
        );
    /** Each table's row count as read on this `up`; the loads' own counts when nothing was read. */
    const rowsRead = (read: ReturnType<typeof tablesRead>, loaded: pulumi.Output<Record<string, number>>) =>
        pulumi.all([read, loaded]).apply(([tables, counts]) =>
            Object.keys(tables).length > 0 ? Object.fromEntries(Object.entries(tables).map(([table, facts]) => [table, facts.rows])) : counts,
        );
    const readBack = config.domains.map((domain, i) => {
        const tables = tablesRead(domain);
        return { tables, rows: rowsRead(tables, domainComponents[i].rowCounts) };
    });

    return {
        trinoUrl: trino.url,
        // Trino's own web UI, behind the same HTTPS and password login as its clients.
        trinoUiUrl: pulumi.interpolate`${trino.url}/ui/`,
        docsUrl: docs.url,
        trinoCaCert: trino.caCert,
        users: trino.users,
        trinoVersion: trino.version,
        insights: { catalog: INSIGHTS_CATALOG, schema: config.insightsSchema },
        domains: Object.fromEntries(
            domainComponents.map((d, i) => [
                config.domains[i].name,
                { engine: d.engine, host: d.host, port: d.port, database: d.database, user: d.user, password: d.password, tls: d.tls, rows: readBack[i].rows },
            ]),
        ),
        check: insightsCheck.summary,
        dbtSummary: dbt.summary,
        publishedRun: insightsCheck.publishedRun,
        mesh: {
            domains: Object.fromEntries(
                config.domains.map((domain, i) => {
                    return [
                        domain.name,
                        {
                            engine: domain.engine,
                            owner: domain.owner,
                            external: Boolean(domain.external),
                            source: domain.source,
                            catalog: domain.name,
                            schema: domain.trinoSchema,
                            tables: readBack[i].tables,
                            rows: readBack[i].rows,
                        },
                    ];
                }),
            ),
            insights: {
                catalog: INSIGHTS_CATALOG,
                schema: config.insightsSchema,
                publicTables: publicMarts,
                run: insightsCheck.publishedRun,
                rebuiltAt: insightsCheck.rebuiltAt,
                reason: insightsCheck.reason,
                // How the last run was built, as its plan step decided and wrote it.
                refresh: dbt.plan ? dbt.plan.summary : "not planned: manifests only",
            },
        },
        exampleQuery: exampleQuery(config, audits[0]),
    };
}

/**
 * Reads the configuration, and the domain stacks it names, then declares the mesh or the domain.
 * The engine starts the dynamic-provider process, which takes most of a second, when the first
 * dynamic resource reaches it, and the program sends nothing until its synchronous part has run.
 * A moment's pause lets the platform's first resource leave, so that the provider starts on the
 * other core while the rest is declared.
 */
// Typed loosely: which outputs a stack has depends on its datamesh:role.
async function main(): Promise<Record<string, any>> {
    const raw = projectConfig(pulumi.runtime.allConfig());
    // Read before anything is declared: a stack that cannot be read fails the `up` with no resource changed.
    const stackDomains = await readDomainStacks(domainStackNames(raw));
    const config = loadConfig(raw, { stack: pulumi.getStack(), projectDir, env: process.env, stackDomains });
    const insightsProject = config.role === "mesh" ? readInsightsProject(config) : undefined;
    const platform = createPlatform({ config, projectDir, trinoVersion: versions.TRINO_VERSION });
    await new Promise(resolve => setTimeout(resolve, PAUSE_FOR_FIRST_REGISTRATION_MS));
    return insightsProject ? declareMesh(config, platform, insightsProject) : declareDomainStack(config, platform);
}

// Pulumi awaits the exported promise; its value's properties are the stack's outputs, and a
// declaration error fails the program (the catch only keeps Node from calling it unhandled before
// Pulumi's await reaches it).
const PAUSE_FOR_FIRST_REGISTRATION_MS = 20;
const stack = main();
stack.catch(() => undefined);
export = stack;
