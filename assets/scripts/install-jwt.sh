# The JWT arrived on stdin and is in place (root:{{{jwtGroup}}} 0640): only the two clients can read it.
test "$(stat -c '%a %U %G' {{{path}}})" = "640 root {{{jwtGroup}}}"
# A new key takes effect only when both clients restart with it (health-gated, one after the other).
if changed {{{path}}}; then
  for client in geth lighthouse; do
    if systemctl is-active --quiet "${client}.service"; then ethnode --non-interactive activate "$client" --timeout {{{healthTimeout}}}; fi
  done
fi
echo "jwt installed at {{{path}}}"
