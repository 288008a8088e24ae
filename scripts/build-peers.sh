#!/usr/bin/env bash
# Builds the benchmark's peers, erpc and proxyd, from the source archives in ../shared/peer-src (checksums
# verified; their dependencies come from the Go module proxy), cached by version. Prints "erpc=<path>" and
# "proxyd=<path>"; a peer whose archive is absent is left out with a note, and the benchmark runs without it.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"

PEER_SRC=${ETHNODE_PEER_SRC:-${ROOT}/../shared/peer-src}

# build <name> <version> <sha256> <archive> <dir inside the archive> <package> <binary>
build() {
  local name=$1 version=$2 sha=$3 archive="${PEER_SRC}/$4" subdir=$5 pkg=$6 bin=$7
  local dir="${CACHE_DIR}/${name}-v${version}"
  if [[ -x "${dir}/${bin}" ]]; then
    echo "${name}=${dir}/${bin}"
    return
  fi
  if [[ ! -f "$archive" ]]; then
    log "no ${archive}: the benchmark runs without ${name}"
    return
  fi
  echo "${sha}  ${archive}" | sha256sum --check --quiet -
  log "building ${name} ${version} from ${archive} (cached in ${dir})"
  local work
  work=$(mktemp -d)
  tar -xzf "$archive" -C "$work"
  rm -rf "${dir}.tmp"
  mkdir -p "${dir}.tmp"
  (
    cd "${work}/${subdir}" || exit 1
    CGO_ENABLED=0 GOTOOLCHAIN=local GONOSUMDB='github.com/erpc/*,github.com/ethereum-optimism/*' \
      go build -trimpath -o "${dir}.tmp/${bin}" "$pkg"
  )
  rm -rf "$work" "$dir"
  mv "${dir}.tmp" "$dir"
  echo "${name}=${dir}/${bin}"
}

build erpc "$ETHNODE_ERPC_VERSION" "$ETHNODE_ERPC_SHA256" "erpc-${ETHNODE_ERPC_VERSION}.tar.gz" \
  "erpc-${ETHNODE_ERPC_VERSION}" ./cmd/erpc erpc-server
build proxyd "$ETHNODE_PROXYD_VERSION" "$ETHNODE_PROXYD_SHA256" "proxyd-v${ETHNODE_PROXYD_VERSION}.tar.gz" \
  "proxyd-v${ETHNODE_PROXYD_VERSION}/proxyd" ./cmd/proxyd proxyd
