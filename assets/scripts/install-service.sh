# Makes the rendered unit live through the ethnode CLI: graceful restart, health gate, and on failure the
# previous version restored and this step failed with the reason. Restarts only for a real change — the unit
# file, the binary behind `current` — or a stopped service: re-running the step never restarts a healthy client.
unit={{{unit}}}
binary={{{binary}}}
release={{{release}}}
pid=$(systemctl show -p MainPID --value "${unit}.service" 2>/dev/null || echo 0)
running=
if [[ -n "$pid" && "$pid" != 0 ]]; then running=$(readlink "/proc/${pid}/exe" || true); fi
if changed "/etc/systemd/system/${unit}.service" || [[ "$running" != "$(readlink -f "$binary")" ]] ||
  ! systemctl is-active --quiet "${unit}.service"; then
  ethnode --non-interactive activate "$unit" --timeout {{{healthTimeout}}}
else
  echo "${unit} already runs ${release} with this unit: not restarted"
fi
