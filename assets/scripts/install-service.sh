# Activates a rendered unit: reload systemd, enable, restart, and wait until the service answers. Runs only
# when the unit, the binary or the JWT changed, so an unchanged `pulumi up` never restarts a client.
unit={{{unit}}}
healthy() {
  {{{health}}}
}
systemctl daemon-reload
systemctl enable "${unit}.service"
systemctl restart "${unit}.service"
if ! wait_until {{{healthTimeout}}} "$unit" healthy; then
  systemctl --no-pager status "${unit}.service" >&2 || true
  journalctl --no-pager -n 40 -u "${unit}.service" >&2 || true
  exit 1
fi
echo "${unit} active and healthy"
