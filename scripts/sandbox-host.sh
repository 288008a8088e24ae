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
#
# A cluster of N guests (the sandbox stack's `ethnode:nodes`), each in a network namespace of its own joined by
# a bridge (${CLUSTER_BRIDGE:-ethsb0}, 10.77.0.1/24) to this machine and nothing else; guest i answers SSH on
# 10.77.0.(11+i):22, and apt reaches Debian's mirror through scripts/apt-proxy.ts on the bridge address:
#   scripts/sandbox-host.sh cluster-up N      boot N guests (or keep running ones); prints the key
#   scripts/sandbox-host.sh cluster-down      stop them, remove their namespaces, the bridge and the proxy
#   scripts/sandbox-host.sh cluster-status N  exit 0 when all N answer over SSH
#   scripts/sandbox-host.sh cluster-kill I    power guest I off hard: SIGKILL to every process it runs, its link down
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

# Cluster guests: their bridge, addresses and apt proxy.
CLUSTER_BRIDGE=${CLUSTER_BRIDGE:-ethsb0}
CLUSTER_HOST_IP=10.77.0.1
APT_PROXY_PORT=3142
cluster_ip() { echo "10.77.0.$((11 + $1))"; }
cluster_ns() { echo "ethsb-n$1"; }
cluster_work() { echo "${WORK}-n$1"; }

ssh_at() {
  local address=$1 port=$2
  shift 2
  ssh -i "$KEY" -p "$port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR -o ConnectTimeout=2 -o BatchMode=yes "root@${address}" "$@"
}
ssh_guest() { ssh_at 127.0.0.1 "$SANDBOX_SSH_PORT" "$@"; }

