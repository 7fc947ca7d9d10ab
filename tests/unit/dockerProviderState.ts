/*
 * What the Docker provider (pulumi-docker 4.11.2, on terraform-provider-docker 3.9.0) saves for a
 * container's healthcheck. After creating a container, the provider reads the healthcheck back
 * from the engine (resourceDockerContainerRead in resource_docker_container_funcs.go): each
 * duration, which the engine keeps in nanoseconds, is printed by Go's time.Duration.String(), and
 * each field the program left out holds its schema default from resource_docker_container.go
 * (interval, timeout, start_period, start_interval "0s"; retries 0). The next `pulumi up` diffs
 * the program's inputs against this saved form.
 *
 * Written apart from the program's own healthcheck builder, as a parser and printer of Go
 * durations, so that a test comparing the two does not compare a function with itself.
 */

export interface SavedHealthcheck {
    tests: string[];
    interval: string;
    timeout: string;
    startPeriod: string;
    startInterval: string;
    retries: number;
}

const NANOS: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration for the non-negative durations the provider accepts, in nanoseconds. */
export function parseGoDuration(text: string): number {
    if (text === "0") {
        return 0;
    }
    const parts = [...text.matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/g)];
    if (parts.length === 0 || parts.map(part => part[0]).join("") !== text) {
        throw new Error(`the Docker provider refuses '${text}': not a Go duration such as 5s or 2m0s`);
    }
    return Math.round(parts.reduce((sum, [, value, unit]) => sum + Number(value) * NANOS[unit], 0));
}

/** A whole number and a remainder below `unit`, as Go prints a fraction: no trailing zeros. */
function withFraction(nanos: number, unit: number): string {
    const whole = Math.floor(nanos / unit);
    const rest = nanos % unit;
    if (rest === 0) {
        return `${whole}`;
    }
    const digits = String(unit).length - 1;
    return `${whole}.${String(rest).padStart(digits, "0").replace(/0+$/, "")}`;
}

/** Go's time.Duration.String() for a non-negative duration in nanoseconds. */
export function formatGoDuration(nanos: number): string {
    if (nanos === 0) {
        return "0s";
    }
    if (nanos < 1e3) {
        return `${nanos}ns`;
    }
    if (nanos < 1e6) {
        return `${withFraction(nanos, 1e3)}µs`;
    }
    if (nanos < 1e9) {
        return `${withFraction(nanos, 1e6)}ms`;
    }
    const hours = Math.floor(nanos / 3600e9);
    const minutes = Math.floor((nanos % 3600e9) / 60e9);
    const seconds = `${withFraction(nanos % 60e9, 1e9)}s`;
    if (hours > 0) {
        return `${hours}h${minutes}m${seconds}`;
    }
    return minutes > 0 ? `${minutes}m${seconds}` : seconds;
}

/** The healthcheck the provider saves for the one a program declares. */
export function savedHealthcheck(declared: Partial<SavedHealthcheck> & { tests: string[] }): SavedHealthcheck {
    const duration = (value: string | undefined) => formatGoDuration(parseGoDuration(value ?? "0s"));
    return {
        tests: declared.tests,
        interval: duration(declared.interval),
        timeout: duration(declared.timeout),
        startPeriod: duration(declared.startPeriod),
        startInterval: duration(declared.startInterval),
        retries: declared.retries ?? 0,
    };
}
