# Undoes install-client. Binaries and chain data stay unless purge was configured: a resync takes days.
client={{{client}}}
home_dir={{{home}}}
purge={{{purge}}}
if [[ "$purge" == "true" ]]; then
  rm -rf "/opt/ethnode/${client}" "$home_dir"
  if id -u "$client" >/dev/null 2>&1; then userdel "$client"; fi
  if getent group "$client" >/dev/null; then groupdel "$client"; fi
fi
echo "${client} removed (purge=${purge})"