ensure_tools() {
  local missing=()
  for pkg in debootstrap systemd-container openssh-client iproute2; do
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

# A fresh root file system in <work>/rootfs for a guest whose sshd listens on <address>:<port>.
prepare_copy() {
  local work=$1 address=$2 port=$3 name=$4
  as_root rm -rf "$work"
  mkdir -p "${work}/rootfs"
  as_root tar -C "${work}/rootfs" -xf "$PRISTINE"
  [[ -f "$KEY" ]] || ssh-keygen -q -t ed25519 -N '' -C ethnode-sandbox -f "$KEY"
  local r="${work}/rootfs"
  install -d -m 0700 "${r}/root/.ssh"
  install -m 0600 "${KEY}.pub" "${r}/root/.ssh/authorized_keys"
  cat >"${r}/etc/ssh/sshd_config.d/ethnode-sandbox.conf" <<EOF
Port ${port}
ListenAddress ${address}
PermitRootLogin prohibit-password
PasswordAuthentication no
EOF
  echo "$name" >"${r}/etc/hostname"
  # sudo resolves the host name; without this line every sudo on the guest warns that it cannot.
  printf '127.0.1.1\t%s\n' "$name" >>"${r}/etc/hosts"
}

# Boots the guest in <work>/rootfs in its own cgroup; extra arguments go to systemd-nspawn.
boot_guest() {
  local work=$1 cgroup=$2
  shift 2
  # No systemd as PID 1 on this machine: nspawn needs a cgroup of its own and these flags.
  as_root mkdir -p "$cgroup"
  (
    sh -c "echo \$\$ > ${cgroup}/cgroup.procs; exec systemd-nspawn -b -D '${work}/rootfs' --register=no --keep-unit --console=passive $*" \
      >"${work}/nspawn.log" 2>&1 &
  )
}

# The guest's init (PID 1 of its PID namespace, the nspawn process's child), recorded once it runs: killing it
# ends every process of the guest at once, whatever happened to nspawn.
record_init() {
  local work=$1 nspawn init
  nspawn=$(pgrep -f "systemd-nspawn -b -D ${work}/rootfs" | head -n 1 || true)
  [[ -n "$nspawn" ]] || return 0
  init=$(pgrep -P "$nspawn" | head -n 1 || true)
  [[ -n "$init" ]] && echo "$init" >"${work}/init.pid"
}

# Ends a guest outright: its init (and with it the whole PID namespace), then nspawn.
kill_guest() {
  local work=$1
  local init
  init=$(cat "${work}/init.pid" 2>/dev/null || true)
  # Only while that pid is still a PID namespace's init of its own (a pid can be reused once the guest is gone).
  if [[ -n "$init" && "$(readlink "/proc/${init}/ns/pid" 2>/dev/null)" != "$(readlink /proc/self/ns/pid)" ]]; then
    as_root kill -9 "$init" 2>/dev/null || true
  fi
  pkill -9 -f "systemd-nspawn -b -D ${work}/rootfs" 2>/dev/null || true
}

# Waits until the guest at <address>:<port> runs systemd and answers SSH.
wait_guest() {
  local address=$1 port=$2 log_file=$3 i
  for i in $(seq 1 90); do
    if ssh_at "$address" "$port" 'systemctl is-system-running --wait >/dev/null 2>&1; true' 2>/dev/null; then
      record_init "$(dirname "$log_file")"
      log "sandbox host up on ${address}:${port} after ${i}s (systemd: $(ssh_at "$address" "$port" systemctl is-system-running || true))"
      return 0
    fi
    sleep 1
  done
  cat "$log_file" >&2
  log "sandbox host ${address} did not come up"
  return 1
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
  prepare_copy "$WORK" 127.0.0.1 "$SANDBOX_SSH_PORT" ethnode-sandbox
  boot_guest "$WORK" "$CGROUP"
  wait_guest 127.0.0.1 "$SANDBOX_SSH_PORT" "${WORK}/nspawn.log"
  echo "$KEY"
}

cluster_net_up() {
  if ! ip link show "$CLUSTER_BRIDGE" >/dev/null 2>&1; then
    as_root ip link add "$CLUSTER_BRIDGE" type bridge
    as_root ip addr add "${CLUSTER_HOST_IP}/24" dev "$CLUSTER_BRIDGE"
  fi
  as_root ip link set "$CLUSTER_BRIDGE" up
  local proxy_dir="${WORK}-proxy"
  if ! curl -s -o /dev/null -m 2 "http://${CLUSTER_HOST_IP}:${APT_PROXY_PORT}/" 2>/dev/null; then
    mkdir -p "$proxy_dir"
    # One file, compiled alone: seconds, not the whole project.
    (cd "$ROOT" && npx --no-install tsc --outDir "$proxy_dir" --module commonjs --target ES2022 --types node --strict --skipLibCheck scripts/apt-proxy.ts)
    nohup node "${proxy_dir}/apt-proxy.js" "$CLUSTER_HOST_IP" "$APT_PROXY_PORT" deb.debian.org >"${proxy_dir}/proxy.log" 2>&1 &
    echo $! >"${proxy_dir}/pid"
  fi
}

cluster_guest_up() {
  local i=$1 ns ip work
  ns=$(cluster_ns "$i")
  ip=$(cluster_ip "$i")
  work=$(cluster_work "$i")
  if ssh_at "$ip" 22 true 2>/dev/null; then
    log "sandbox node ${i} already running on ${ip}"
    return 0
  fi
  if ! ip netns list | grep -qw "$ns"; then
    as_root ip netns add "$ns"
    as_root ip link add "ethsb-h${i}" type veth peer name "ethsb-g${i}"
    as_root ip link set "ethsb-g${i}" netns "$ns"
    as_root ip link set "ethsb-h${i}" master "$CLUSTER_BRIDGE" up
    as_root ip -n "$ns" link set lo up
    as_root ip -n "$ns" link set "ethsb-g${i}" name eth0
    as_root ip -n "$ns" addr add "${ip}/24" dev eth0
    as_root ip -n "$ns" link set eth0 up
  fi
  prepare_copy "$work" "$ip" 22 "ethnode-n${i}"
  # apt through the proxy on the bridge: the guests' only way out of their namespaces.
  echo "Acquire::http::Proxy \"http://${CLUSTER_HOST_IP}:${APT_PROXY_PORT}/\";" >"${work}/rootfs/etc/apt/apt.conf.d/90ethnode-sandbox-proxy"
  boot_guest "$work" "${CGROUP}-n${i}" --network-namespace-path="/run/netns/${ns}"
}

cmd_cluster_up() {
  local n=$1 i
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "usage: scripts/sandbox-host.sh cluster-up N" >&2; exit 2; }
  ensure_tools
  mkdir -p "$CACHE_DIR"
  build_pristine
  cluster_net_up
  for ((i = 0; i < n; i++)); do cluster_guest_up "$i"; done
  for ((i = 0; i < n; i++)); do wait_guest "$(cluster_ip "$i")" 22 "$(cluster_work "$i")/nspawn.log"; done
  echo "$KEY"
}

