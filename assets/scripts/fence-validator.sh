# Runs on every node of a validating stack before any signer starts (every signer's keys wait for every fence).
# A validator here that holds keys now assigned elsewhere is stopped and confirmed gone; those keys leave its
# wallet (the keys it keeps start signing again at once, so the chain keeps its stake); then the step waits until
# the chain has moved two epochs and a slot past the moment the keys went silent, so the doppelganger check of the
# node that takes them over sees them silent. A chain that does not move that far fails the step: the keys stay
# unsigned rather than risk two signers. The slashing-protection database stays (this node's history).
unit={{{user}}}
binary={{{binary}}}
held={{{held}}}
wallet={{{wallet}}}
keys={{{keys}}}
password={{{password}}}
beacon={{{beacon}}}
read -r -a assigned <<<{{{assigned}}}
extra=() keep=()
if [[ -f "$held" ]]; then
  while read -r k; do
    [[ -n "$k" ]] || continue
    if [[ " ${assigned[*]} " == *" $k "* ]]; then keep+=("$k"); else extra+=("$k"); fi
  done <"$held"
fi
if ((${#extra[@]} == 0)); then
  echo "validator fence: this node holds no key assigned elsewhere (${#assigned[@]} assigned here)"
  exit 0
fi
head_slot() { curl -fsS -m 5 "${beacon}/eth/v1/node/syncing" 2>/dev/null | jq -r '.data.head_slot | tonumber' 2>/dev/null || echo -1; }
echo "validator fence: this node holds ${#extra[@]} key(s) now assigned elsewhere: stopping ${unit}"
systemctl stop "${unit}.service" 2>/dev/null || true
if systemctl is-active --quiet "${unit}.service" || pgrep -u "$unit" >/dev/null 2>&1; then
  echo "ethnode: ${unit} is still running after stop: not moving its keys" >&2
  exit 1
fi
silent_from=$(head_slot)
if ((${#keep[@]} > 0)); then
  runuser -u "$unit" -- "$binary" accounts delete --accept-terms-of-use --wallet-dir="$wallet" --wallet-password-file="$password" \
    --delete-public-keys="$(IFS=,; echo "${extra[*]}")" </dev/null >/dev/null 2>&1 || true
  listed=$(runuser -u "$unit" -- "$binary" accounts list --accept-terms-of-use --wallet-dir="$wallet" --wallet-password-file="$password" 2>&1 || true)
  for k in "${extra[@]}"; do
    if grep -q "$k" <<<"$listed"; then
      echo "ethnode: key ${k:0:12}… is still in ${unit}'s wallet after its deletion: not moving it" >&2
      exit 1
    fi
  done
  printf '%s\n' "${keep[@]}" >"$held"
  systemctl start "${unit}.service"
  echo "validator fence: ${#extra[@]} key(s) removed; ${unit} signs again for the ${#keep[@]} it keeps"
else
  rm -rf "$wallet" "$keys"
  echo "validator fence: ${unit} stopped and its keys removed"
fi
until_slot=$((silent_from + {{{windowSlots}}}))
echo "validator fence: waiting for slot ${until_slot} (two epochs and a slot past ${silent_from}) so the keys are silent before another node signs"
deadline=$((SECONDS + {{{maxWaitSec}}}))
while (($(head_slot) < until_slot)); do
  if ((SECONDS > deadline || silent_from < 0)); then
    echo "ethnode: the chain did not reach slot ${until_slot} within {{{maxWaitSec}}} s (its head: $(head_slot)): the moved keys stay unsigned; run pulumi up again once the chain moves" >&2
    exit 1
  fi
  sleep 2
done
echo "validator fence: done at slot $(head_slot)"
