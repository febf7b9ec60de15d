#!/usr/bin/env bash
# The demo (README's first command). The full stack on the lab is not built yet: say so plainly and
# show what exists, instead of pretending.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund  # see scripts/test.sh for why not npm ci
fi
echo "The full demo (Temporal + Web UI, the lab, the worker, the webhook and a watched upgrade) is not built yet."
echo "What exists today — the inventory check and the upgrade planner:"
echo
node bin/talos-upgrade.js validate examples/prox-ops.yaml examples/atlas.yaml examples/portkey.yaml
echo
releases=$(mktemp)
trap 'rm -f "$releases"' EXIT
printf '1.11.3\n1.11.4\n1.12.0\n1.12.5\n1.13.0\n' >"$releases"
node bin/talos-upgrade.js plan --inventory examples/prox-ops.yaml --from 1.11.3 --to 1.13.0 --releases "$releases"
