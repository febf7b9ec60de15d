# Sourced by the test, demo and bench scripts: puts Node.js 22 or later first on PATH (the machine's own
# when it is that new, else Node.js 24 LTS from the npm registry, see ensure_node in ensure-tools.sh), so
# npm, jest, the worker and every CLI they start run on it. Node.js 20 is past its end of life.
if ! node_path=$(bash "$(dirname "${BASH_SOURCE[0]}")/ensure-tools.sh" node | sed -n 's/^node=//p') || [ -z "$node_path" ]; then
  echo "no Node.js 22 or later could be provided (the lines above say why)" >&2
  exit 1
fi
# Only a node that is not already the one on PATH goes in front: the machine's own stays where it is,
# so its folder (/usr/bin, say) does not move ahead of node_modules/.bin, Go or a virtualenv.
if [ "$(command -v node)" != "$node_path" ]; then
  PATH="$(dirname "$node_path"):$PATH"
  export PATH
fi
