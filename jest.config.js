/** Jest transpiles only; `tsc --noEmit` type-checks once, separately (type-checking @pulumi/aws is slow). */
module.exports = {
    testEnvironment: "node",
    roots: ["<rootDir>/tests"],
    testMatch: ["**/*.test.ts"],
    transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] },
    testTimeout: 60000,
    globalSetup: "<rootDir>/tests/setup/global-setup.js",
    globalTeardown: "<rootDir>/tests/setup/global-teardown.js",
};
