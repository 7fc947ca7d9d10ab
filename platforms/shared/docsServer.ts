/*
 * The docs site's server on the container platforms: Python's own static file server, which follows
 * the `current` link at each request, so a swap needs no restart.
 */

/**
 * Run as a container's first process, Python would ignore SIGTERM (the kernel drops a signal that
 * process 1 has no handler for), and every stop of the server would wait out the platform's whole
 * grace period before it was killed. SIGTERM is therefore made to end it as Ctrl-C does.
 */
const SERVE = "import runpy, signal; signal.signal(signal.SIGTERM, signal.default_int_handler); runpy.run_module('http.server', run_name='__main__', alter_sys=True)";

/** The server's command line: serves `${siteDir}/current` on every address at `port`. */
export function docsServerCommand(siteDir: string, port: number): string[] {
    return ["python3", "-c", SERVE, "--bind", "0.0.0.0", "--directory", `${siteDir}/current`, String(port)];
}
