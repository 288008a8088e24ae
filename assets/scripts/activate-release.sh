# Activates a staged release directory as one step: check it as a whole, point `current` at it, install the unit
# it carries (if any), reload the service (restart it when the unit's command line changed, start it when it is
# not running), then wait for it to be healthy. A release that fails its check never goes live; one that goes live
# and is not healthy within the wait is rolled back to the previous release, and the step fails saying so.
root={{{root}}}
release={{{release}}}
unit={{{unit}}}
health_wait={{{healthWait}}}
restart_only={{{restart}}}
check_release() {
  local dir=$1
  {{{check}}}
}
# The live release's id, for a health check that must see the new release serve (not the old one, still
# answering while a reload is under way).
live_release() { basename "$(readlink "${root}/current")"; }
healthy() {
  {{{health}}}
}
# The command line systemd has loaded for the unit.
exec_line() {
  systemctl show "${unit}.service" -p ExecStart --value 2>/dev/null | sed -n 's/.*argv\[\]=\(.*\) ; ignore_errors=.*/\1/p'
}
# Makes the service run what `current` says: start, restart for another command line, else reload.
apply() {
  local before after
  before=$(exec_line)
  if release_install_unit "$root" "$unit"; then systemctl daemon-reload; fi
  after=$(exec_line)
  if ! systemctl is-active --quiet "${unit}.service"; then
    systemctl enable "${unit}.service" >/dev/null 2>&1
    systemctl restart "${unit}.service"
    echo "${unit} started on release $(basename "$(readlink "${root}/current")")"
  elif [[ "$before" != "$after" || "$restart_only" == true ]]; then
    systemctl restart "${unit}.service"
    echo "${unit} restarted on release $(basename "$(readlink "${root}/current")")"
  else
    systemctl reload "${unit}.service"
    echo "${unit} reloaded on release $(basename "$(readlink "${root}/current")")"
  fi
}

if [[ -n "$release" ]]; then
  dir="${root}/releases/${release}"
  check_release "$dir"
  release_point "$root" "$dir"
  release_prune "$root" "${root}/releases"
fi
if [[ ! -e "${root}/current" ]]; then
  echo "${unit}: no release yet, nothing to reload"
  exit 0
fi
apply
if ! wait_until "$health_wait" "${unit} on release $(basename "$(readlink "${root}/current")")" healthy; then
  failed=$(basename "$(readlink "${root}/current")")
  if [[ -n "$release" ]] && release_restore "$root"; then
    apply
    echo "ethnode: ${unit}: release ${failed} was not healthy within ${health_wait}s; rolled back to $(basename "$(readlink "${root}/current")")" >&2
  else
    echo "ethnode: ${unit}: not healthy within ${health_wait}s on release ${failed}, and there is no previous release to go back to" >&2
  fi
  exit 1
fi
