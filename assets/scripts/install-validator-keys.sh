# The validator's keys: the keystores and the password arrived as 0600 files of its user. When the set of keys
# differs from what the wallet holds, the client is stopped, the wallet rebuilt from the keystores, and a client
# that was running is started again on it here (its service step runs only when the unit or binary changes; a
# first start is that step's); an unchanged set leaves a running client alone.
user={{{user}}}
binary={{{binary}}}
home_dir={{{home}}}
wallet={{{wallet}}}
held={{{held}}}
keys={{{keys}}}
password={{{password}}}
read -r -a want <<<{{{pubkeys}}}
chmod 0700 "$keys" "$(dirname "$password")"
chown "$user:$user" "$keys" "$(dirname "$password")"
install -d -m 0700 -o "$user" -g "$user" "$home_dir"
wanted=$(printf '%s\n' "${want[@]}" | sort)
if [[ -f "$held" && "$(sort "$held")" == "$wanted" ]]; then
  echo "validator keys: the wallet already holds these ${#want[@]} key(s)"
  exit 0
fi
was_active=false
if systemctl is-active --quiet "${user}.service"; then was_active=true; fi
systemctl stop "${user}.service" 2>/dev/null || true
rm -rf "${wallet}.new"
# The keystores do not depend on the chain: no network flag (the import command knows no devnet's).
# Prysm exits 0 on some errors: the wallet's accounts file is the proof the import worked.
runuser -u "$user" -- "$binary" accounts import --accept-terms-of-use \
  --keys-dir="$keys" --wallet-dir="${wallet}.new" --wallet-password-file="$password" --account-password-file="$password" >"${home_dir}/import.log" 2>&1 || true
if [[ ! -s "${wallet}.new/direct/accounts/all-accounts.keystore.json" ]]; then
  tail -n 20 "${home_dir}/import.log" >&2
  rm -rf "${wallet}.new"
  echo "ethnode: the keystores could not be imported (wrong ethnode:validatorPassword?)" >&2
  exit 1
fi
printf '%s\n' "$wanted" >"${wallet}.new/ethnode-pubkeys"
chown "$user:$user" "${wallet}.new/ethnode-pubkeys"
chmod 0600 "${wallet}.new/ethnode-pubkeys"
rm -rf "$wallet"
mv "${wallet}.new" "$wallet"
echo "validator keys: wallet holds ${#want[@]} key(s)"
if [[ "$was_active" == true ]]; then
  systemctl start "${user}.service"
  echo "validator keys: ${user} started again on them"
fi
