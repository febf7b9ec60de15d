#!/bin/sh
# Called by the lab's Terraform provisioners: create or destroy a simulated Proxmox VM, or build a
# template, by asking the lab daemon's API. Usage: lab-vm.sh <api-url> create|destroy|build-template <name> [version] [schematic]
# (a VM is created from its schematic's Image Factory image at the version).
# A shell script with curl: Terraform runs one per VM it creates or destroys, and the Node version
# (lab-vm.js, used where curl is missing) cost about 0.3 s of CPU a call on a loaded 2-core machine.
set -eu
usage() {
  echo 'usage: lab-vm.sh <api-url> create|destroy|build-template <name> [version] [schematic]' >&2
  exit 2
}
[ $# -ge 3 ] || usage
url=$1 action=$2 name=$3 version=${4:-} schematic=${5:-}
case "$action" in
  create) route=/vm/create body="{\"node\":\"$name\",\"version\":\"$version\",\"schematic\":\"$schematic\"}" ;;
  destroy) route=/vm/destroy body="{\"node\":\"$name\"}" ;;
  build-template) route=/template/build body="{\"template\":\"$name\",\"version\":\"$version\"}" ;;
  *) usage ;;
esac
answer=$(mktemp)
trap 'rm -f "$answer"' EXIT
if ! status=$(curl -sS -o "$answer" -w '%{http_code}' -H 'Content-Type: application/json' --data "$body" "$url$route"); then
  echo "lab-vm $action $name: the lab at $url did not answer" >&2
  exit 1
fi
# The daemon answers {"message":"…"} or {"error":"…"} (no newline at the end); its texts escape nothing
# but quotes and backslashes.
field() { sed -n "s/^{\"$1\":\"\(.*\)\"}\$/\1/p" "$answer" | sed 's/\\"/"/g; s/\\\\/\\/g'; }
if [ "$status" = 200 ]; then
  printf '%s\n' "$(field message)"
else
  echo "lab-vm $action $name: $(field error)" >&2
  exit 1
fi
