#!/usr/bin/env bash
# The one test command (README, CI): installs what it needs, then formatting, lint, type check and
# every jest suite against a real Temporal dev server. Extra arguments go to jest (e.g. a path).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Node.js 22 or later first on PATH (from the npm registry when this machine has an older one).
source scripts/use-node.sh

step() { printf '\n==> %s\n' "$*"; }

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "installing npm dependencies"
  # npm install, not npm ci: the lock lacks optional packages for other platforms that this machine's
  # registry does not serve, which npm ci counts as out of sync. The lock file itself stays unchanged.
  npm install --no-audit --no-fund
fi

step "tools (built once into .tools/)"
# TALOS_UPGRADE_TEST_TOOLS names the tools a partial run needs (npm run test:fast: temporal only).
# shellcheck disable=SC2086 # a list of tool names, split on purpose
bash scripts/ensure-tools.sh ${TALOS_UPGRADE_TEST_TOOLS:-}

step "format (prettier --check)"
npx --no-install prettier --check --log-level warn .

step "lint (eslint)"
npx --no-install eslint .

step "type check (tsc)"
npx --no-install tsc --noEmit -p tsconfig.json

step "tests (jest)"
results=.tools/jest-results.json
status=0
npm run --silent test:jest -- --json --outputFile="$results" "$@" || status=$?
# Failures again at the very end, a few lines each, so the tail of a long CI log says what broke;
# then one plain closing line, the same whatever the reporter printed above it.
node -e '
  const r = require(process.argv[1]);
  const plain = (text) => text.replace(/\x1b\[[0-9;]*m/g, "");
  const head = (text) => plain(text).split("\n").filter((l) => l.trim()).slice(0, 6).join("\n    ");
  for (const suite of r.testResults) {
    const name = suite.name.slice(process.cwd().length + 1);
    const failed = suite.assertionResults.filter((a) => a.status === "failed");
    for (const a of failed) console.log(`FAILED ${name} > ${a.fullName}\n    ${head(a.failureMessages.join("\n"))}`);
    if (!failed.length && suite.status === "failed") console.log(`FAILED ${name}\n    ${head(suite.message)}`);
  }
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`);
' "$PWD/$results" || true
exit "$status"
