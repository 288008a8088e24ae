#!/usr/bin/env bash
# The one place that decides whether a usable Pulumi engine is here: a `pulumi` CLI of the pinned version and
# the pinned `command` and `random` provider plugins, as `pulumi plugin ls` lists them in the PULUMI_HOME in
# use (${PULUMI_HOME:-~/.pulumi}). No language host is needed: the sandbox and the real-engine tests run the
# program inline through the Automation API (scripts/stack.ts).
#
#   scripts/engine.sh check      exit 0 and print the path of an env file to source when the engine is usable;
#                                exit 3 when a part is absent (stderr: what, and how to get it); exit 1 when a
#                                part is present but broken (a wrong version, a plugin `pulumi` does not list)
#   scripts/engine.sh missing    the absent parts, one line each (nothing when none is absent)
#   scripts/engine.sh help-install  the commands a machine with internet runs to get the plugins
#
# The CLI is a `pulumi` of the pinned version on PATH, else built from the Go module proxy into the cache (once,
# when the plugins are there to use it). The plugins come from no registry this project's machines reach: with
# internet, `pulumi plugin install` (see help-install); here, only what someone built by hand on this machine.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"

PULUMI_HOME=${PULUMI_HOME:-${HOME}/.pulumi}
PLUGINS=("command:${ETHNODE_PULUMI_COMMAND_VERSION}" "random:${ETHNODE_PULUMI_RANDOM_VERSION}")
CLI_DIR="${CACHE_DIR}/pulumi-v${ETHNODE_PULUMI_VERSION}"
ENV_FILE="${CACHE_DIR}/engine.env"

help_install() {
  cat <<EOF
  pulumi plugin install resource command ${ETHNODE_PULUMI_COMMAND_VERSION}
  pulumi plugin install resource random ${ETHNODE_PULUMI_RANDOM_VERSION}
EOF
}

# Plugins absent from PULUMI_HOME, read from the directory `pulumi plugin install` writes (no CLI needed, so a
# machine without them is told in a moment rather than after a CLI build).
missing() {
  local plugin name version
  for plugin in "${PLUGINS[@]}"; do
    name=${plugin%%:*} version=${plugin#*:}
    [[ -x "${PULUMI_HOME}/plugins/resource-${name}-v${version}/pulumi-resource-${name}" ]] ||
      echo "no pulumi-resource-${name} ${version} in PULUMI_HOME (${PULUMI_HOME})"
  done
}

# The pinned CLI: on PATH, else the cached build, else built now. Prints its path.
cli() {
  local want="v${ETHNODE_PULUMI_VERSION}" found
  found=$(command -v pulumi || true)
  if [[ -n "$found" && "$("$found" version 2>/dev/null)" == "$want" ]]; then
    echo "$found"
    return
  fi
  if [[ ! -x "${CLI_DIR}/bin/pulumi" ]]; then
    log "building the pulumi CLI ${want} from the Go module proxy (once, cached in ${CLI_DIR})"
    rm -rf "${CLI_DIR}.tmp"
    mkdir -p "${CLI_DIR}.tmp/bin"
    # In toolchain/pulumi-cli, a main module of its own (pkg/v3's go.mod has replace directives, which
    # `go install …@version` refuses); its go.sum verifies every download. The CLI reports the version it is
    # told at link time (the module's own default is a dev version).
    (cd "${ROOT}/toolchain/pulumi-cli" && GOFLAGS=-trimpath go build \
      -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=${want}" \
      -o "${CLI_DIR}.tmp/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi) >&2
    rm -rf "$CLI_DIR"
    mv "${CLI_DIR}.tmp" "$CLI_DIR"
  fi
  echo "${CLI_DIR}/bin/pulumi"
}

check() {
  local absent
  absent=$(missing)
  if [[ -n "$absent" ]]; then
    # One line first (what the test summary quotes), then how to get them.
    paste -sd';' <<<"$absent" | sed 's/;/; /g' >&2
    echo "  with internet, get them with:" >&2
    help_install >&2
    return 3
  fi
  local pulumi version listed plugin name
  pulumi=$(cli)
  version=$("$pulumi" version)
  if [[ "$version" != "v${ETHNODE_PULUMI_VERSION}" ]]; then
    log "${pulumi} is ${version}, not v${ETHNODE_PULUMI_VERSION}"
    return 1
  fi
  listed=$(PULUMI_HOME=$PULUMI_HOME PULUMI_SKIP_UPDATE_CHECK=true "$pulumi" plugin ls --json) || {
    log "pulumi plugin ls failed in PULUMI_HOME ${PULUMI_HOME}"
    return 1
  }
  for plugin in "${PLUGINS[@]}"; do
    name=${plugin%%:*}
    if ! jq -e --arg n "$name" --arg v "${plugin#*:}" 'any(.[]; .name == $n and .kind == "resource" and .version == $v)' <<<"$listed" >/dev/null; then
      log "the ${name} plugin's directory is in ${PULUMI_HOME}/plugins, but pulumi plugin ls does not list ${name} ${plugin#*:}"
      return 1
    fi
  done
  mkdir -p "$CACHE_DIR"
  cat >"${ENV_FILE}.new" <<ENV
export PATH="$(dirname "$pulumi"):\${PATH}"
export PULUMI_HOME="${PULUMI_HOME}"
export PULUMI_SKIP_UPDATE_CHECK=true
# The plugins are the pinned ones in PULUMI_HOME: never a copy found on PATH, never a download mid-run.
export PULUMI_IGNORE_AMBIENT_PLUGINS=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
ENV
  mv -f "${ENV_FILE}.new" "$ENV_FILE"
  echo "$ENV_FILE"
}

case "${1:-}" in
  check)
    # A status is the answer here, not a failure of this script (no ERR trap line).
    status=0
    check || status=$?
    exit "$status"
    ;;
  missing) missing ;;
  help-install) help_install ;;
  *)
    sed -n '7,11p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
