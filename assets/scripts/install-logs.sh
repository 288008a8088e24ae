# VictoriaLogs and vmalert on the monitoring host: each pinned release verified by sha256 and installed side by
# side under /opt/ethnode/<name>/<version> (install_pinned, in the prelude), their users, VictoriaLogs' data
# directory and the units (which arrive with this step). A changed unit or binary restarts its service; vmalert
# starts with its first rules release (the rules step).
uploader_home=$(getent passwd "${SUDO_USER:-root}" | cut -d: -f6)
uploaded() { if [[ -n "$1" ]]; then echo "${uploader_home}/$1"; fi; }

install_pinned /opt/ethnode/victoria-logs victoria-logs {{{victoriaLogs.version}}} {{{victoriaLogs.sha256}}} {{{victoriaLogs.url}}} "$(uploaded {{{victoriaLogs.upload}}})" victoria-logs-prod
install_pinned /opt/ethnode/vmalert vmalert {{{vmalert.version}}} {{{vmalert.sha256}}} {{{vmalert.url}}} "$(uploaded {{{vmalert.upload}}})" vmalert-prod

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
