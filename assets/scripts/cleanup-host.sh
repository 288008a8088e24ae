# Removes what prepare-host created, the prelude every step sources included: after it, nothing of ethnode
# is left on the host but the chain data, which stays unless purge was configured (a resync takes days).
purge={{{purge}}}
data_dir={{{dataDir}}}
prelude_dir={{{preludeDir}}}
rm -rf /etc/ethnode /opt/ethnode
if getent group ethnode-jwt >/dev/null; then groupdel ethnode-jwt; fi
if [[ "$purge" == "true" && -d "$data_dir" ]]; then
  # A mounted data volume keeps its mount point; everything on it goes.
  if mountpoint -q "$data_dir"; then find "$data_dir" -mindepth 1 -maxdepth 1 -exec rm -rf {} +; else rm -rf "$data_dir"; fi
fi
rm -rf "$prelude_dir" /var/lib/ethnode-steps
echo "host cleaned (purge=${purge})"
