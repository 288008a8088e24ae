# Stops and disables the services; with purge, removes the packages and ethnode's files too.
units={{{units}}}
purge={{{purge}}}
for unit in $units; do
  systemctl disable --now "${unit}.service" 2>/dev/null || true
done
if [[ "$purge" == "true" ]]; then
  export DEBIAN_FRONTEND=noninteractive
  for unit in $units; do
    pkg=${unit%-server}
    if dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then apt_get purge -y -q "$pkg"; fi
  done
  rm -rf /etc/ethnode/prometheus /etc/ethnode/alertmanager /etc/ethnode/grafana
fi
echo "removed: ${units} (purge=${purge})"
