#!/usr/bin/env bash
# `npm run bench:gateway`: sets up the test dependencies, compiles the TypeScript once and runs the side-by-side
# benchmark.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1
ETHNODE_EXTRA_APT=valgrind bash scripts/setup-test-deps.sh
out=$(compile_ts)
node "${out}/scripts/bench-gateway.js"
