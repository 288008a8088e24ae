/**
 * One temporary root per test run: every tmpDir() of the tests lives under it, and global-teardown.js removes
 * it when the run ends, whatever a test left behind (a geth datadir can hold over a gigabyte; leaked ones once
 * filled the disk). scripts/test.sh makes the root itself, so it is removed even when jest is killed.
 */
const fs = require("fs");
const os = require("os");
const path = require("path");

module.exports = async () => {
    if (process.env.ETHNODE_TEST_TMP) return;
    process.env.ETHNODE_TEST_TMP = fs.mkdtempSync(path.join(os.tmpdir(), "ethnode-tests-"));
    process.env.ETHNODE_TEST_TMP_OWNED = "1";
};
