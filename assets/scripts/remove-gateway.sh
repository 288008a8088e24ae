# Removes the gateway's unit and config (keys included); its user and logs only on purge.
user={{{user}}}
prefix={{{prefix}}}
root={{{root}}}
purge={{{purge}}}
systemctl disable --now ethnode-gateway.service 2>/dev/null || true
rm -f /etc/systemd/system/ethnode-gateway.service
systemctl daemon-reload
rm -rf "$root"
if [[ "$purge" == "true" ]]; then
  rm -rf "$prefix"
  if id -u "$user" >/dev/null 2>&1; then userdel "$user"; fi
  if getent group "$user" >/dev/null; then groupdel "$user"; fi
fi
echo "gateway removed (purge=${purge})"
