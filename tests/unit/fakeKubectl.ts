import * as fs from "fs";
import * as path from "path";
import { makeTempDir } from "./tempDirs";

/**
 * A kubectl on PATH that knows one context of one kubeconfig and says its cluster is ready: what
 * the kubernetes platform checks before it declares anything. Real clusters are the integration
 * tests' business; this one only lets the mocked program get past that check.
 */
export function installFakeKubectl(context = "unit-context"): { kubeconfig: string; context: string } {
    const dir = makeTempDir("fake-kubectl");
    const kubeconfig = path.join(dir, "kubeconfig");
    fs.writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\ncurrent-context: ${context}\n`);
    const view = JSON.stringify({ "current-context": context, contexts: [{ name: context }] });
    fs.writeFileSync(
        path.join(dir, "kubectl"),
        `#!/bin/sh\ncase "$*" in\n  *"config view"*) echo '${view}' ;;\n  *"get --raw /readyz"*) echo ok ;;\n  *) echo "fake kubectl: $*" >&2; exit 1 ;;\nesac\n`,
        { mode: 0o755 },
    );
    process.env.PATH = `${dir}${path.delimiter}${process.env.PATH}`;
    process.env.KUBECONFIG = kubeconfig;
    return { kubeconfig, context };
}
