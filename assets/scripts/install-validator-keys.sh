# The validator's keys: the keystores and the password arrived as 0600 files of its user. When the set of keys
# differs from what the wallet holds, the client is stopped and the wallet rebuilt from the keystores (the
# service step starts it again, behind its health gate); an unchanged set leaves a running client alone.
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
systemctl stop "${user}.service" 2>/dev/null || true
rm -rf "${wallet}.new"
if ! runuser -u "$user" -- "$binary" accounts import --accept-terms-of-use {{{chainFlags}}} \
  --keys-dir="$keys" --wallet-dir="${wallet}.new" --wallet-password-file="$password" --account-password-file="$password" >"${home_dir}/import.log" 2>&1; then
  tail -n 20 "${home_dir}/import.log" >&2
  rm -rf "${wallet}.new"
  echo "ethnode: the keystores could not be imported (wrong ethnode:validatorPassword?)" >&2
  exit 1
fi
printf '%s\n' "$wanted" | install -m 0600 -o "$user" -g "$user" /dev/stdin "${wallet}.new/ethnode-pubkeys"
rm -rf "$wallet"
mv "${wallet}.new" "$wallet"
echo "validator keys: wallet holds ${#want[@]} key(s)"
