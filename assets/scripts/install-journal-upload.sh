# Ships this host's journal to VictoriaLogs on the monitoring host with systemd-journal-upload (it resumes from
# its saved cursor after a restart or an outage). The package's journal-remote listener is not wanted: masked.
export DEBIAN_FRONTEND=noninteractive
if ! dpkg-query -W -f='${Status}' systemd-journal-remote 2>/dev/null | grep -q "install ok installed"; then
  apt_get update -q
  apt_get install -y -q --no-install-recommends systemd-journal-remote
fi
systemctl disable --now systemd-journal-remote.socket systemd-journal-remote.service 2>/dev/null || true
systemctl mask systemd-journal-remote.socket systemd-journal-remote.service >/dev/null
systemctl daemon-reload
systemctl enable systemd-journal-upload.service
if ((${#ETHNODE_CHANGED[@]} > 0)) || ! systemctl is-active --quiet systemd-journal-upload.service; then
  systemctl restart systemd-journal-upload.service
fi
echo "journal shipped to {{{url}}}"
