# The JWT arrived on stdin and is in place (root:{{{jwtGroup}}} 0640): only the two clients can read it.
test "$(stat -c '%a %U %G' {{{path}}})" = "640 root {{{jwtGroup}}}"
echo "jwt installed at {{{path}}}"
