import { spawn } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { localDocsProvider } from "../../platforms/local/docsSite";
import { docsServerCommand } from "../../platforms/shared/docsServer";
import { isAlive } from "../../platforms/local/process";
import { makeTempDir } from "./tempDirs";

/*
 * The local docs site's provider against a stand-in dbt: a script that writes the page
 * `dbt docs generate --static` writes, or fails as dbt does, and Python's own HTTP server.
 */

/** A folder holding a stand-in `dbt` that writes a page naming the run in its profile, or fails with dbt's words; and the `python` beside it. */
function standInDbt(): { bin: string; failNext(message: string): void } {
    const dir = makeTempDir("docs-dbt");
    const bin = path.join(dir, "dbt");
    const failure = path.join(dir, "fail");
    fs.writeFileSync(
        bin,
        `#!/bin/sh
if [ -f ${failure} ]; then cat ${failure}; exit 2; fi
while [ $# -gt 0 ]; do
  case "$1" in
    --target-path) target="$2"; shift ;;
    --profiles-dir) profiles="$2"; shift ;;
  esac
  shift
done
mkdir -p "$target"
echo "<html>docs of $(grep -o 'jaffle_shop__[a-z0-9]*' "$profiles/profiles.yml")</html>" > "$target/static_index.html"
echo "Catalog written to $target/catalog.json"
`,
        { mode: 0o755 },
    );
    fs.symlinkSync(fs.realpathSync("/usr/bin/python3"), path.join(dir, "python"));
    return { bin, failNext: message => fs.writeFileSync(failure, message) };
}

async function freePort(): Promise<number> {
    const server = net.createServer();
    await new Promise<void>(resolve => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise(resolve => server.close(resolve));
    return port;
}

function inputs(dbtBin: string, port: number, run: string) {
    const workDir = path.join(makeTempDir("docs-site"), "docs-site");
    return {
        component: "docs",
        port,
        dbtBin,
        projectDir: "/project/dbt",
        profile: `datamesh:\n  outputs:\n    mesh:\n      schema: ${run}\n`,
        caCert: "-----BEGIN CERTIFICATE-----\n",
        caCertFile: path.join(workDir, "profile", "trino-ca.pem"),
        env: { DATAMESH_DBT_PASSWORD: "secret" },
        vars: {},
        publishedRun: run,
        projectDigest: "abc",
        workDir,
    };
}

describe("the local docs site", () => {
    it("serves the page dbt generated, follows a new publication, and keeps the last page when dbt fails", async () => {
        const dbt = standInDbt();
        const first = inputs(dbt.bin, await freePort(), "jaffle_shop__aaa111");
        const created = await localDocsProvider.create!(first);
        try {
            expect(await (await fetch(created.outs.url)).text()).toBe("<html>docs of jaffle_shop__aaa111</html>\n");
            const next = { ...first, publishedRun: "jaffle_shop__bbb222", profile: first.profile.replace("aaa111", "bbb222") };
            const updated = await localDocsProvider.update!(first.workDir, created.outs, next);
            expect(updated.outs!.pid).toBe(created.outs.pid);
            expect(await (await fetch(created.outs.url)).text()).toBe("<html>docs of jaffle_shop__bbb222</html>\n");

            dbt.failNext("Runtime Error\n  Database Error: TrinoUserError(type=USER_ERROR, name=PERMISSION_DENIED)\n");
            const failing = { ...next, publishedRun: "jaffle_shop__ccc333", profile: next.profile.replace("bbb222", "ccc333") };
            await expect(localDocsProvider.update!(first.workDir, updated.outs, failing)).rejects.toThrow(/docs: dbt docs generate of jaffle_shop__ccc333[\s\S]*PERMISSION_DENIED/);
            expect(await (await fetch(created.outs.url)).text()).toBe("<html>docs of jaffle_shop__bbb222</html>\n");
        } finally {
            await localDocsProvider.delete!(first.workDir, created.outs);
        }
        expect(isAlive(created.outs.pid)).toBe(false);
        expect(fs.existsSync(first.workDir)).toBe(false);
    });

    it("names the port and the component when the port is taken, before dbt runs", async () => {
        const squatter = net.createServer();
        await new Promise<void>(resolve => squatter.listen(0, "127.0.0.1", resolve));
        const port = (squatter.address() as net.AddressInfo).port;
        const dbt = standInDbt();
        const taken = inputs(dbt.bin, port, "jaffle_shop__aaa111");
        try {
            await expect(localDocsProvider.create!(taken)).rejects.toThrow(`docs: port ${port} on 127.0.0.1 is already in use`);
            expect(fs.existsSync(path.join(taken.workDir, "target"))).toBe(false);
        } finally {
            await new Promise(resolve => squatter.close(resolve));
        }
    });
});

describe("the docs server of the container platforms", () => {
    it("serves the current page and stops at once on SIGTERM, which Python as a container's first process would ignore", async () => {
        const site = makeTempDir("docs-server");
        fs.mkdirSync(path.join(site, "current"));
        fs.writeFileSync(path.join(site, "current", "index.html"), "<html>served</html>");
        const port = await freePort();
        // Bound to every address, as in a pod; the test reads it on loopback.
        const [python, ...args] = docsServerCommand(site, port);
        const server = spawn(fs.realpathSync(`/usr/bin/${python}`), args, { stdio: ["ignore", "pipe", "pipe"] });
        try {
            let page = "";
            for (let i = 0; i < 50 && !page; i++) {
                await new Promise(resolve => setTimeout(resolve, 100));
                page = await fetch(`http://127.0.0.1:${port}/`).then(r => r.text(), () => "");
            }
            expect(page).toBe("<html>served</html>");
            const exited = new Promise<{ code: number | null; signal: string | null }>(resolve => server.on("exit", (code, signal) => resolve({ code, signal })));
            server.kill("SIGTERM");
            // Ended by its own handler: a signal it did not handle would be the exit's cause instead.
            expect(await exited).toEqual({ code: 0, signal: null });
        } finally {
            server.kill("SIGKILL");
        }
    });
});
