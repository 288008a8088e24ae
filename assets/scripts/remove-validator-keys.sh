# The keys leave this node (their signer moved, or the stack stopped validating): the client stops first, then
# the wallet, the keystores and the password go. The slashing-protection database stays.
unit={{{unit}}}
systemctl stop "${unit}.service" 2>/dev/null || true
if systemctl is-active --quiet "${unit}.service"; then
  echo "ethnode: ${unit} is still running: its keys stay" >&2
  exit 1
fi
rm -rf {{{wallet}}} {{{keys}}} {{{secrets}}}
echo "validator keys removed"
