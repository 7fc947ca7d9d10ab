import { containerHealthcheck, goDuration } from "../../platforms/docker/healthcheck";
import { formatGoDuration, parseGoDuration, savedHealthcheck } from "./dockerProviderState";

const TESTS = ["CMD", "pg_isready", "--quiet"];

describe("the docker platform's container healthcheck", () => {
    it("sets every field the provider saves: tests, interval, timeout, startPeriod, startInterval, retries", () => {
        const healthcheck = containerHealthcheck(TESTS, { intervalSeconds: 2, timeoutSeconds: 5, startPeriodSeconds: 120, retries: 5 });
        expect(healthcheck).toEqual({ tests: TESTS, interval: "2s", timeout: "5s", startPeriod: "2m0s", startInterval: "0s", retries: 5 });
    });

    it.each([
        [{ intervalSeconds: 2, timeoutSeconds: 5, startPeriodSeconds: 120, retries: 5 }],
        [{ intervalSeconds: 5, timeoutSeconds: 5, startPeriodSeconds: 300, retries: 3 }],
        [{ intervalSeconds: 0, timeoutSeconds: 59, startPeriodSeconds: 3725, retries: 0 }],
    ])("equals what the provider saves for it, so a second up has nothing to update (%j)", timing => {
        const healthcheck = containerHealthcheck(TESTS, timing) as ReturnType<typeof savedHealthcheck>;
        expect(healthcheck).toEqual(savedHealthcheck(healthcheck));
    });

    it("prints whole seconds as Go does", () => {
        for (const seconds of [0, 1, 5, 59, 60, 61, 120, 300, 3599, 3600, 3725, 90061]) {
            expect({ seconds, printed: goDuration(seconds) }).toEqual({ seconds, printed: formatGoDuration(seconds * 1e9) });
        }
        expect([60, 120, 3600, 3725].map(goDuration)).toEqual(["1m0s", "2m0s", "1h0m0s", "1h2m5s"]);
    });

    it.each([1.5, -1, Number.NaN])("refuses %p seconds, which Go would print with a fraction or not at all", seconds => {
        expect(() => goDuration(seconds)).toThrow(/whole number of seconds, 0 or more/);
    });
});

describe("the mocked provider's saved healthcheck", () => {
    it("differs from the healthcheck the platform used to declare: the start period re-printed, a start interval added", () => {
        const declared = { tests: TESTS, interval: "2s", timeout: "5s", startPeriod: "120s", retries: 5 };
        expect(savedHealthcheck(declared)).toEqual({ tests: TESTS, interval: "2s", timeout: "5s", startPeriod: "2m0s", startInterval: "0s", retries: 5 });
    });

    it("fills every field left out with the schema's default", () => {
        expect(savedHealthcheck({ tests: TESTS })).toEqual({ tests: TESTS, interval: "0s", timeout: "0s", startPeriod: "0s", startInterval: "0s", retries: 0 });
    });

    it.each([
        ["0", "0s"],
        ["0s", "0s"],
        ["90s", "1m30s"],
        ["1.5s", "1.5s"],
        ["1h15m30.918273645s", "1h15m30.918273645s"],
        ["300ms", "300ms"],
        ["2us", "2µs"],
        ["1500ms", "1.5s"],
        ["7ns", "7ns"],
    ])("parses %p and prints it as Go's time.Duration does: %p", (text, printed) => {
        expect(formatGoDuration(parseGoDuration(text))).toBe(printed);
    });

    it.each(["", "5", "5 s", "-5s", "5sec"])("refuses %p, as the provider's duration validation does", text => {
        expect(() => parseGoDuration(text)).toThrow(/not a Go duration/);
    });
});
