#!/usr/bin/env bash
# The sandbox host: a Debian bookworm guest with real systemd as PID 1, booted by systemd-nspawn on this
# machine, sharing its network, with sshd on 127.0.0.1:${SANDBOX_SSH_PORT}. The root file system is built
# once with debootstrap and cached; every `up` starts from a fresh copy of it, so each run gets a clean host.
#
#   scripts/sandbox-host.sh build    install the tools and build the root file system (cached); prints nothing
#   scripts/sandbox-host.sh up       build (cached) and boot the guest (or keep a running one); prints the key
#   scripts/sandbox-host.sh fresh    down, then up: a clean host
#   scripts/sandbox-host.sh down     stop the guest and delete its working copy
#   scripts/sandbox-host.sh status   exit 0 when the guest answers over SSH
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$0")/lib.sh"

SANDBOX_SSH_PORT=${SANDBOX_SSH_PORT:-2222}
SUITE=bookworm
PACKAGES=systemd,systemd-sysv,dbus,openssh-server,sudo,curl,ca-certificates,jq,iproute2,procps
PRISTINE="${CACHE_DIR}/sandbox-${SUITE}-rootfs.tar"
WORK=$SANDBOX_WORK
KEY="${CACHE_DIR}/sandbox-ssh-key"
# nspawn runs the guest in a cgroup of its own: in the named systemd hierarchy where cgroups are v1 (this
# project's machines), in the unified hierarchy where they are v2 (GitHub's runners; untested here).
if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then CGROUP=/sys/fs/cgroup/ethnode-sandbox; else CGROUP=/sys/fs/cgroup/systemd/ethnode-sandbox; fi

ssh_guest() {
  ssh -i "$KEY" -p "$SANDBOX_SSH_PORT" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR -o ConnectTimeout=2 -o BatchMode=yes root@127.0.0.1 "$@"
}

ensure_tools() {
  local missing=()
  for pkg in debootstrap systemd-container openssh-client; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]} > 0)); then
    log "installing Debian packages: ${missing[*]}"
    # stdout is this script's answer (the key path): apt's chatter goes to stderr.
    as_root apt-get update -q >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  fi
}

build_pristine() {
  [[ -f "$PRISTINE" ]] && return 0
  log "debootstrap ${SUITE} (about 2 minutes, cached in ${PRISTINE})"
  local tmp
  tmp=$(mktemp -d "${CACHE_DIR}/debootstrap.XXXXXX")
  as_root debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "${tmp}/rootfs" http://deb.debian.org/debian >&2
  as_root tar -C "${tmp}/rootfs" -cf "${PRISTINE}.tmp" .
  as_root rm -rf "$tmp"
  mv "${PRISTINE}.tmp" "$PRISTINE"
}

prepare_copy() {
  as_root rm -rf "$WORK"
  mkdir -p "${WORK}/rootfs"
  as_root tar -C "${WORK}/rootfs" -xf "$PRISTINE"
  [[ -f "$KEY" ]] || ssh-keygen -q -t ed25519 -N '' -C ethnode-sandbox -f "$KEY"
  local r="${WORK}/rootfs"
  install -d -m 0700 "${r}/root/.ssh"
  install -m 0600 "${KEY}.pub" "${r}/root/.ssh/authorized_keys"
  cat >"${r}/etc/ssh/sshd_config.d/ethnode-sandbox.conf" <<EOF
Port ${SANDBOX_SSH_PORT}
ListenAddress 127.0.0.1
PermitRootLogin prohibit-password
PasswordAuthentication no
EOF
  echo ethnode-sandbox >"${r}/etc/hostname"
  # sudo resolves the host name; without this line every sudo on the guest warns that it cannot.
  printf '127.0.1.1\tethnode-sandbox\n' >>"${r}/etc/hosts"
}

cmd_up() {
  ensure_tools
  mkdir -p "$CACHE_DIR"
  if ssh_guest true 2>/dev/null; then
    log "sandbox host already running on 127.0.0.1:${SANDBOX_SSH_PORT}"
    echo "$KEY"
    return 0
  fi
  build_pristine
  prepare_copy
  # No systemd as PID 1 on this machine: nspawn needs a cgroup of its own and these flags.
  as_root mkdir -p "$CGROUP"
  (
    sh -c "echo \$\$ > ${CGROUP}/cgroup.procs; exec systemd-nspawn -b -D '${WORK}/rootfs' --register=no --keep-unit --console=passive" \
      >"${WORK}/nspawn.log" 2>&1 &
  )
  local i
  for i in $(seq 1 60); do
    if ssh_guest 'systemctl is-system-running --wait >/dev/null 2>&1; true' 2>/dev/null; then
      log "sandbox host up on 127.0.0.1:${SANDBOX_SSH_PORT} after ${i}s (systemd: $(ssh_guest systemctl is-system-running || true))"
      echo "$KEY"
      return 0
    fi
    sleep 1
  done
  cat "${WORK}/nspawn.log" >&2
  log "sandbox host did not come up"
  return 1
}

cmd_down() {
  if ssh_guest true 2>/dev/null; then
    ssh_guest 'systemctl poweroff' 2>/dev/null || true
    for _ in $(seq 1 30); do ssh_guest true 2>/dev/null || break; sleep 1; done
  fi
  pkill -f "systemd-nspawn -b -D ${WORK}/rootfs" 2>/dev/null || true
  as_root rm -rf "$WORK"
  log "sandbox host down"
}

case "${1:-}" in
  up) cmd_up ;;
  fresh)
    cmd_down >&2
    cmd_up
    ;;
  down) cmd_down ;;
  status) ssh_guest true ;;
  build)
    ensure_tools
    mkdir -p "$CACHE_DIR"
    build_pristine
    ;;
  -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' ;;
  *)
    echo "usage: scripts/sandbox-host.sh build|up|fresh|down|status" >&2
    exit 2
    ;;
esac
