# VictoriaLogs and vmalert on the monitoring host: each pinned release verified by sha256 and installed side by
# side under its root (install_pinned, in the prelude), their users, VictoriaLogs' data directory and the units
# (which arrive with this step). A changed unit or binary restarts its service; vmalert starts with its first
# rules release (the rules step).
uploader_home=$(getent passwd "${SUDO_USER:-root}" | cut -d: -f6)
uploaded() { if [[ -n "$1" ]]; then echo "${uploader_home}/$1"; fi; }

# Each program, then its own user, whose home is the one directory its unit may write.
{{#programs}}
install_pinned {{{root}}} {{{name}}} {{{version}}} {{{sha256}}} {{{url}}} "$(uploaded {{{upload}}})" {{{member}}}
ensure_system_user {{{user}}} {{{home}}}
install -d -m 0750 -o {{{user}}} -g {{{user}}} {{{home}}}
{{/programs}}
install -d -m 0755 {{{rulesRoot}}} {{{rulesRoot}}}/releases
systemctl daemon-reload

if changed /etc/systemd/system/victoria-logs.service || changed {{{victoriaLogs.root}}}/current || ! systemctl is-active --quiet victoria-logs.service; then
  systemctl enable victoria-logs.service
  systemctl restart victoria-logs.service
fi
wait_until 60 "VictoriaLogs" curl -fsS -o /dev/null http://127.0.0.1:{{{port}}}/health
if (changed /etc/systemd/system/vmalert.service || changed {{{vmalert.root}}}/current) && systemctl is-active --quiet vmalert.service; then
  systemctl restart vmalert.service
fi
# The unit's IP allow-list is a cgroup v2 (BPF) filter: without it systemd runs VictoriaLogs unfenced. Say so.
shipped_to={{{privateAddress}}}
if [[ -n "$shipped_to" && ! -e /sys/fs/cgroup/cgroup.controllers ]]; then
  echo "ethnode: WARNING: no cgroup v2 on this host, so VictoriaLogs' IPAddressAllow= is not enforced: fence ${shipped_to}:{{{port}}} to the nodes with a firewall" >&2
fi
echo "VictoriaLogs and vmalert running; logs on port {{{port}}}"
