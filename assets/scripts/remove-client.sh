# Undoes install-client: the client's binaries, user and group go. Its chain data stays unless purge was
# configured (a resync takes days); a later install takes the kept data over again.
client={{{client}}}
home_dir={{{home}}}
purge={{{purge}}}
rm -rf "/opt/ethnode/${client}"
if id -u "$client" >/dev/null 2>&1; then userdel "$client"; fi
if getent group "$client" >/dev/null; then groupdel "$client"; fi
if [[ "$purge" == "true" ]]; then rm -rf "$home_dir"; fi
echo "${client} removed (purge=${purge})"
