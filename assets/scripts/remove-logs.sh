# Stops VictoriaLogs and vmalert and removes their units and binaries; with purge, the stored logs and the users.
purge={{{purge}}}
for unit in vmalert victoria-logs; do
  systemctl disable --now "${unit}.service" 2>/dev/null || true
  rm -f "/etc/systemd/system/${unit}.service"
done
systemctl daemon-reload
rm -rf {{#programs}}{{{root}}} {{/programs}}{{{rulesRoot}}}
if [[ "$purge" == "true" ]]; then
{{#programs}}
  rm -rf {{{home}}}
  if id -u {{{user}}} >/dev/null 2>&1; then userdel {{{user}}}; fi
{{/programs}}
fi
echo "central logs removed (purge=${purge})"
