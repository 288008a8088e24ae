# Stops and removes a unit. Geth gets the graceful stop its unit defines (SIGINT, minutes to flush).
unit={{{unit}}}
systemctl disable --now "${unit}.service" 2>/dev/null || true
rm -rf "/etc/systemd/system/${unit}.service" "/etc/ethnode/${unit}"
systemctl daemon-reload
echo "${unit} removed"
