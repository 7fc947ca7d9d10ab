/*
 * The mock monitor hands `newResource` no dependencies, so this records them from the registration
 * requests themselves: every resource's direct dependencies (explicit dependsOn and those its
 * inputs carry), by URN. Call after installMocks and before the program is imported.
 */
export function recordDependencies(): Map<string, string[]> {
    const settings = require("@pulumi/pulumi/runtime/settings");
    const monitor = settings.getMonitor();
    const dependencies = new Map<string, string[]>();
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: any, callback: (err: unknown, response: any) => void) =>
        register(req, (err: unknown, response: any) => {
            if (response) {
                const direct = new Set<string>(req.getDependenciesList());
                const byProperty = req.getPropertydependenciesMap();
                byProperty.forEach((entry: any) => entry.getUrnsList().forEach((urn: string) => direct.add(urn)));
                dependencies.set(response.getUrn(), [...direct]);
            }
            callback(err, response);
        });
    return dependencies;
}

/** Whether `from` depends on `to`, directly or through other resources. */
export function dependsOn(dependencies: Map<string, string[]>, from: string, to: string): boolean {
    const seen = new Set<string>();
    const pending = [...(dependencies.get(from) ?? [])];
    while (pending.length > 0) {
        const next = pending.pop()!;
        if (next === to) {
            return true;
        }
        if (!seen.has(next)) {
            seen.add(next);
            pending.push(...(dependencies.get(next) ?? []));
        }
    }
    return false;
}

/** Records which resources were registered as protected (`protect: true`), by URN. */
export function recordProtection(): Map<string, boolean> {
    const settings = require("@pulumi/pulumi/runtime/settings");
    const monitor = settings.getMonitor();
    const protectedByUrn = new Map<string, boolean>();
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: any, callback: (err: unknown, response: any) => void) =>
        register(req, (err: unknown, response: any) => {
            if (response) {
                protectedByUrn.set(response.getUrn(), Boolean(req.getProtect()));
            }
            callback(err, response);
        });
    return protectedByUrn;
}
