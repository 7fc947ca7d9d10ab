/*
 * A dynamic resource without a diff of its own is compared by Pulumi on every input, the provider's
 * serialized code included. Any edit to a module that a provider uses would then re-run its step on
 * the next deployment: for a domain's load, that means replacing the rows its owner wrote directly.
 * These steps compare what they were given instead.
 */

/** Where Pulumi keeps a dynamic resource's serialized provider code among its inputs. */
const PROVIDER_CODE = "__provider";

/** JSON with object keys sorted, so that equal values compare equal whatever order they were built in. */
function canonical(value: unknown): string {
    if (Array.isArray(value)) {
        return `[${value.map(canonical).join(",")}]`;
    }
    if (value !== null && typeof value === "object") {
        const entries = Object.keys(value as object)
            .sort()
            .filter(key => (value as Record<string, unknown>)[key] !== undefined)
            .map(key => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`);
        return `{${entries.join(",")}}`;
    }
    return JSON.stringify(value) ?? "undefined";
}

/** The inputs whose values differ between the stored state and the program, the provider's code left out. */
export function changedInputs<T extends object>(olds: Partial<T>, news: T): string[] {
    return Object.keys(news).filter(
        key => key !== PROVIDER_CODE && canonical((olds as Record<string, unknown>)[key]) !== canonical((news as Record<string, unknown>)[key]),
    );
}

/** A dynamic provider's diff on its inputs alone: any change is an update, a change to a `replacing` input a replacement. */
export function inputsDiff<T extends object>(olds: Partial<T>, news: T, replacing: (keyof T)[] = []): { changes: boolean; replaces: string[] } {
    const changed = changedInputs(olds, news);
    return { changes: changed.length > 0, replaces: changed.filter(key => (replacing as string[]).includes(key)) };
}
