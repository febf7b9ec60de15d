#!/usr/bin/env bash
# The demo (README's first command): installs what is missing, then runs the whole stack on the lab
# and two upgrades you can watch. Pass --keep to leave it running afterwards.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Node.js 22 or later first on PATH (from the npm registry when this machine has an older one).
source scripts/use-node.sh
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund  # see scripts/test.sh for why not npm ci
fi
bash scripts/ensure-tools.sh temporal kube kwok terraform talos >/dev/null
exec node --import tsx scripts/demo/demo.ts "$@"
