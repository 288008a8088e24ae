#!/usr/bin/env bash
# README command 1 (`npm run sandbox`): sets this machine up, then runs a real `pulumi up --stack sandbox` onto a
# local Debian guest with real systemd (scripts/sandbox-host.sh) and prints the stack outputs.
#
#   scripts/sandbox.sh up                set up; boot the guest (or keep it); start the Slack receiver; pulumi up
#   scripts/sandbox.sh down              pulumi destroy; stop the receiver and the guest (`npm run sandbox:down`)
#   scripts/sandbox.sh pulumi ARGS...    any pulumi command on the sandbox stack, e.g. `pulumi preview --diff`
#
# ETHNODE_PROGRAM_DIR runs another copy of the program (with its own Pulumi.sandbox.yaml); the tests use one.
# ETHNODE_ENGINE_ENV names the engine's env file (`scripts/engine.sh check` prints it) to skip that check.
#
# The engine is a detected prerequisite (scripts/engine.sh): without the pinned provider plugins this stops at
# once and says how to get them. `up` and `preview` run the program inline through the Automation API
# (scripts/stack.ts), so no Node.js language host is needed; every other command is the CLI's.
#
# Nothing is written to the work tree. The backend is a local file:// directory that lives and dies with the
# guest (a fresh guest is a fresh stack); the stack config is Pulumi.sandbox.yaml plus the secrets (the SSH key,
# the Slack webhook, the dead man's switch URL) in a generated copy under the cache, encrypted with a passphrase
# generated once beside it.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

SLACK_RECEIVER_PORT=${SLACK_RECEIVER_PORT:-9099}
RECEIVER_URL="http://127.0.0.1:${SLACK_RECEIVER_PORT}"
# The dead man's switch is the same receiver: Alertmanager's Watchdog route pings this path every minute
# (repeat_interval 1m), and the receiver adds "[DEADMAN] no Watchdog from /deadman/sandbox for N s" to its
# messages once the path has been silent for DEADMAN_AFTER_SEC (three missed pings).
DEADMAN_PATH=/deadman/sandbox
DEADMAN_AFTER_SEC=${DEADMAN_AFTER_SEC:-180}
STACK_DIR="${CACHE_DIR}/sandbox"
CONFIG_FILE="${STACK_DIR}/Pulumi.sandbox.yaml"
PROGRAM_DIR=${ETHNODE_PROGRAM_DIR:-$ROOT}
RECEIVER_LOG="${STACK_DIR}/slack.log"
RECEIVER_PID="${STACK_DIR}/slack.pid"
# Several nodes (`ethnode:nodes` in the program's Pulumi.sandbox.yaml) run as a cluster of guests in network
# namespaces of their own (scripts/sandbox-host.sh cluster-up); they reach this machine at the bridge address.
NODES=$(awk '/^  ethnode:nodes:/ {print $2}' "${PROGRAM_DIR}/Pulumi.sandbox.yaml" | tr -d "'\"")
NODES=${NODES:-1}
BRIDGE_IP=10.77.0.1
if ((NODES > 1)); then RECEIVER_URL="http://${BRIDGE_IP}:${SLACK_RECEIVER_PORT}"; fi
SLACK_URL="${RECEIVER_URL}/services/sandbox"
DEADMAN_URL="${RECEIVER_URL}${DEADMAN_PATH}"

# Stops here, in a moment, when the engine's plugins are absent: what is missing and how to get it.
require_engine_plugins() {
  local absent line
  absent=$(bash "${ROOT}/scripts/engine.sh" missing)
  [[ -z "$absent" ]] && return 0
  {
    echo "ethnode: the sandbox needs the Pulumi engine, and this machine lacks part of it:"
    while IFS= read -r line; do echo "  ${line}"; done <<<"$absent"
    echo "Pinned (toolchain/versions.env): pulumi ${ETHNODE_PULUMI_VERSION} (a pulumi of that version on PATH, else built here"
    echo "from the Go module proxy), the command ${ETHNODE_PULUMI_COMMAND_VERSION} and random ${ETHNODE_PULUMI_RANDOM_VERSION} provider plugins."
    echo "With internet, install them with any pulumi CLI (README, Prerequisites):"
    bash "${ROOT}/scripts/engine.sh" help-install
  } >&2
  exit 1
}

