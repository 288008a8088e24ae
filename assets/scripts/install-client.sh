# Creates the client's user and data directory, then installs the pinned release with the ethnode CLI
# (verified by sha256, side by side, `current` swapped; the restart happens in the service step).
client={{{client}}}
home_dir={{{home}}}
ensure_system_user "$client" "$home_dir"
usermod -a -G {{{jwtGroup}}} "$client"
# Chain data kept from an earlier install belongs to that install's user, whose id may differ now.
if [[ -d "$home_dir" && "$(stat -c %U "$home_dir")" != "$client" ]]; then chown -R "${client}:${client}" "$home_dir"; fi
install -d -m 0750 -o "$client" -g "$client" "$home_dir"
{{#upload}}
uploader_home=$(getent passwd "${SUDO_USER:-root}" | cut -d: -f6)
ethnode install "$client" {{{version}}} --sha256 {{{sha256}}} --file "${uploader_home}/"{{{upload}}}
rm -f "${uploader_home}/"{{{upload}}}
{{/upload}}
{{^upload}}
ethnode install "$client" {{{version}}} --sha256 {{{sha256}}} --url {{{url}}}
{{/upload}}
