#!/usr/bin/env bash
# Shared by the project's setup scripts: strict mode, logging, the version pins and the tool cache.
set -Eeuo pipefail
trap 'echo "${0##*/}: failed at line ${LINENO}: ${BASH_COMMAND}" >&2' ERR

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=SCRIPTDIR/../toolchain/versions.env
source "${ROOT}/toolchain/versions.env"
# Outside the work tree so a fresh clone on the same machine reuses it; keyed by version.
CACHE_DIR=${ETHNODE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ethnode}
# The sandbox guest's working copy (and the sandbox stack's state, which lives and dies with it).
SANDBOX_WORK=${SANDBOX_DIR:-/var/tmp/ethnode-sandbox}
export ROOT CACHE_DIR SANDBOX_WORK

# Installs a Go command at a pinned version into the cache once; prints the binary's path.
go_tool() {
  local name=$1 module=$2 version=$3
  local dir="${CACHE_DIR}/${name}-v${version}"
  if [[ ! -x "${dir}/${name}" ]]; then
    log "building ${name} v${version} from the Go module proxy (cached in ${dir})"
    rm -rf "${dir}.tmp"
    mkdir -p "${dir}.tmp"
    GOBIN="${dir}.tmp" GOFLAGS=-trimpath go install "${module}@v${version}"
    rm -rf "$dir"
    mv "${dir}.tmp" "$dir"
  fi
  echo "${dir}/${name}"
}

log() { printf '\033[1m[ethnode]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo -n "$@"; fi
}



# Compiles the TypeScript into .cache/build (for scripts run with node); compiled modules find assets/ and
# lua/ beside their parent directory, as in the source tree.
compile_ts() {
  local out="${ROOT}/.cache/build"
  rm -rf "$out"
  (cd "$ROOT" && npx --no-install tsc -p . --noEmit false --outDir "$out" --rootDir "$ROOT")
  ln -sfn "${ROOT}/assets" "${out}/assets"
  ln -sfn "${ROOT}/lua" "${out}/lua"
  echo "$out"
}