# The engine, and where it keeps the stack.
engine_env() {
  local env_file=${ETHNODE_ENGINE_ENV:-} status=0
  # A caller that runs many commands (the tests) checks the engine once and passes its env file.
  if [[ -z "$env_file" ]]; then
    require_engine_plugins
    env_file=$(bash "${ROOT}/scripts/engine.sh" check) || status=$?
    ((status == 0)) || { log "the Pulumi engine on this machine is not usable (above)"; exit 1; }
  fi
  # shellcheck source=/dev/null
  source "$env_file"
  mkdir -p "$STACK_DIR"
  if [[ ! -s "${STACK_DIR}/passphrase" ]]; then
    (umask 077 && head -c 32 /dev/urandom | base64 >"${STACK_DIR}/passphrase")
  fi
  export PULUMI_BACKEND_URL="file://${SANDBOX_WORK}/state"
  export PULUMI_CONFIG_PASSPHRASE_FILE="${STACK_DIR}/passphrase"
}

# pulumi on the sandbox stack, with its generated config file wherever the command takes one; the two commands
# that run the program go through the Automation API.
sandbox_pulumi() {
  local extra=(--stack sandbox)
  case "${1:-}" in up | preview | destroy | refresh | config) extra+=(--config-file "$CONFIG_FILE") ;; esac
  case "${1:-}" in
    up | preview)
      # The Automation API selects the stack in its work directory, and `stack select` writes the stack's salt
      # into the Pulumi.sandbox.yaml it finds there: the generated one beside a copy of the project file, never
      # the tracked one. The program itself runs from PROGRAM_DIR.
      cp "${PROGRAM_DIR}/Pulumi.yaml" "${STACK_DIR}/Pulumi.yaml"
      node "${ROOT}/scripts/ts-run.js" "${ROOT}/scripts/stack.ts" "$@" --cwd "$PROGRAM_DIR" --work-dir "$STACK_DIR" "${extra[@]}"
      ;;
    *) pulumi --cwd "$PROGRAM_DIR" "$@" "${extra[@]}" ;;
  esac
}

# The stack's config: the tracked Pulumi.sandbox.yaml as it is now, the secrets and this machine's paths added,
# and the encryption salt of the stack's secrets kept.
write_config() {
  local key=$1 geth=$2 salt="" init="${STACK_DIR}/init"
  if [[ -f "$CONFIG_FILE" ]]; then salt=$(grep '^encryptionsalt:' "$CONFIG_FILE" || true); fi
  mkdir -p "${SANDBOX_WORK}/state"
  if ! pulumi --cwd "$PROGRAM_DIR" stack ls --json | grep -q '"name": "sandbox"'; then
    # `stack init` writes the new stack's salt into Pulumi.sandbox.yaml beside the Pulumi.yaml it finds: give it
    # a directory of its own, so the tracked file never changes, and take the salt from there.
    rm -rf "$init"
    mkdir -p "$init"
    cp "${PROGRAM_DIR}/Pulumi.yaml" "${init}/"
    pulumi --cwd "$init" stack init sandbox >/dev/null
    salt=$(grep '^encryptionsalt:' "${init}/Pulumi.sandbox.yaml")
  fi
  { echo "$salt"; cat "${PROGRAM_DIR}/Pulumi.sandbox.yaml"; } >"${CONFIG_FILE}.new"
  mv -f "${CONFIG_FILE}.new" "$CONFIG_FILE"
  sandbox_pulumi config set --path ethnode:geth.binaryPath "$geth"
  # Central logs' programs, built like geth (used when the stack enables ethnode:logs).
  sandbox_pulumi config set --path ethnode:logs.victoriaLogsBinaryPath \
    "$(go_tool victoria-logs github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs "$ETHNODE_VICTORIALOGS_VERSION")"
  sandbox_pulumi config set --path ethnode:logs.vmalertBinaryPath \
    "$(go_tool vmalert github.com/VictoriaMetrics/VictoriaMetrics/app/vmalert "$ETHNODE_VMALERT_VERSION")"
  # Secrets on stdin: never on a command line.
  sandbox_pulumi config set --secret ethnode:sshPrivateKey <"$key"
  printf '%s' "$SLACK_URL" | sandbox_pulumi config set --secret ethnode:slackWebhookUrl
  printf '%s' "$DEADMAN_URL" | sandbox_pulumi config set --secret ethnode:deadMansSwitchUrl
  if pos_sandbox; then write_devnet_config "$geth"; fi
}

