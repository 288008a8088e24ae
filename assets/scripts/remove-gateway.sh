# Removes the gateway: its unit, config (keys included), runtime directory and logs, user and group. The
# nginx/OpenResty package stays: the host may serve other sites with it.
user={{{user}}}
prefix={{{prefix}}}
root={{{root}}}
systemctl disable --now ethnode-gateway.service 2>/dev/null || true
rm -f /etc/systemd/system/ethnode-gateway.service
systemctl daemon-reload
rm -rf "$root" "$prefix"
if id -u "$user" >/dev/null 2>&1; then userdel "$user"; fi
if getent group "$user" >/dev/null; then groupdel "$user"; fi
echo "gateway removed"
