# Activates a staged release directory: check it as a whole, point `current` at it, then reload the service
# (or start it). A release that fails its check never goes live and the running one keeps serving.
root={{{root}}}
release={{{release}}}
unit={{{unit}}}
check_release() {
  local dir=$1
  {{{check}}}
}
if [[ -n "$release" ]]; then
  dir="${root}/releases/${release}"
  check_release "$dir"
  ln -sfn "$dir" "${root}/current.new"
  mv -Tf "${root}/current.new" "${root}/current"
  # Keep the three newest releases besides the live one, for a quick manual rollback.
  find "${root}/releases" -mindepth 1 -maxdepth 1 -type d ! -name "$release" -printf '%T@ %p\n' |
    sort -rn | tail -n +4 | cut -d' ' -f2- | xargs -r rm -rf
fi
if [[ ! -e "${root}/current" ]]; then
  echo "${unit}: no release yet, nothing to reload"
  exit 0
fi
if systemctl is-active --quiet "${unit}.service"; then
  systemctl reload "${unit}.service"
  echo "${unit} reloaded${release:+ to release ${release}}"
else
  systemctl enable --now "${unit}.service"
  echo "${unit} started${release:+ on release ${release}}"
fi