# The proof-of-stake sandbox: where the pinned Prysm binaries are in the cache (no registry serves them; README,
# Prerequisites), the nodes run one devnet of their own instead of three geth --dev chains: a genesis made here
# once per stack (it lives and dies with the guests' working directory, like the stack's state), Prysm beside
# each Geth, and node 0 signing for the genesis validators. ETHNODE_SANDBOX_POS=off keeps the dev chains.
PRYSM_DIR="${CACHE_DIR}/prysm-v${ETHNODE_PRYSM_VERSION}"
DEVNET_DIR="${SANDBOX_WORK}/devnet"
DEVNET_VALIDATORS=${DEVNET_VALIDATORS:-64}
# 6 s slots: one validator node and two followers keep up on a small machine (../shared/design.md).
DEVNET_SLOT_SECONDS=${DEVNET_SLOT_SECONDS:-6}
pos_sandbox() {
  [[ "${ETHNODE_SANDBOX_POS:-auto}" != off ]] && ((NODES > 1)) &&
    [[ -x "${PRYSM_DIR}/beacon-chain" && -x "${PRYSM_DIR}/validator" && -x "${PRYSM_DIR}/prysmctl" ]]
}

write_devnet_config() {
  local geth=$1
  if [[ ! -s "${DEVNET_DIR}/keystores.json" ]]; then
    mkdir -p "$DEVNET_DIR"
    (umask 077 && head -c 24 /dev/urandom | base64 | tr -d '\n' >"${DEVNET_DIR}/password")
    node "${ROOT}/scripts/ts-run.js" "${ROOT}/scripts/devnet-genesis.ts" --out "$DEVNET_DIR" --geth "$geth" \
      --prysm-dir "$PRYSM_DIR" --validators "$DEVNET_VALIDATORS" --slot-seconds "$DEVNET_SLOT_SECONDS" --genesis-delay 60 \
      --password-file "${DEVNET_DIR}/password"
  fi
  node "${ROOT}/scripts/ts-run.js" "${ROOT}/scripts/sandbox-devnet.ts" "$CONFIG_FILE" "$DEVNET_DIR" "$PRYSM_DIR" "$ETHNODE_PRYSM_VERSION"
  sandbox_pulumi config set --secret ethnode:validatorKeystores <"${DEVNET_DIR}/keystores.json"
  sandbox_pulumi config set --secret ethnode:validatorPassword <"${DEVNET_DIR}/password"
}

receiver_up() {
  if curl -fsS -o /dev/null "http://127.0.0.1:${SLACK_RECEIVER_PORT}/" 2>/dev/null; then return 0; fi
  local out="${STACK_DIR}/receiver"
  # One file, compiled alone: seconds, not the whole project.
  npx --no-install tsc --outDir "$out" --module commonjs --target ES2022 --types node --strict --skipLibCheck \
    "${ROOT}/scripts/slack-receiver.ts"
  local addresses=(127.0.0.1)
  if ((NODES > 1)); then addresses+=("$BRIDGE_IP"); fi
  nohup node "${out}/slack-receiver.js" --deadman-after="$DEADMAN_AFTER_SEC" "$SLACK_RECEIVER_PORT" "${STACK_DIR}/slack.jsonl" \
    "${addresses[@]}" >>"$RECEIVER_LOG" 2>&1 &
  echo $! >"$RECEIVER_PID"
  for _ in $(seq 1 50); do
    curl -fsS -o /dev/null "http://127.0.0.1:${SLACK_RECEIVER_PORT}/" 2>/dev/null && return 0
    sleep 0.2
  done
  cat "$RECEIVER_LOG" >&2
  log "the Slack receiver did not start on 127.0.0.1:${SLACK_RECEIVER_PORT}"
  return 1
}

