# Removes what prepare-host created. Chain data is kept unless purge was configured.
purge={{{purge}}}
if [[ "$purge" == "true" ]]; then
  rm -rf /etc/ethnode /opt/ethnode
  getent group ethnode-jwt >/dev/null && groupdel ethnode-jwt
fi
echo "host cleaned (purge=${purge})"
