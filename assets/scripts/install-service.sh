# Activates the rendered unit through the ethnode CLI: graceful restart, health gate, and on failure the
# previous version restored and this step failed with the reason. Runs only when the unit, the binary or
# the JWT changed, so an unchanged `pulumi up` never restarts a client.
ethnode --non-interactive activate {{{unit}}} --timeout {{{healthTimeout}}}
