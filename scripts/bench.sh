#!/usr/bin/env bash
# Runs one benchmark of bench/ on a fresh clone: installs what is missing, builds the tools once
# (cached in .tools/), then `bench/<name>.ts` with the remaining arguments. Each prints its table.
#
#   npm run bench -- chaos [--kills 10]      npm run bench -- overhead
#   npm run bench -- schedule                npm run bench -- fleet [--clusters 50]
#   npm run bench -- webhook [--deliveries 2000]   npm run bench -- unavailable [--scale 0.2]
#   npm run bench -- matrix (cancel, terminate, SIGKILL × pets/cattle × controller/worker)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
name=${1:-}
if [ -z "$name" ] || [ ! -f "bench/$name.ts" ]; then
  echo "usage: npm run bench -- <$(cd bench && ls ./*.ts | sed 's#^\./##; s#\.ts$##' | paste -sd '|')> [options]" >&2
  exit 2
fi
shift
# Node.js 22 or later first on PATH (from the npm registry when this machine has an older one).
source scripts/use-node.sh
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm install --no-audit --no-fund # see scripts/test.sh for why not npm ci
fi
bash scripts/ensure-tools.sh temporal kube kwok terraform talos >/dev/null
exec node --import tsx "bench/$name.ts" "$@"
