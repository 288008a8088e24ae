# Prometheus and Alertmanager from the distribution (Grafana from its own repository when enabled), with
# their arguments pointing at ethnode's release directories. Restarts only when those arguments change.
export DEBIAN_FRONTEND=noninteractive
grafana={{{grafana}}}
packages=(prometheus prometheus-alertmanager)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  apt_get update -q
  apt_get install -y -q --no-install-recommends "${missing[@]}"
fi
if [[ "$grafana" == "true" ]] && ! dpkg-query -W -f='${Status}' grafana 2>/dev/null | grep -q "install ok installed"; then
  apt_get install -y -q --no-install-recommends curl gnupg ca-certificates
  curl -fsSL --proto '=https' https://apt.grafana.com/gpg.key | gpg --dearmor --yes -o /usr/share/keyrings/grafana.gpg
  echo "deb [signed-by=/usr/share/keyrings/grafana.gpg] https://apt.grafana.com stable main" >/etc/apt/sources.list.d/grafana.list
  apt_get update -q
  apt_get install -y -q --no-install-recommends grafana
fi
# Grafana's VictoriaLogs data source (central logs): the pinned version, from Grafana's plugin catalog.
plugin={{{grafanaPlugin}}}
plugin_version={{{grafanaPluginVersion}}}
if [[ "$grafana" == "true" && -n "$plugin" ]] && ! grafana cli plugins ls 2>/dev/null | grep -qx "${plugin} @ ${plugin_version}"; then
  grafana cli plugins install "$plugin" "$plugin_version"
fi
for root in {{{roots}}}; do install -d -m 0755 "$root" "${root}/releases"; done

# Arguments live in /etc/default; a change there needs a restart (a reload would not pick it up).
set_args() {
  local unit=$1 file=$2 args=$3
  local want="ARGS=\"${args}\""
  if [[ "$(cat "$file" 2>/dev/null)" != "$want" ]]; then
    echo "$want" >"$file"
    if systemctl is-active --quiet "${unit}.service"; then systemctl restart "${unit}.service"; fi
  fi
}
set_args prometheus /etc/default/prometheus {{{prometheusArgs}}}
set_args prometheus-alertmanager /etc/default/prometheus-alertmanager {{{alertmanagerArgs}}}
# Grafana reads the ini of its live release (its package's unit takes CONF_FILE from /etc/default).
grafana_ini={{{grafanaIni}}}
if [[ "$grafana" == "true" ]] && ! grep -qx "CONF_FILE=${grafana_ini}" /etc/default/grafana-server; then
  sed -i "s|^CONF_FILE=.*|CONF_FILE=${grafana_ini}|" /etc/default/grafana-server
  grep -qx "CONF_FILE=${grafana_ini}" /etc/default/grafana-server || echo "CONF_FILE=${grafana_ini}" >>/etc/default/grafana-server
  if systemctl is-active --quiet grafana-server.service; then systemctl restart grafana-server.service; fi
fi
# The packages start their services with their own default configs: keep them stopped until a release exists.
stop_until_released() {
  local unit=$1 root=$2
  if [[ ! -e "${root}/current" ]]; then systemctl stop "${unit}.service" 2>/dev/null || true; fi
}
stop_until_released prometheus /etc/ethnode/prometheus
stop_until_released prometheus-alertmanager /etc/ethnode/alertmanager
if [[ "$grafana" == "true" ]]; then stop_until_released grafana-server /etc/ethnode/grafana; fi
echo "monitoring packages installed (grafana=${grafana})"
