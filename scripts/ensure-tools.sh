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

TEMPORAL_CLI_VERSION=1.5.1 # later tags carry a `replace` line that `go install` refuses

say() { printf '[tools] %s\n' "$*" >&2; }

require_go() {
  if ! command -v go >/dev/null 2>&1; then
    say "ERROR: Go is not installed, and $1 is neither on PATH nor cached in $tools_dir."
    say "Install Go 1.22 or newer (https://go.dev/doc/install) and run this again, or put $1 on PATH."
    exit 1
  fi
}

# go_install_cached <name> <version> <module@version> : builds once into .tools/<name>-<version>/.
go_install_cached() {
  local name=$1 version=$2 module=$3
  local dest="$tools_dir/$name-$version"
  if [ ! -x "$dest/$name" ]; then
    require_go "$name"
    mkdir -p "$dest"
    say "building $name $version with 'go install $module' (first run only; this takes a few minutes)"
    local log="$dest/build.log" start=$SECONDS
    # A private GOBIN keeps a half-built binary out of the cache if the build is interrupted.
    GOBIN="$dest/.partial" GOFLAGS="${GOFLAGS:-} -buildvcs=false" go install "$module" >"$log" 2>&1 &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
      sleep 15
      kill -0 "$pid" 2>/dev/null && say "still building $name ($((SECONDS - start))s so far)"
    done
    if ! wait "$pid"; then
      say "ERROR: building $name failed; the last lines of $log:"
      tail -n 20 "$log" >&2
      exit 1
    fi
    mv "$dest/.partial/$name" "$dest/$name" && rm -rf "$dest/.partial"
    say "built $name $version in $((SECONDS - start))s"
  fi
  ln -sfn "$dest/$name" "$tools_dir/bin/$name"
  printf '%s=%s\n' "$name" "$tools_dir/bin/$name"
}

# A temporal CLI already on PATH is used when it is a 1.x release new enough for start-dev's flags.
temporal_on_path_fits() {
  command -v temporal >/dev/null 2>&1 || return 1
  temporal --version 2>/dev/null | grep -Eq '^temporal version 1\.([1-9][0-9]*)\.'
}

ensure_temporal() {
  if temporal_on_path_fits; then
    printf 'temporal=%s\n' "$(command -v temporal)"
    return
  fi
  go_install_cached temporal "$TEMPORAL_CLI_VERSION" "github.com/temporalio/cli/cmd/temporal@v$TEMPORAL_CLI_VERSION"
}

# Two test runs starting at once must not build the same tool twice.
exec 9>"$tools_dir/.lock"
flock 9

wanted=("$@")
[ ${#wanted[@]} -gt 0 ] || wanted=(temporal)
for tool in "${wanted[@]}"; do
  case "$tool" in
    temporal) ensure_temporal ;;
    *) say "ERROR: unknown tool '$tool' (known: temporal)"; exit 2 ;;
  esac
done
