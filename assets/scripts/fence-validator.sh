# Runs on every node of a validating stack before any signer starts (every signer's keys wait for every fence):
# a validator here that holds keys this node is no longer assigned is stopped, confirmed gone, loses those keys,
# and the step then waits out the doppelganger window, so the keys are silent on the network before another
# node signs with them. The slashing-protection database stays (it is the history of what this node signed).
unit={{{unit}}}
held={{{held}}}
wallet={{{wallet}}}
keys={{{keys}}}
read -r -a assigned <<<{{{assigned}}}
extra=()
if [[ -f "$held" ]]; then
  while read -r k; do
    [[ -z "$k" || " ${assigned[*]} " == *" $k "* ]] || extra+=("$k")
  done <"$held"
fi
if ((${#extra[@]} == 0)); then
  echo "validator fence: this node holds no key assigned elsewhere (${#assigned[@]} assigned here)"
  exit 0
fi
echo "validator fence: this node holds ${#extra[@]} key(s) now assigned elsewhere: stopping ${unit}"
systemctl stop "${unit}.service" 2>/dev/null || true
if systemctl is-active --quiet "${unit}.service" || pgrep -u "$unit" >/dev/null 2>&1; then
  echo "ethnode: ${unit} is still running after stop: not moving its keys" >&2
  exit 1
fi
rm -rf "$wallet" "$keys"
echo "validator fence: ${unit} stopped and its keys removed; waiting {{{waitSec}}} s (two epochs and a slot) so the keys are silent before another node signs"
sleep {{{waitSec}}}
echo "validator fence: done"
