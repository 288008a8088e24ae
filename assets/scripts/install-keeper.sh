# The keeper: its files arrived with this step; the drain flag's directory exists at every boot; restart the
# daemon only when something it reads changed.
unit=ethnode-keeper
enabled={{{enabled}}}
printf 'd /run/ethnode 0755 root root -\n' >/etc/tmpfiles.d/ethnode.conf
systemd-tmpfiles --create /etc/tmpfiles.d/ethnode.conf
install -d -m 0755 -o root -g root {{{stateDir}}} {{{metricsDir}}}
if [[ "$enabled" == true ]]; then
  systemctl daemon-reload
  systemctl enable "${unit}.service" >/dev/null 2>&1
  if changed /etc/systemd/system/ethnode-keeper.service || changed /usr/local/bin/ethnode-keeper ||
    changed /etc/ethnode/keeper.conf || ! systemctl is-active --quiet "${unit}.service"; then
    systemctl restart "${unit}.service"
    echo "ethnode-keeper (re)started"
  else
    echo "ethnode-keeper already runs this release"
  fi
else
  systemctl disable --now "${unit}.service" >/dev/null 2>&1 || true
  rm -f {{{metricsFiles}}}
  echo "ethnode-keeper off (ethnode:keeper.enabled is false)"
fi
