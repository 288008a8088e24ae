# The keeper leaves with its node: stopped, its files and metrics removed (its restart history with them).
systemctl disable --now ethnode-keeper.service >/dev/null 2>&1 || true
rm -f /usr/local/bin/ethnode-keeper /etc/ethnode/keeper.conf /etc/systemd/system/ethnode-keeper.service {{{metricsFiles}}}
rm -rf {{{stateDir}}}
rm -f /etc/tmpfiles.d/ethnode.conf
systemctl daemon-reload
echo "ethnode-keeper removed"
