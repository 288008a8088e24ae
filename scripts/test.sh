#!/usr/bin/env bash
# The README's test command (`npm test`): sets up what the tests need, type-checks, then runs every test.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash scripts/setup-test-deps.sh
log "type-checking"
npx --no-install tsc --noEmit -p .
log "running tests"
# --ci: a missing snapshot fails instead of being written.
npx --no-install jest --ci "$@"
