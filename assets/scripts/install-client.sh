# Installs one pinned client binary side by side under /opt/ethnode/<client>/<version>, verified by sha256,
# then points `current` at it (and `previous` at what it replaces, for rollback). Idempotent.
client={{{client}}}
version={{{version}}}
expected_sha256={{{sha256}}}
source={{{source}}}
url={{{url}}}
upload={{{upload}}}
binary={{{binary}}}
home_dir={{{home}}}

ensure_system_user "$client" "$home_dir"
usermod -a -G {{{jwtGroup}}} "$client"
install -d -m 0750 -o "$client" -g "$client" "$home_dir"

root="/opt/ethnode/${client}"
dest="${root}/${version}"
if [[ -x "${dest}/${binary}" && "$(cat "${dest}/.sha256" 2>/dev/null)" == "$expected_sha256" ]]; then
  echo "${client} ${version} already installed"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  if [[ "$source" == "release" ]]; then
    curl -fsSL --proto '=https' --retry 5 --retry-delay 3 -o "${work}/archive" "$url"
    echo "${expected_sha256}  ${work}/archive" | sha256sum --check --quiet -
    tar -xzf "${work}/archive" -C "$work"
    found=$(find "$work" -type f -name "$binary" -perm -u+x | head -n 1)
  else
    uploader_home=$(getent passwd "${SUDO_USER:-root}" | cut -d: -f6)
    found="${uploader_home}/${upload}"
    echo "${expected_sha256}  ${found}" | sha256sum --check --quiet -
  fi
  if [[ -z "$found" ]]; then
    echo "ethnode: ${binary} not found in the ${client} ${version} archive" >&2
    exit 1
  fi
  install -d -m 0755 "$dest"
  install -m 0755 "$found" "${dest}/${binary}"
  echo "$expected_sha256" >"${dest}/.sha256"
  if [[ "$source" == "upload" ]]; then rm -f "$found"; fi
fi

current=$(readlink "${root}/current" 2>/dev/null || true)
if [[ -n "$current" && "$current" != "$dest" ]]; then
  ln -sfn "$current" "${root}/previous"
fi
ln -sfn "$dest" "${root}/current.new"
mv -Tf "${root}/current.new" "${root}/current"
echo "${client} active: $("${root}/current/${binary}" --version 2>/dev/null | head -n 1)"
