# VictoriaLogs and vmalert on the monitoring host: each pinned release verified by sha256 and installed side by
# side under /opt/ethnode/<name>/<version> (`current` swapped), their users, VictoriaLogs' data directory and
# the units (which arrive with this step). A changed unit or binary restarts its service; vmalert starts with
# its first rules release (the rules step).
uploader_home=$(getent passwd "${SUDO_USER:-root}" | cut -d: -f6)

# name version sha256 url upload member: from the release archive (its `member`) or an uploaded binary.
install_pinned() {
  local name=$1 version=$2 sha=$3 url=$4 upload=$5 member=$6
  local root="/opt/ethnode/${name}" dest="/opt/ethnode/${name}/${version}" work found
  if [[ -x "${dest}/${name}" && "$(cat "${dest}/.sha256" 2>/dev/null)" == "$sha" ]]; then
    echo "${name} ${version} already installed"
  else
    work=$(mktemp -d)
    if [[ -n "$upload" ]]; then
      found="${uploader_home}/${upload}"
      echo "${sha}  ${found}" | sha256sum --check --quiet - || { echo "ethnode: ${name} ${version}: sha256 mismatch for the upload; nothing installed" >&2; rm -rf "$work"; return 1; }
    else
      curl -fsSL --proto '=https' --retry 5 --retry-delay 3 -o "${work}/download" "$url"
      echo "${sha}  ${work}/download" | sha256sum --check --quiet - || { echo "ethnode: ${name} ${version}: sha256 mismatch for ${url}; nothing installed" >&2; rm -rf "$work"; return 1; }
      tar -xzf "${work}/download" -C "$work" "$member"
      found="${work}/${member}"
    fi
    install -d -m 0755 "$dest"
    install -m 0755 "$found" "${dest}/${name}"
    echo "$sha" >"${dest}/.sha256"
    rm -rf "$work"
    if [[ -n "$upload" ]]; then rm -f "$found"; fi
  fi
  if [[ "$(readlink "${root}/current" 2>/dev/null)" != "$dest" ]]; then
    ln -sfn "$dest" "${root}/current.new"
    mv -Tf "${root}/current.new" "${root}/current"
    ETHNODE_CHANGED+=("${root}/current")
  fi
  # The three newest versions stay for a manual rollback.
  find "$root" -mindepth 1 -maxdepth 1 -type d ! -path "$dest" -printf '%T@ %p\n' | sort -rn | tail -n +3 | cut -d' ' -f2- | xargs -r rm -rf
}

install_pinned victoria-logs {{{victoriaLogs.version}}} {{{victoriaLogs.sha256}}} {{{victoriaLogs.url}}} {{{victoriaLogs.upload}}} victoria-logs-prod
install_pinned vmalert {{{vmalert.version}}} {{{vmalert.sha256}}} {{{vmalert.url}}} {{{vmalert.upload}}} vmalert-prod

ensure_system_user victoria-logs {{{dataDir}}}
install -d -m 0750 -o victoria-logs -g victoria-logs {{{dataDir}}}
# vmalert keeps nothing; the directory is its home and the one path its unit may write.
ensure_system_user vmalert /var/lib/vmalert
install -d -m 0750 -o vmalert -g vmalert /var/lib/vmalert
install -d -m 0755 {{{rulesRoot}}} {{{rulesRoot}}}/releases
systemctl daemon-reload

if changed /etc/systemd/system/victoria-logs.service || changed /opt/ethnode/victoria-logs/current || ! systemctl is-active --quiet victoria-logs.service; then
  systemctl enable victoria-logs.service
  systemctl restart victoria-logs.service
fi
wait_until 60 "VictoriaLogs" curl -fsS -o /dev/null http://127.0.0.1:{{{port}}}/health
if (changed /etc/systemd/system/vmalert.service || changed /opt/ethnode/vmalert/current) && systemctl is-active --quiet vmalert.service; then
  systemctl restart vmalert.service
fi
# The unit's IP allow-list is a cgroup v2 (BPF) filter: without it systemd runs VictoriaLogs unfenced. Say so.
shipped_to={{{privateAddress}}}
if [[ -n "$shipped_to" && ! -e /sys/fs/cgroup/cgroup.controllers ]]; then
  echo "ethnode: WARNING: no cgroup v2 on this host, so VictoriaLogs' IPAddressAllow= is not enforced: fence ${shipped_to}:{{{port}}} to the nodes with a firewall" >&2
fi
echo "VictoriaLogs and vmalert running; logs on port {{{port}}}"
