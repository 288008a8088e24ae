# Makes the client's unit release live (assets/scripts/prelude.sh: the unit staged beside the previous ones,
# `current` moved, the unit installed) and restarts the client through the ethnode CLI: graceful restart, health
# gate, and on failure the previous binary restored. Should the client still not pass its gate, the previous unit
# comes back too and the step fails. Restarts only for a real change — the unit, the binary behind `current` — or a
# stopped service: re-running the step never restarts a healthy client.
unit={{{unit}}}
binary={{{binary}}}
release={{{release}}}
root={{{root}}}
unit_release={{{unitRelease}}}
release_point "$root" "${root}/releases/${unit_release}"
release_prune "$root" "${root}/releases"
unit_changed=false
if release_install_unit "$root" "$unit"; then unit_changed=true; fi
pid=$(systemctl show -p MainPID --value "${unit}.service" 2>/dev/null || echo 0)
running=
if [[ -n "$pid" && "$pid" != 0 ]]; then running=$(readlink "/proc/${pid}/exe" || true); fi
if [[ "$unit_changed" == true || "$running" != "$(readlink -f "$binary")" ]] || ! systemctl is-active --quiet "${unit}.service"; then
  if ! ethnode --non-interactive activate "$unit" --timeout {{{healthTimeout}}}; then
    if [[ "$unit_changed" == true ]] && release_restore "$root"; then
      release_install_unit "$root" "$unit" || true
      ethnode --non-interactive activate "$unit" --timeout {{{healthTimeout}}} || true
      echo "ethnode: ${unit}: not healthy with unit release ${unit_release}; back on $(basename "$(readlink "${root}/current")")" >&2
    fi
    exit 1
  fi
else
  echo "${unit} already runs ${release} with this unit: not restarted"
fi
