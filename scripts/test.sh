#!/usr/bin/env bash
# The README's test command (`npm test`): sets up what the tests need, then type-checks and runs every test
# (the type-check beside the tests: it needs one core for half a minute, jest is mostly waiting).
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash scripts/setup-test-deps.sh
mkdir -p "${ROOT}/.cache"
log "type-checking and running tests"
npx --no-install tsc --noEmit -p . >"${ROOT}/.cache/tsc.log" 2>&1 &
tsc_pid=$!
# --ci: a missing snapshot fails instead of being written. The summary line is for CI's reader.
# Every test's temporary directory lives under this root, removed however jest ends (tests/setup/).
ETHNODE_TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ethnode-tests-XXXXXX")
export ETHNODE_TEST_TMP
trap '[[ -n "${KEEP_ROOT:-}" ]] || rm -rf "$ETHNODE_TEST_TMP"' EXIT
# A full run needs about 3 GB of scratch at its peak (geth datadirs, the sandbox guest): say so up front
# rather than as a geth that will not start.
free_mb=$(df -Pm "$ETHNODE_TEST_TMP" | awk 'NR == 2 { print $4 }')
if ((free_mb < 5000)); then log "warning: only ${free_mb} MB free under ${ETHNODE_TEST_TMP}; the tests need about 3 GB"; fi
# The real-engine tier runs only where the pinned engine is (scripts/engine.sh): decided once, here.
ETHNODE_ENGINE=$(node scripts/ts-run.js tests/helpers/engine.ts state)
export ETHNODE_ENGINE
status=0
rm -f "${ROOT}/.cache/jest-results.json"
npx --no-install jest --ci --json --outputFile="${ROOT}/.cache/jest-results.json" "$@" || status=$?
tsc_status=0
wait "$tsc_pid" || tsc_status=$?
if ((tsc_status != 0)); then
  cat "${ROOT}/.cache/tsc.log" >&2
  log "type-check failed"
  status=$tsc_status
else
  log "type-check passed"
fi
# The last lines: which tiers ran (a skipped one never counts as passed), then the counts.
node scripts/ts-run.js tests/helpers/engine.ts tier
node scripts/ts-run.js tests/helpers/consensus.ts
if [[ -f "${ROOT}/.cache/jest-results.json" ]]; then
  jq -r '"jest: \(.numPassedTests) passed, \(.numFailedTests) failed, \(.numPendingTests) skipped"' "${ROOT}/.cache/jest-results.json"
else
  echo "jest: 0 passed, 1 failed (jest wrote no results)"
  status=1
fi
exit "$status"
