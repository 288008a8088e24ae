# Activates a gateway release: test the staged config as the gateway's user, swap `current`, reload (or
# start). A release that fails `nginx -t` never goes live; the running one keeps serving.
binary={{{binary}}}
prefix={{{prefix}}}
root={{{root}}}
release={{{release}}}
user={{{user}}}
if [[ -n "$release" ]]; then
  dir="${root}/releases/${release}"
  runuser -u "$user" -- "$binary" -t -q -p "$prefix" -c "${dir}/nginx.conf"
  ln -sfn "$dir" "${root}/current.new"
  mv -Tf "${root}/current.new" "${root}/current"
  # Keep the three newest releases besides the live one, for a quick manual rollback.
  find "${root}/releases" -mindepth 1 -maxdepth 1 -type d ! -name "$release" -printf '%T@ %p\n' |
    sort -rn | tail -n +4 | cut -d' ' -f2- | xargs -r rm -rf
fi
if [[ ! -e "${root}/current/nginx.conf" ]]; then
  echo "gateway: no release yet, nothing to reload"
  exit 0
fi
if systemctl is-active --quiet ethnode-gateway.service; then
  systemctl reload ethnode-gateway.service
  echo "gateway reloaded${release:+ to release ${release}}"
else
  systemctl enable --now ethnode-gateway.service
  echo "gateway started${release:+ on release ${release}}"
fi
