# node_exporter from the distribution, on loopback, with the collectors the alerts use.
export DEBIAN_FRONTEND=noninteractive
if ! dpkg-query -W -f='${Status}' prometheus-node-exporter 2>/dev/null | grep -q "install ok installed"; then
  apt_get update -q
  apt_get install -y -q --no-install-recommends prometheus-node-exporter
fi
listen={{{listen}}}
# The textfile directory carries the keeper's metrics (ethnode_keeper_*).
args="--web.listen-address=${listen} --collector.textfile.directory={{{textfileDir}}} --collector.systemd --collector.processes"
# Inside a container without systemd's D-Bus the systemd collector has nothing to read.
if [[ ! -S /run/dbus/system_bus_socket ]]; then args="--web.listen-address=${listen} --collector.textfile.directory={{{textfileDir}}} --no-collector.systemd"; fi
want="ARGS=\"${args}\""
if [[ "$(cat /etc/default/prometheus-node-exporter 2>/dev/null)" != "$want" ]]; then
  echo "$want" >/etc/default/prometheus-node-exporter
  systemctl restart prometheus-node-exporter.service
fi
systemctl enable --now prometheus-node-exporter.service
wait_until 30 node_exporter curl -fsS -o /dev/null "http://${listen}/metrics"
echo "node_exporter on ${listen}"
