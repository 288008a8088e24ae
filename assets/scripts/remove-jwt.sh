# Removes the JWT only on purge: a kept node keeps its key.
purge={{{purge}}}
if [[ "$purge" == "true" ]]; then rm -f {{{path}}}; fi
echo "jwt removed (purge=${purge})"
