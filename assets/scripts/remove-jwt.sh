if [[ {{{purge}}} == "true" ]]; then rm -f {{{path}}}; fi
echo "jwt removed (purge={{{purge}}})"
