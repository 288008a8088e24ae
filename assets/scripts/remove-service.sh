# Stops and removes a unit. Geth gets the graceful stop its unit defines (SIGINT, minutes to flush).
unit={{{unit}}}
systemctl disable --now "${unit}.service" 2>/dev/null || true
rm -f "/etc/systemd/system/${unit}.service"
systemctl daemon-reload
echo "${unit} removed"