cmd_cluster_down() {
  local work i ns
  for work in "${WORK}"-n*; do
    [[ -d "$work" ]] || continue
    i=${work##*-n}
    if ssh_at "$(cluster_ip "$i")" 22 true 2>/dev/null; then ssh_at "$(cluster_ip "$i")" 22 'systemctl poweroff' 2>/dev/null || true; fi
  done
  for work in "${WORK}"-n*; do
    [[ -d "$work" ]] || continue
    for _ in $(seq 1 30); do pgrep -f "systemd-nspawn -b -D ${work}/rootfs" >/dev/null || break; sleep 1; done
    kill_guest "$work"
    as_root rm -rf "$work"
  done
  for ns in $(ip netns list | awk '/^ethsb-n/ {print $1}'); do as_root ip netns del "$ns"; done
  for i in $(ip -o link show | awk -F': ' '/ethsb-h[0-9]+/ {print $2}' | cut -d@ -f1); do as_root ip link del "$i" 2>/dev/null || true; done
  if ip link show "$CLUSTER_BRIDGE" >/dev/null 2>&1; then as_root ip link del "$CLUSTER_BRIDGE"; fi
  if [[ -f "${WORK}-proxy/pid" ]]; then kill "$(cat "${WORK}-proxy/pid")" 2>/dev/null || true; fi
  rm -rf "${WORK}-proxy"
  log "sandbox cluster down"
}

# A host lost at once: every process of the guest killed (its init, so its whole PID namespace), and its link taken
# down, so its address stops answering at all (connections time out rather than being refused).
cmd_cluster_kill() {
  local i=$1 work
  work=$(cluster_work "$i")
  pgrep -f "systemd-nspawn -b -D ${work}/rootfs" >/dev/null || { log "sandbox node ${i} is not running"; return 1; }
  as_root ip link set "ethsb-h${i}" down
  kill_guest "$work"
  log "sandbox node ${i} killed"
}

cmd_cluster_status() {
  local n=$1 i
  for ((i = 0; i < n; i++)); do ssh_at "$(cluster_ip "$i")" 22 true || return 1; done
}

cmd_down() {
  if ssh_guest true 2>/dev/null; then
    ssh_guest 'systemctl poweroff' 2>/dev/null || true
    for _ in $(seq 1 30); do ssh_guest true 2>/dev/null || break; sleep 1; done
  fi
  kill_guest "$WORK"
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
  cluster-up) cmd_cluster_up "${2:-}" ;;
  cluster-down) cmd_cluster_down ;;
  cluster-status) cmd_cluster_status "${2:-1}" ;;
  cluster-kill) cmd_cluster_kill "${2:?usage: cluster-kill I}" ;;
  build)
    ensure_tools
    mkdir -p "$CACHE_DIR"
    build_pristine
    ;;
  -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' ;;
  *)
    echo "usage: scripts/sandbox-host.sh build|up|fresh|down|status|cluster-up N|cluster-down|cluster-status N" >&2
    exit 2
    ;;
esac
