#!/usr/bin/env bash
# Installs everything the test suite and the sandbox need on a fresh Debian 12 machine, idempotently and
# cached, from the package registries alone: Debian packages (nginx + lua, Prometheus tools, shellcheck,
# systemd-analyze, wrk), npm dependencies from the lockfile, Geth, actionlint, VictoriaLogs and vmalert built
# from the Go module proxy at the pinned versions, and the sandbox guest's root file system
# (scripts/sandbox-host.sh build). The Pulumi engine's plugins come from no registry here: detected, not installed.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"

APT_PACKAGES=(
  nginx libnginx-mod-http-lua lua-resty-core lua-cjson luajit2 lua-check
  prometheus prometheus-alertmanager prometheus-node-exporter
  shellcheck systemd wrk jq curl ca-certificates
)
# Callers may need more (the benchmark: valgrind), installed the same way.
read -r -a extra <<<"${ETHNODE_EXTRA_APT:-}"
APT_PACKAGES+=("${extra[@]}")

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  log "installing Debian packages: ${missing[*]}"
  # The packaged services must not start on install: tests run their own copies on their own ports.
  policy=/usr/sbin/policy-rc.d
  had_policy=false
  if [[ -e $policy ]]; then had_policy=true; fi
  if [[ $had_policy == false ]]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
    as_root chmod 0755 "$policy"
  fi
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  if [[ $had_policy == false ]]; then as_root rm -f "$policy"; fi
fi

if [[ ! -d "${ROOT}/node_modules" || "${ROOT}/package-lock.json" -nt "${ROOT}/node_modules/.package-lock.json" ]]; then
  # Exactly the lockfile's versions and integrity hashes. Not `npm ci`: npm 11 leaves other platforms'
  # optional packages out of the lockfile (npm/cli#4828, #7961) and `npm ci` then refuses it; this
  # registry mirror does not even serve some of them. `--no-save` keeps the lockfile untouched.
  log "npm install (from the lockfile)"
  (cd "$ROOT" && npm install --no-save --no-audit --no-fund)
fi

geth=$(go_tool geth github.com/ethereum/go-ethereum/cmd/geth "$ETHNODE_GETH_VERSION")
version=$("$geth" version)
[[ "$version" == *"Version: ${ETHNODE_GETH_VERSION}-"* ]] || { log "cached geth is not v${ETHNODE_GETH_VERSION}"; exit 1; }
go_tool actionlint github.com/rhysd/actionlint/cmd/actionlint "$ETHNODE_ACTIONLINT_VERSION" >/dev/null
go_tool victoria-logs github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs "$ETHNODE_VICTORIALOGS_VERSION" >/dev/null
go_tool vmalert github.com/VictoriaMetrics/VictoriaMetrics/app/vmalert "$ETHNODE_VMALERT_VERSION" >/dev/null
# The Pulumi engine is a detected prerequisite (scripts/engine.sh): where its plugins are installed, the pinned CLI
# is made ready now (built once from the Go module proxy when no pulumi of that version is on PATH); elsewhere the
# real-engine tier is skipped and says why.
if [[ -z "$(bash "${ROOT}/scripts/engine.sh" missing)" ]]; then
  bash "${ROOT}/scripts/engine.sh" check >/dev/null || log "the Pulumi engine is present but not usable (above): the real-engine tier will fail"
fi
bash "${ROOT}/scripts/sandbox-host.sh" build
log "test dependencies ready"
