#!/usr/bin/env bash
# Prepended to every provisioning step ethnode runs on a host (as root, through sudo).
set -Eeuo pipefail
trap 'echo "ethnode[${ETHNODE_STEP:-step}]: failed at line ${LINENO}: ${BASH_COMMAND}" >&2' ERR
umask 022

# Files arrive on stdin, each as a header line "file <mode> <owner> <group> <bytes> <path>" followed by its
# content verbatim and a newline. Each lands through a 0600 temp file and an atomic rename, so a reader never
# sees half a file and a secret is never readable by others, not even for an instant. Paths whose content
# changed are listed in ETHNODE_CHANGED, so a step can restart only what really changed.
ETHNODE_CHANGED=()
ETHNODE_UNPACKED=()
unpack_files() {
  # Byte counts, not characters: read -N counts in the current locale.
  local LC_ALL=C tag mode owner group size path data tmp
  while read -r tag mode owner group size path; do
    if [[ "$tag" != "file" || ! "$size" =~ ^[0-9]+$ || -z "$path" ]]; then
      echo "ethnode: malformed file bundle on stdin" >&2
      return 1
    fi
    data=
    if ((size > 0)) && ! IFS= read -r -d '' -N "$size" data || ((${#data} != size)); then
      echo "ethnode: file bundle ends inside ${path}" >&2
      return 1
    fi
    IFS= read -r _
    install -d -m 0755 "$(dirname "$path")"
    tmp=$(mktemp "${path}.XXXXXX")
    printf '%s' "$data" >"$tmp"
    chown "$owner:$group" "$tmp"
    chmod "$mode" "$tmp"
    if ! cmp -s "$tmp" "$path"; then ETHNODE_CHANGED+=("$path"); fi
    mv -f "$tmp" "$path"
    ETHNODE_UNPACKED+=("$path")
  done
}

# A step's receipt: the token the program gave this run, then the sha256 of every file the step delivered, as
# they are on disk when the step succeeded. The program reads the receipts before each preview and `up`
# (components/receipts.ts): a step with no receipt, or whose files changed since, gets a new token, and that
# changed input makes the engine run it again. A step removes its receipt before it touches anything, so a failed
# or interrupted run leaves none and the next `up` runs the step whatever its inputs are.
ETHNODE_RECEIPTS=${ETHNODE_RECEIPTS:-/var/lib/ethnode-steps}
receipt_begin() {
  install -d -m 0700 "$ETHNODE_RECEIPTS"
  rm -f "${ETHNODE_RECEIPTS}/${ETHNODE_STEP}"
  trap receipt_commit EXIT
}
receipt_commit() {
  local status=$? tmp p
  if ((status != 0)); then return "$status"; fi
  tmp=$(mktemp "${ETHNODE_RECEIPTS}/.${ETHNODE_STEP}.XXXXXX")
  {
    echo "token ${ETHNODE_TOKEN}"
    for p in "${ETHNODE_UNPACKED[@]}"; do if [[ -f "$p" ]]; then sha256sum "$p"; fi; done
  } >"$tmp"
  mv -f "$tmp" "${ETHNODE_RECEIPTS}/${ETHNODE_STEP}"
}
receipt_drop() {
  rm -f "${ETHNODE_RECEIPTS}/${ETHNODE_STEP%-delete}"
}

# True when unpack_files changed this path.
changed() {
  local p
  for p in "${ETHNODE_CHANGED[@]}"; do [[ "$p" == "$1" ]] && return 0; done
  return 1
}

# Creates a locked system user whose home is its data directory.
ensure_system_user() {
  local user=$1 home=$2
  if ! id -u "$user" >/dev/null 2>&1; then
    useradd --system --user-group --home-dir "$home" --no-create-home --shell /usr/sbin/nologin "$user"
  fi
}

# apt-get that waits for another apt instead of failing on its lock: apt-daily, unattended-upgrades and, on a
# fresh cloud VM, cloud-init all take it at times nobody chooses. dpkg's lock through apt's own timeout; the
# lists lock of `update`, which apt does not wait for, by retrying while that is the error (any other
# failure, such as an unreachable repository, fails at once).
APT_LOCK_WAIT=${APT_LOCK_WAIT:-600}
APT_RETRY_DELAY=${APT_RETRY_DELAY:-5}
apt_get() {
  if [[ "${1:-}" != update ]]; then
    apt-get -o DPkg::Lock::Timeout="$APT_LOCK_WAIT" "$@"
    return
  fi
  local deadline=$((SECONDS + APT_LOCK_WAIT)) errors status
  errors=$(mktemp)
  while true; do
    status=0
    apt-get "$@" 2>"$errors" || status=$?
    cat "$errors" >&2
    if ((status == 0)) || ! grep -q "Could not get lock" "$errors" || ((SECONDS >= deadline)); then break; fi
    echo "ethnode: another apt holds its lists lock; retrying in ${APT_RETRY_DELAY}s" >&2
    sleep "$APT_RETRY_DELAY"
  done
  rm -f "$errors"
  return "$status"
}

# Polls a command until it succeeds or the deadline passes.
wait_until() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    if ((SECONDS >= deadline)); then
      echo "ethnode: ${what} not ready after ${seconds}s" >&2
      return 1
    fi
    sleep 1
  done
}

# Releases. Whatever a host runs — a program's version, a config set with its unit — lives in a directory of its
# own beside the others: <root>/<version> for a program, <root>/releases/<id> for a config release. `current`
# points at the live one, `previous` at the one before, `previous.prev` at the one before that (so undoing an
# activation restores both links). The links move atomically; the RELEASES_KEPT newest directories stay, and
# whatever a link points at. The ethnode CLI uses these same functions.
RELEASES_KEPT=3

# Points <root>/current at dest, the old current becoming `previous`; lists a moved `current` in ETHNODE_CHANGED.
release_point() {
  local root=$1 dest=$2 current previous
  current=$(readlink "${root}/current" 2>/dev/null || true)
  if [[ "$current" == "$dest" ]]; then return 0; fi
  previous=$(readlink "${root}/previous" 2>/dev/null || true)
  if [[ -n "$current" ]]; then
    if [[ -n "$previous" ]]; then ln -sfn "$previous" "${root}/previous.prev"; fi
    ln -sfn "$current" "${root}/previous"
  fi
  ln -sfn "$dest" "${root}/current.new"
  mv -Tf "${root}/current.new" "${root}/current"
  ETHNODE_CHANGED+=("${root}/current")
}

# Undoes the last release_point: `current` back to `previous`, `previous` back to `previous.prev`. The release
# that failed is left for pruning, never a rollback target. Fails when there is nothing to go back to.
release_restore() {
  local root=$1 previous
  previous=$(readlink "${root}/previous" 2>/dev/null || true)
  if [[ -z "$previous" || ! -d "$previous" ]]; then return 1; fi
  ln -sfn "$previous" "${root}/current.new"
  mv -Tf "${root}/current.new" "${root}/current"
  if [[ -L "${root}/previous.prev" ]]; then mv -Tf "${root}/previous.prev" "${root}/previous"; else rm -f "${root}/previous"; fi
}

# Removes all but the RELEASES_KEPT newest release directories in dir (default: root), never one a link points at.
release_prune() {
  local root=$1 dir=${2:-$1} keep candidate
  keep=" $(readlink "${root}/current" 2>/dev/null || true) $(readlink "${root}/previous" 2>/dev/null || true) $(readlink "${root}/previous.prev" 2>/dev/null || true) "
  find "$dir" -mindepth 1 -maxdepth 1 -type d -printf '%T@ %p\n' | sort -rn | tail -n +"$((RELEASES_KEPT + 1))" | cut -d' ' -f2- |
    while read -r candidate; do
      if [[ "$keep" != *" ${candidate} "* ]]; then rm -rf "$candidate"; fi
    done
}

# Installs the unit file the live release of root carries (<root>/current/<unit>.service), if any, where systemd
# reads it; the step's receipt covers it. True when that changed the installed file (daemon-reload is the caller's).
release_install_unit() {
  local root=$1 unit=$2 src dst tmp
  src="${root}/current/${unit}.service"
  dst="/etc/systemd/system/${unit}.service"
  if [[ ! -f "$src" ]]; then return 1; fi
  ETHNODE_UNPACKED+=("$dst")
  if cmp -s "$src" "$dst"; then return 1; fi
  tmp=$(mktemp "${dst}.XXXXXX")
  cp "$src" "$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$dst"
}

# Puts a verified program into dest/name: from an https (or file://, a local mirror) URL — the archive's
# `member`, or the one executable called `name` in it, or the download itself when it is no archive — or from a
# file already on the host. A sha256 mismatch installs nothing. Already there with that sha256: nothing to do.
release_fetch() {
  local dest=$1 name=$2 version=$3 sha=$4 url=$5 file=$6 member=${7:-}
  local work found=""
  if [[ -x "${dest}/${name}" && "$(cat "${dest}/.sha256" 2>/dev/null)" == "$sha" ]]; then
    echo "${name} ${version} already installed"
    return 0
  fi
  work=$(mktemp -d)
  if [[ -n "$file" ]]; then
    found=$file
    if ! echo "${sha}  ${found}" | sha256sum --check --quiet - >/dev/null 2>&1; then
      echo "ethnode: ${name} ${version}: sha256 mismatch for the uploaded file; nothing installed" >&2
      rm -rf "$work"
      return 1
    fi
  else
    curl -fsSL --proto '=https,file' --retry 5 --retry-delay 3 -o "${work}/download" "$url"
    if ! echo "${sha}  ${work}/download" | sha256sum --check --quiet - >/dev/null 2>&1; then
      echo "ethnode: ${name} ${version}: sha256 mismatch for ${url}; nothing installed" >&2
      rm -rf "$work"
      return 1
    fi
    if tar -tzf "${work}/download" >/dev/null 2>&1; then
      mkdir "${work}/x"
      if [[ -n "$member" ]]; then
        tar -xzf "${work}/download" -C "${work}/x" "$member" 2>/dev/null && found="${work}/x/${member}"
      else
        tar -xzf "${work}/download" -C "${work}/x"
        found=$(find "${work}/x" -type f -name "$name" -perm -u+x | head -n 1)
      fi
    else
      found="${work}/download"
    fi
    if [[ -z "$found" || ! -f "$found" ]]; then
      echo "ethnode: ${name} ${version}: ${member:-$name} is not in ${url}; nothing installed" >&2
      rm -rf "$work"
      return 1
    fi
  fi
  install -d -m 0755 "$dest"
  install -m 0755 "$found" "${dest}/${name}"
  echo "$sha" >"${dest}/.sha256"
  rm -rf "$work"
}

# One program of a pinned release as <root>/<version>/<name>, made `current` (release_fetch, release_point,
# release_prune). An uploaded file is removed once installed.
install_pinned() {
  local root=$1 name=$2 version=$3 sha=$4 url=$5 file=$6 member=$7
  release_fetch "${root}/${version}" "$name" "$version" "$sha" "$url" "$file" "$member"
  if [[ -n "$file" ]]; then rm -f "$file"; fi
  release_point "$root" "${root}/${version}"
  release_prune "$root"
}
