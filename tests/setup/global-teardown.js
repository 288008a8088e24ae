/** Removes the run's temporary root that global-setup.js made (KEEP_ROOT=1 keeps it for a post-mortem). */
const fs = require("fs");

module.exports = async () => {
    const root = process.env.ETHNODE_TEST_TMP;
    if (!root || process.env.ETHNODE_TEST_TMP_OWNED !== "1") return;
    if (process.env.KEEP_ROOT) console.log(`kept ${root}`);
    else fs.rmSync(root, { recursive: true, force: true });
};
