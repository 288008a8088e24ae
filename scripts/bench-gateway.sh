#!/usr/bin/env bash
# `npm run bench:gateway`: compiles the TypeScript once and runs the side-by-side benchmark.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
bash scripts/setup-test-deps.sh
out="${ROOT}/.cache/bench"
rm -rf "$out"
npx --no-install tsc -p . --noEmit false --outDir "$out" --rootDir "$ROOT"
# Compiled modules find assets/ and lua/ beside their parent directory, as in the source tree.
ln -sfn "${ROOT}/assets" "${out}/assets"
ln -sfn "${ROOT}/lua" "${out}/lua"
node "${out}/scripts/bench-gateway.js"
