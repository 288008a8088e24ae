#!/usr/bin/env bash
# Makes the pinned Pulumi engine available and prints the path of a file of `export` lines that put it to use
# (source it): `pulumi`, the Node.js language host and the `command` and `random` providers.
#
# Offline (this project's machines): built from the source archives in ../shared/pulumi-src by their
# build.sh into ${CACHE_DIR}/pulumi-engine-<version>/bin (cached: a warm run takes seconds); the providers are
# installed into that engine's own PULUMI_HOME as regular plugins, so the engine never downloads one and never
# warns about plugins found on PATH. With internet, a `pulumi` of the pinned version on PATH is used as it is,
# and it installs its plugins itself.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"

src=${ETHNODE_PULUMI_SRC:-$(cd "${ROOT}/.." && pwd)/shared/pulumi-src}
want="v${ETHNODE_PULUMI_VERSION}"
engine="${CACHE_DIR}/pulumi-engine-${ETHNODE_PULUMI_VERSION}"
env_file="${engine}/env"
mkdir -p "$engine"

if [[ -x "${src}/build.sh" ]]; then
  bin="${engine}/bin"
  # build.sh keys each binary on its version, source archive, pinned go.sum and Go version.
  PULUMI_VERSION=$ETHNODE_PULUMI_VERSION PULUMI_COMMAND_VERSION=$ETHNODE_PULUMI_COMMAND_VERSION \
    PULUMI_RANDOM_VERSION=$ETHNODE_PULUMI_RANDOM_VERSION bash "${src}/build.sh" --src "$src" "$bin" >/dev/null
  home="${engine}/home"
  for plugin in "command:${ETHNODE_PULUMI_COMMAND_VERSION}" "random:${ETHNODE_PULUMI_RANDOM_VERSION}"; do
    name=${plugin%%:*} version=${plugin#*:}
    installed="${home}/plugins/resource-${name}-v${version}/pulumi-resource-${name}"
    if ! cmp -s "$installed" "${bin}/pulumi-resource-${name}"; then
      rm -rf "${home}/plugins/resource-${name}-v${version}"
      PULUMI_HOME=$home "${bin}/pulumi" plugin install resource "$name" "$version" --file "${bin}/pulumi-resource-${name}" >&2
    fi
  done
  cat >"${env_file}.new" <<ENV
export PATH="${bin}:\${PATH}"
export PULUMI_HOME="${home}"
# The providers are the plugins installed above, never the copies beside pulumi on PATH, never a download.
export PULUMI_IGNORE_AMBIENT_PLUGINS=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
ENV
elif command -v pulumi >/dev/null && [[ "$(pulumi version)" == "$want" ]]; then
  bin=$(dirname "$(command -v pulumi)")
  echo "export PATH=\"${bin}:\${PATH}\"" >"${env_file}.new"
else
  log "no Pulumi engine: install the Pulumi CLI ${want} (README, Deploy) or set ETHNODE_PULUMI_SRC to a pulumi-src directory"
  exit 1
fi
[[ "$("${bin}/pulumi" version)" == "$want" ]] || { log "${bin}/pulumi is $("${bin}/pulumi" version), not ${want}"; exit 1; }
echo "export PULUMI_SKIP_UPDATE_CHECK=true" >>"${env_file}.new"
mv -f "${env_file}.new" "$env_file"
echo "$env_file"