receiver_down() {
  if [[ -f "$RECEIVER_PID" ]]; then kill "$(cat "$RECEIVER_PID")" 2>/dev/null || true; fi
  rm -f "$RECEIVER_PID"
}

usage() {
  sed -n '5,7p' "$0" | sed 's/^# \{0,1\}//'
}

case "${1:-}" in
  up)
    require_engine_plugins
    bash scripts/setup-test-deps.sh
    engine_env
    if ((NODES > 1)); then key=$(bash scripts/sandbox-host.sh cluster-up "$NODES"); else key=$(bash scripts/sandbox-host.sh up); fi
    geth=$(go_tool geth github.com/ethereum/go-ethereum/cmd/geth "$ETHNODE_GETH_VERSION")
    receiver_up
    write_config "$key" "$geth"
    sandbox_pulumi up --yes --skip-preview
    if ((NODES > 1)); then
      where="${NODES} systemd guests in network namespaces of their own, bridged to this machine at ${BRIDGE_IP}"
      gateway="http://10.77.0.11:8080 (node-0; node-i at 10.77.0.(11+i))"
      ssh_node="ssh -i ${key} root@10.77.0.11"
    else
      where="a systemd guest sharing this machine's network"
      gateway="http://127.0.0.1:8080"
      ssh_node="ssh -i ${key} -p 2222 root@127.0.0.1"
    fi
    cat <<EOF

The sandbox is up (${where}). Stack outputs:
$(sandbox_pulumi stack output)

  JSON-RPC           curl -s -H 'content-type: application/json' \\
                       --data '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}' ${gateway}
  Slack receiver     ${SLACK_URL}: alerts are printed to ${RECEIVER_LOG} (curl http://127.0.0.1:${SLACK_RECEIVER_PORT}/)
  dead man's switch  ${DEADMAN_URL}: the Watchdog's pings (curl http://127.0.0.1:${SLACK_RECEIVER_PORT}${DEADMAN_PATH});
                       [DEADMAN] among the alerts after ${DEADMAN_AFTER_SEC} s without one
  node status        ${ssh_node} ethnode status
  central logs       ${ssh_node} "curl -s 127.0.0.1:9428/select/logsql/query --data-urlencode 'query=_time:5m _SYSTEMD_UNIT:=\"geth.service\"'"
                       (when the stack sets ethnode:logs.enabled: every node's journal, on the first node)
  try an edit        edit Pulumi.sandbox.yaml, then npm run sandbox (or: bash scripts/sandbox.sh pulumi preview --diff)
Tear down with: npm run sandbox:down
EOF
    ;;
  down)
    hosts_up=false
    if ((NODES > 1)); then
      bash scripts/sandbox-host.sh cluster-status "$NODES" 2>/dev/null && hosts_up=true
    else
      bash scripts/sandbox-host.sh status 2>/dev/null && hosts_up=true
    fi
    if [[ -f "$CONFIG_FILE" && "$hosts_up" == true ]]; then
      engine_env
      if pulumi --cwd "$PROGRAM_DIR" stack ls --json 2>/dev/null | grep -q '"name": "sandbox"'; then
        sandbox_pulumi destroy --yes --skip-preview
      fi
    fi
    receiver_down
    bash scripts/sandbox-host.sh cluster-down
    bash scripts/sandbox-host.sh down
    ;;
  pulumi)
    shift
    engine_env
    sandbox_pulumi "$@"
    ;;
  -h | --help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
