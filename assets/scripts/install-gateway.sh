# Installs nginx with the Lua module from the configured source, the gateway's user and directories.
source={{{source}}}
user={{{user}}}
prefix={{{prefix}}}
root={{{root}}}
export DEBIAN_FRONTEND=noninteractive
if [[ "$source" == "openresty" ]]; then
  if ! dpkg-query -W -f='${Status}' openresty 2>/dev/null | grep -q "install ok installed"; then
    apt_get install -y -q --no-install-recommends curl gnupg ca-certificates
    # shellcheck disable=SC1091
    . /etc/os-release
    curl -fsSL --proto '=https' https://openresty.org/package/pubkey.gpg | gpg --dearmor --yes -o /usr/share/keyrings/openresty.gpg
    echo "deb [signed-by=/usr/share/keyrings/openresty.gpg] http://openresty.org/package/${ID} ${VERSION_CODENAME} main" \
      >/etc/apt/sources.list.d/openresty.list
    apt_get update -q
    apt_get install -y -q --no-install-recommends openresty
  fi
  # Only our own unit serves: the package's default server stays off.
  systemctl disable --now openresty.service 2>/dev/null || true
else
  missing=()
  for pkg in nginx libnginx-mod-http-lua lua-cjson lua-resty-core; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]} > 0)); then
    apt_get update -q
    apt_get install -y -q --no-install-recommends "${missing[@]}"
  fi
  systemctl disable --now nginx.service 2>/dev/null || true
fi
ensure_system_user "$user" "$prefix"
install -d -m 0750 -o "$user" -g "$user" "$prefix" "${prefix}/logs" "${prefix}/run" "${prefix}/tmp"
install -d -m 0755 "$root" "${root}/releases"
# The unit arrives with the gateway's config release (activate-release.sh), never ahead of the files it reads.
echo "gateway installed (${source})"
