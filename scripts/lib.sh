#!/usr/bin/env bash
# Shared by the project's setup scripts: strict mode, logging, the version pins and the tool cache.
set -Eeuo pipefail
trap 'echo "${0##*/}: failed at line ${LINENO}: ${BASH_COMMAND}" >&2' ERR

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=SCRIPTDIR/../toolchain/versions.env
source "${ROOT}/toolchain/versions.env"
# Outside the work tree so a fresh clone on the same machine reuses it; keyed by version.
CACHE_DIR=${ETHNODE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ethnode}
export ROOT CACHE_DIR ETHNODE_GETH_VERSION PULUMI_VERSION PULUMI_COMMAND_VERSION PULUMI_RANDOM_VERSION

log() { printf '\033[1m[ethnode]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo -n "$@"; fi
}

geth_bin() { echo "${CACHE_DIR}/geth-v${ETHNODE_GETH_VERSION}/geth"; }
