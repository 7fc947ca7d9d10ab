/** Two suites: fast unit tests with Pulumi mocks, and integration tests that deploy the real stack. */
const common = {
    preset: "ts-jest",
    testEnvironment: "node",
    transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json", diagnostics: { warnOnly: false } }] },
};

module.exports = {
    testSequencer: "<rootDir>/tests/sequencer.js",
    // Beside a deploying suite on the other worker, a unit suite's beforeAll (the whole program under
    // mocks) took over jest's default 5 s; integration suites set their own, longer, timeouts.
    testTimeout: 60_000,
    projects: [
        { ...common, displayName: "unit", testMatch: ["<rootDir>/tests/unit/**/*.test.ts"] },
        { ...common, displayName: "integration", testMatch: ["<rootDir>/tests/integration/**/*.test.ts"] },
    ],
};
