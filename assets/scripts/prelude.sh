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
  done
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

# Installs one program of a pinned release as <root>/<version>/<name> and points <root>/current at it: from an
# https release archive (its `member`), or from a file already on the host (an upload, removed once installed).
# Either must match its sha256, or nothing is installed and `current` stays. The three newest versions stay for a
# manual rollback. A moved `current` is listed in ETHNODE_CHANGED.
install_pinned() {
  local root=$1 name=$2 version=$3 sha=$4 url=$5 file=$6 member=$7
  local dest="${root}/${version}" work found
  if [[ -x "${dest}/${name}" && "$(cat "${dest}/.sha256" 2>/dev/null)" == "$sha" ]]; then
    echo "${name} ${version} already installed"
  else
    work=$(mktemp -d)
    if [[ -n "$file" ]]; then
      found=$file
      if ! echo "${sha}  ${found}" | sha256sum --check --quiet - 2>/dev/null; then
        echo "ethnode: ${name} ${version}: sha256 mismatch for the uploaded file; nothing installed" >&2
        rm -rf "$work"
        return 1
      fi
    else
      curl -fsSL --proto '=https' --retry 5 --retry-delay 3 -o "${work}/download" "$url"
      if ! echo "${sha}  ${work}/download" | sha256sum --check --quiet - 2>/dev/null; then
        echo "ethnode: ${name} ${version}: sha256 mismatch for ${url}; nothing installed" >&2
        rm -rf "$work"
        return 1
      fi
      if ! tar -xzf "${work}/download" -C "$work" "$member" 2>/dev/null; then
        echo "ethnode: ${name} ${version}: ${member} is not in ${url}; nothing installed" >&2
        rm -rf "$work"
        return 1
      fi
      found="${work}/${member}"
    fi
    install -d -m 0755 "$dest"
    install -m 0755 "$found" "${dest}/${name}"
    echo "$sha" >"${dest}/.sha256"
    rm -rf "$work"
    if [[ -n "$file" ]]; then rm -f "$file"; fi
  fi
  if [[ "$(readlink "${root}/current" 2>/dev/null)" != "$dest" ]]; then
    ln -sfn "$dest" "${root}/current.new"
    mv -Tf "${root}/current.new" "${root}/current"
    ETHNODE_CHANGED+=("${root}/current")
  fi
  find "$root" -mindepth 1 -maxdepth 1 -type d ! -path "$dest" -printf '%T@ %p\n' | sort -rn | tail -n +3 | cut -d' ' -f2- | xargs -r rm -rf
}
