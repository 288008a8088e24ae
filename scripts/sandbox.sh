#!/usr/bin/env bash
# README command 1 (`npm run sandbox`): sets this machine up and deploys the sandbox stack onto a local
# Debian guest with real systemd (scripts/sandbox-host.sh), then prints the endpoints.
# `npm run sandbox:down` runs the stack's delete steps and stops the guest.
#
# The Pulumi engine cannot be built offline here (the Go module proxy withholds pulumi-language-nodejs and
# the command/random providers), so the stack's steps are applied by scripts/sandbox-apply.ts: the program
# under Pulumi's mocks, each remote step run exactly as the command provider would. Where the engine is
# available, `pulumi up --stack sandbox` deploys the same stack.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

SLACK_RECEIVER_PORT=${SLACK_RECEIVER_PORT:-9099}

usage() {
  echo "usage: scripts/sandbox.sh up|down"
}

run_apply() {
  local mode=$1 key out geth
  key=$(bash scripts/sandbox-host.sh up)
  geth=$(go_tool geth github.com/ethereum/go-ethereum/cmd/geth "$ETHNODE_GETH_VERSION")
  out=$(compile_ts)
  ETHNODE_PROJECT="$ROOT" node "${out}/scripts/sandbox-apply.js" "$mode" "$key" "$geth" "http://127.0.0.1:${SLACK_RECEIVER_PORT}/slack"
}

case "${1:-}" in
  up)
    bash scripts/setup-test-deps.sh
    run_apply up
    cat <<EOF

The sandbox node is up (a systemd guest sharing this machine's network):
  JSON-RPC gateway   http://127.0.0.1:8080
                     curl -s -H 'content-type: application/json' \\
                       --data '{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}' http://127.0.0.1:8080
  Prometheus         http://127.0.0.1:9090
  Alertmanager       http://127.0.0.1:9093   (Slack webhook -> http://127.0.0.1:${SLACK_RECEIVER_PORT}/slack)
  node status        ssh -i ${CACHE_DIR}/sandbox-ssh-key -p 2222 root@127.0.0.1 ethnode status
Tear down with: npm run sandbox:down
EOF
    ;;
  down)
    if bash scripts/sandbox-host.sh status 2>/dev/null; then run_apply down; fi
    bash scripts/sandbox-host.sh down
    ;;
  -h | --help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
