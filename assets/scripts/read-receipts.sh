# Prints one line per step receipt on this host (prelude.sh, receipt_commit): "ok <step> <token>" when every file
# the step delivered is still as it left it, "drift <step> <path>" naming the first one that is not.
dir=${ETHNODE_RECEIPTS:-/var/lib/ethnode-steps}
shopt -s nullglob
for receipt in "$dir"/*; do
  step=${receipt##*/}
  token=$(sed -n '1s/^token //p' "$receipt")
  failed=$(tail -n +2 "$receipt" | LC_ALL=C sha256sum --check 2>/dev/null | sed -n 's/: FAILED.*$//p' | head -n 1) || true
  if [[ -z "$token" ]]; then
    echo "drift ${step} (unreadable receipt)"
  elif [[ -n "$failed" ]]; then
    echo "drift ${step} ${failed}"
  else
    echo "ok ${step} ${token}"
  fi
done
