# The JWT is a secret: it never outlives the node's stack on the host.
rm -f {{{path}}}
echo "jwt removed"
