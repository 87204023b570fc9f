#!/usr/bin/env bash
# Builds the GitOps health checkers (hack/argocd-health, hack/kstatus-check),
# caches the binaries outside the repository, and links them into
# target/tools/bin as argocd-health and kstatus-check.
#
# Usage: hack/build-gitops-checkers.sh
# Prints the directory holding the links on stdout; progress goes to stderr.
#
# A cached binary is named <checker>-<hash>, where the hash covers the
# checker's Go sources, go.mod, go.sum and the Go version, so any change to
# them builds a new binary.
#
# Cache: ${BMS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bms-job-operator/tools}
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache_dir=${BMS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bms-job-operator/tools}
bin_dir="$repo_root/target/tools/bin"
checkers=(argocd-health kstatus-check)

die() {
  echo "build-gitops-checkers: error: $*" >&2
  exit 1
}

log() {
  echo "build-gitops-checkers: $*" >&2
}

# Prints a short hash of the checker's sources (tests excluded), go.mod,
# go.sum and the Go toolchain version.
source_hash() {
  local dir=$1
  {
    (cd "$dir" && find . -maxdepth 1 -type f \( -name 'go.mod' -o -name 'go.sum' -o -name '*.go' \) \
      ! -name '*_test.go' -print0 | sort -z | xargs -0 sha256sum)
    go version
  } | sha256sum | cut -c1-12
}

# Builds checker $1 from hack/$1 into the cache unless it is there already,
# then links it into $bin_dir.
ensure_checker() {
  local checker=$1 dir="$repo_root/hack/$1" cached tmp
  [[ -f $dir/go.mod ]] || die "$dir/go.mod is missing"

  cached="$cache_dir/$checker-$(source_hash "$dir")"
  if [[ -x $cached ]]; then
    log "$checker: cached at $cached"
  else
    log "$checker: building from hack/$checker"
    mkdir -p "$cache_dir"
    tmp=$(mktemp "$cache_dir/.$checker.XXXXXX")
    if ! (cd "$dir" &&
      CGO_ENABLED=0 GOFLAGS='-mod=readonly -buildvcs=false' \
        go build -trimpath -ldflags '-s -w' -o "$tmp" .); then
      rm -f "$tmp"
      die "building $checker from hack/$checker failed (see the go output above)"
    fi
    chmod 0755 "$tmp"
    mv -f "$tmp" "$cached"
    log "$checker: built into $cached"
  fi

  mkdir -p "$bin_dir"
  ln -sfn "$cached" "$bin_dir/$checker"
}

main() {
  [[ $# -eq 0 ]] || die "takes no arguments (builds ${checkers[*]})"
  command -v go >/dev/null 2>&1 || die "go is not installed or not on PATH; it is needed to build ${checkers[*]}"
  log "cache: $cache_dir"
  local checker
  for checker in "${checkers[@]}"; do
    ensure_checker "$checker"
  done
  echo "$bin_dir"
}

main "$@"
