import * as docker from "@pulumi/docker";

/** How often and how patiently a container's probe runs, in whole seconds. */
export interface HealthcheckTiming {
    intervalSeconds: number;
    timeoutSeconds: number;
    startPeriodSeconds: number;
    retries: number;
}

/**
 * A container healthcheck with every field set, each in the form the Docker provider saves. The
 * provider (4.x, on terraform-provider-docker 3.9) reads the healthcheck back from the engine after
 * creating the container: it prints each duration as Go does (120 seconds as "2m0s") and fills each
 * field the program left out with its default ("0s", 0). Inputs that differ from that saved form in
 * any field, or only in spelling, make every later `pulumi up` update the container in place.
 */
export function containerHealthcheck(tests: string[], timing: HealthcheckTiming): docker.types.input.ContainerHealthcheck {
    return {
        tests,
        interval: goDuration(timing.intervalSeconds),
        timeout: goDuration(timing.timeoutSeconds),
        startPeriod: goDuration(timing.startPeriodSeconds),
        // Docker's client refuses any other start interval on engines older than 25 (API 1.44), such as Debian 12's 20.10.
        startInterval: goDuration(0),
        retries: timing.retries,
    };
}

/** Whole seconds as Go's time.Duration prints them: 0s, 5s, 2m0s, 1h0m0s. */
export function goDuration(seconds: number): string {
    if (!Number.isInteger(seconds) || seconds < 0) {
        throw new Error(`a healthcheck duration must be a whole number of seconds, 0 or more; got ${seconds}`);
    }
    const hours = Math.floor(seconds / 3600);
    const minutes = Math.floor((seconds % 3600) / 60);
    const rest = seconds % 60;
    if (hours > 0) {
        return `${hours}h${minutes}m${rest}s`;
    }
    return minutes > 0 ? `${minutes}m${rest}s` : `${rest}s`;
}
