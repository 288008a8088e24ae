#!/usr/bin/env bash
# `npm run bench:ha`: compiles the TypeScript once and runs the HA benchmark on the sandbox cluster (it deploys
# the three-node sandbox with the real engine, measures, and tears it down).
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1
bash scripts/setup-test-deps.sh
out=$(compile_ts)
ETHNODE_ROOT="$ROOT" node "${out}/scripts/bench-ha.js"
