/** A YAML value as the generated files use it: scalars and nested maps. */
export type YamlValue = string | number | boolean | { [key: string]: YamlValue };

function renderScalar(value: string | number | boolean): string {
    if (typeof value !== "string") {
        return String(value);
    }
    // Plain words stay bare; anything else is a JSON string, which YAML reads the same way.
    return /^[A-Za-z_][A-Za-z0-9_./-]*$/.test(value) && !/^(true|false|yes|no|on|off|null|y|n)$/i.test(value) ? value : JSON.stringify(value);
}

/** Renders nested maps as block YAML with keys sorted, so equal values give equal bytes. */
export function renderYaml(value: { [key: string]: YamlValue }, indent = 0): string {
    const pad = " ".repeat(indent);
    return Object.keys(value)
        .sort()
        .map(key => {
            const child = value[key];
            const renderedKey = renderScalar(key);
            return typeof child === "object" ? `${pad}${renderedKey}:\n${renderYaml(child, indent + 2)}` : `${pad}${renderedKey}: ${renderScalar(child)}\n`;
        })
        .join("");
}
