#!/usr/bin/env bash
# `npm run bench:gateway`: builds the peers (erpc, proxyd; cached), compiles the TypeScript once and runs the
# side-by-side benchmark.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT" || exit 1
ETHNODE_EXTRA_APT=valgrind bash scripts/setup-test-deps.sh
while IFS='=' read -r name bin; do
  case $name in
    erpc) export ETHNODE_ERPC_BIN=$bin ;;
    proxyd) export ETHNODE_PROXYD_BIN=$bin ;;
  esac
done < <(bash scripts/build-peers.sh)
out=$(compile_ts)
node "${out}/scripts/bench-gateway.js"
