import * as fs from "fs";
import * as path from "path";
import { makeTempDir } from "./tempDirs";

/**
 * A kubectl on PATH that knows one context of one kubeconfig, says its cluster is ready, and knows
 * the namespaces given (none by default): what the kubernetes platform checks before it declares
 * anything. Real clusters are the integration tests' business; this one only lets the mocked
 * program get past that check.
 */
export function installFakeKubectl(context = "unit-context", namespaces: Record<string, Record<string, string>> = {}): { kubeconfig: string; context: string } {
    const dir = makeTempDir("fake-kubectl");
    const kubeconfig = path.join(dir, "kubeconfig");
    fs.writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\ncurrent-context: ${context}\n`);
    const view = JSON.stringify({ "current-context": context, contexts: [{ name: context }] });
    fs.mkdirSync(path.join(dir, "namespaces"));
    for (const [name, labels] of Object.entries(namespaces)) {
        fs.writeFileSync(path.join(dir, "namespaces", `${name}.json`), JSON.stringify({ metadata: { name, labels } }));
    }
    // `get namespace NAME --ignore-not-found -o json`: the namespace's JSON, or nothing.
    const getNamespace = `*"get namespace "*) name="$(echo "$*" | sed 's/.*get namespace \\([^ ]*\\).*/\\1/')"; cat "${dir}/namespaces/$name.json" 2>/dev/null; exit 0 ;;`;
    fs.writeFileSync(
        path.join(dir, "kubectl"),
        `#!/bin/sh\ncase "$*" in\n  *"config view"*) echo '${view}' ;;\n  *"get --raw /readyz"*) echo ok ;;\n  ${getNamespace}\n  *) echo "fake kubectl: $*" >&2; exit 1 ;;\nesac\n`,
        { mode: 0o755 },
    );
    process.env.PATH = `${dir}${path.delimiter}${process.env.PATH}`;
    process.env.KUBECONFIG = kubeconfig;
    return { kubeconfig, context };
}
