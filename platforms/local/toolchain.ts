import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";

/*
 * Finds the programs the local platform runs. Everything is looked up while the program runs,
 * before any resource exists, so a missing piece is one clear error that says how to install it.
 */

export interface LocalToolchain {
    trinoHome: string;
    javaHome: string;
    /** The class archive scripts/setup-trino.sh made for this Trino and this JDK, if it made one. */
    trinoClassArchive?: string;
    dbtBin: string;
    postgres: { init: string; server: string };
    mariadb: { init: string; server: string };
}

const SETUP_HINT = "run scripts/setup.sh (see the README)";

function firstExisting(candidates: string[], what: string): string {
    const found = candidates.find(c => fs.existsSync(c));
    if (!found) {
        throw new Error(`${what} not found (looked in ${candidates.join(", ")}); ${SETUP_HINT}`);
    }
    return found;
}

function onPath(program: string, extraDirs: string[]): string[] {
    const dirs = [...(process.env.PATH ?? "").split(":").filter(Boolean), ...extraDirs];
    return dirs.map(d => path.join(d, program));
}

/** The Java major version of a JDK folder, from its `release` file. */
export function javaMajorVersion(javaHome: string): number | undefined {
    try {
        const release = fs.readFileSync(path.join(javaHome, "release"), "utf8");
        const match = /JAVA_VERSION="(\d+)/.exec(release);
        return match ? Number(match[1]) : undefined;
    } catch {
        return undefined;
    }
}

/** A JDK new enough for Trino: DATAMESH_JAVA_HOME, then JAVA_HOME, then the newest in /usr/lib/jvm. */
export function findJavaHome(minimumMajor: number, env: NodeJS.ProcessEnv = process.env, jvmRoot = "/usr/lib/jvm"): string {
    const installed = fs.existsSync(jvmRoot) ? fs.readdirSync(jvmRoot).map(d => path.join(jvmRoot, d)) : [];
    const candidates = [env.DATAMESH_JAVA_HOME, env.JAVA_HOME, ...installed].filter((c): c is string => Boolean(c));
    const suitable = candidates
        .map(home => ({ home, major: javaMajorVersion(home) ?? 0 }))
        .filter(c => c.major >= minimumMajor && fs.existsSync(path.join(c.home, "bin", "java")));
    if (env.DATAMESH_JAVA_HOME && !suitable.some(c => c.home === env.DATAMESH_JAVA_HOME)) {
        throw new Error(`DATAMESH_JAVA_HOME=${env.DATAMESH_JAVA_HOME} is not a Java ${minimumMajor} or newer JDK`);
    }
    if (suitable.length === 0) {
        throw new Error(`Trino needs Java ${minimumMajor} or newer and none was found (set DATAMESH_JAVA_HOME); ${SETUP_HINT}`);
    }
    return env.DATAMESH_JAVA_HOME ? env.DATAMESH_JAVA_HOME : suitable.sort((a, b) => b.major - a.major)[0].home;
}

/** Where scripts/setup-trino.sh keeps the class archive of a Trino for a JDK: keyed by the JDK's release file, as the archive is valid for that JDK only. */
export function trinoClassArchivePath(trinoDir: string, javaHome: string): string {
    const key = crypto.createHash("sha256").update(fs.readFileSync(path.join(javaHome, "release"))).digest("hex").slice(0, 12);
    return path.join(trinoDir, "class-archive", `${key}.jsa`);
}

/** The dbt virtual environment's folder name: a digest of the pinned requirements, as setup-dbt.sh names it. */
export function dbtEnvironmentKey(requirementsFile: string): string {
    return crypto.createHash("sha256").update(fs.readFileSync(requirementsFile)).digest("hex").slice(0, 12);
}

function newestPostgresBinDir(): string[] {
    const root = "/usr/lib/postgresql";
    if (!fs.existsSync(root)) {
        return [];
    }
    return fs
        .readdirSync(root)
        .filter(v => /^\d+$/.test(v))
        .sort((a, b) => Number(b) - Number(a))
        .map(v => path.join(root, v, "bin"));
}

/** PostgreSQL's and MariaDB's programs, from the machine's packages. */
export function findDatabasePrograms(): Pick<LocalToolchain, "postgres" | "mariadb"> {
    const pgDirs = newestPostgresBinDir();
    return {
        postgres: {
            init: firstExisting(pgDirs.map(d => path.join(d, "initdb")), "PostgreSQL's initdb"),
            server: firstExisting(pgDirs.map(d => path.join(d, "postgres")), "the PostgreSQL server"),
        },
        mariadb: {
            init: firstExisting(onPath("mariadb-install-db", ["/usr/bin", "/usr/local/bin"]), "mariadb-install-db"),
            server: firstExisting(onPath("mariadbd", ["/usr/sbin", "/usr/local/sbin"]), "the MariaDB server (mariadbd)"),
        },
    };
}

export function findLocalToolchain(options: { cacheDir: string; trinoVersion: string; projectDir: string }): LocalToolchain {
    const trinoDir = path.join(options.cacheDir, "trino", options.trinoVersion);
    const trinoHome = path.join(trinoDir, "server");
    firstExisting([path.join(trinoHome, "bin", "launcher")], `Trino ${options.trinoVersion}`);
    const requirements = path.join(options.projectDir, "dbt", "requirements.txt");
    const javaHome = findJavaHome(24);
    const classArchive = trinoClassArchivePath(trinoDir, javaHome);
    return {
        trinoHome,
        javaHome,
        ...(fs.existsSync(classArchive) ? { trinoClassArchive: classArchive } : {}),
        dbtBin: firstExisting([path.join(options.cacheDir, "dbt", dbtEnvironmentKey(requirements), "venv", "bin", "dbt")], "the dbt virtual environment"),
        ...findDatabasePrograms(),
    };
}
