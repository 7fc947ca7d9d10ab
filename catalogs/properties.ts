/** Values Trino reads from its `.properties` files. */
export type PropertyValue = string | number | boolean;

/**
 * Renders a Java properties file with keys sorted, so the same values always give the same bytes
 * and a regenerated file never shows a spurious diff.
 */
export function renderProperties(values: Record<string, PropertyValue>): string {
    return Object.keys(values)
        .sort()
        .map(key => {
            const value = String(values[key]);
            if (/[\r\n]/.test(value) || /[\r\n=:\s]/.test(key)) {
                throw new Error(`property '${key}' cannot be written to a properties file: keys must not contain separators and values must be one line`);
            }
            // Java reads a backslash in a properties value as an escape: written doubled, it reads as itself.
            return `${key}=${value.replace(/\\/g, "\\\\")}\n`;
        })
        .join("");
}

/** Trino's reference to an environment variable, so secrets stay out of every file. */
export function envReference(variable: string): string {
    if (!/^[A-Z][A-Z0-9_]*$/.test(variable)) {
        throw new Error(`environment variable name '${variable}' must be upper-case letters, digits and _`);
    }
    return `\${ENV:${variable}}`;
}
