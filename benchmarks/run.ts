import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { createMesh } from "../tests/integration/harness";

/*
 * Times the stack's life on this machine with the toolchain cached: a cold `pulumi up` of a fresh
 * stack to checked insights, a no-op `pulumi up`, and `pulumi destroy`. Writes every sample and
 * the medians to benchmarks/results.json. Targets: cold up <= 120 s, no-op <= 15 s, destroy <= 30 s.
 */

const RUNS = Number(process.env.BENCHMARK_RUNS ?? 3);

function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
    const start = process.hrtime.bigint();
    await fn();
    return Number(process.hrtime.bigint() - start) / 1e9;
}

async function main() {
    const samples: { coldUp: number; noopUp: number; destroy: number }[] = [];
    for (let run = 1; run <= RUNS; run++) {
        const mesh = await createMesh(`bench${run}`);
        try {
            const coldUp = await timed(() => mesh.stack.up());
            const noopUp = await timed(() => mesh.stack.up());
            const destroy = await timed(() => mesh.stack.destroy());
            samples.push({ coldUp, noopUp, destroy });
            console.log(`run ${run}/${RUNS}: cold up ${coldUp.toFixed(1)} s, no-op up ${noopUp.toFixed(1)} s, destroy ${destroy.toFixed(1)} s`);
        } finally {
            await mesh.remove();
        }
    }
    const medians = {
        coldUpSeconds: median(samples.map(s => s.coldUp)),
        noopUpSeconds: median(samples.map(s => s.noopUp)),
        destroySeconds: median(samples.map(s => s.destroy)),
    };
    const targets = { coldUpSeconds: 120, noopUpSeconds: 15, destroySeconds: 30 };
    const result = {
        date: new Date().toISOString(),
        machine: { cpus: os.cpus().length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version },
        runs: RUNS,
        samples,
        medians,
        targets,
        withinTargets: Object.fromEntries(Object.entries(medians).map(([k, v]) => [k, v <= targets[k as keyof typeof targets]])),
    };
    const file = path.join(__dirname, "results.json");
    fs.writeFileSync(file, JSON.stringify(result, null, 2) + "\n");
    console.log(`medians: cold up ${medians.coldUpSeconds.toFixed(1)} s, no-op up ${medians.noopUpSeconds.toFixed(1)} s, destroy ${medians.destroySeconds.toFixed(1)} s -> ${file}`);
}

main().catch(e => {
    console.error(e);
    process.exit(1);
});
