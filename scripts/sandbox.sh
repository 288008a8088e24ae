#!/usr/bin/env bash
# README command 1: set up this machine and `pulumi up` the sandbox stack onto a local systemd guest.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"
case "${1:-}" in
  up | down)
    log "the sandbox stack (a real pulumi up onto a local systemd guest) is not yet available: see issue 5"
    exit 2
    ;;
  -h | --help | *)
    echo "usage: scripts/sandbox.sh up|down"
    [[ "${1:-}" == -h || "${1:-}" == --help ]]
    ;;
esac
