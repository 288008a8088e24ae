# Stops shipping this host's journal; with purge, removes the package too.
purge={{{purge}}}
systemctl disable --now systemd-journal-upload.service 2>/dev/null || true
# The install masked the package's listener; leave no mask behind.
systemctl unmask systemd-journal-remote.socket systemd-journal-remote.service >/dev/null 2>&1 || true
rm -f {{{files}}}
systemctl daemon-reload
if [[ "$purge" == "true" ]] && dpkg-query -W -f='${Status}' systemd-journal-remote 2>/dev/null | grep -q "install ok installed"; then
  DEBIAN_FRONTEND=noninteractive apt_get purge -y -q systemd-journal-remote
fi
echo "journal upload removed (purge=${purge})"
