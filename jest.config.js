/** Jest transpiles only; `tsc --noEmit` type-checks once, separately (type-checking @pulumi/aws is slow). */
module.exports = {
    testEnvironment: "node",
    roots: ["<rootDir>/tests"],
    testMatch: ["**/*.test.ts"],
    transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] },
    testTimeout: 60000,
    // Two suites at a time even on 2 cores (jest's default is cores - 1): the end-to-end suite mostly waits on
    // the engine and the guest, and the others use free ports, never the sandbox's fixed ones.
    maxWorkers: 2,
    globalSetup: "<rootDir>/tests/setup/global-setup.js",
    globalTeardown: "<rootDir>/tests/setup/global-teardown.js",
};
