#!/usr/bin/env bash
# Builds the binaries the integration tests run (kube-apiserver, etcd, helm)
# from source through the wrapper modules under hack/tools/, caches them
# outside the repository, and links them into target/tools/bin.
#
# Usage: hack/build-tools.sh [kube-apiserver|etcd|helm]...   (default: all)
# Prints the directory holding the links on stdout; progress goes to stderr.
#
# Each wrapper go.mod is the single source of the tool's version; builds use
# -mod=readonly so the committed go.mod and go.sum are used exactly. A cached
# binary is named <tool>-<version>-<hash>, where the hash covers the wrapper's
# files and the build flags, so any change to them builds a new binary.
#
# Cache: ${BMS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bms-job-operator/tools}
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
wrappers_dir="$repo_root/hack/tools"
cache_dir=${BMS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bms-job-operator/tools}
bin_dir="$repo_root/target/tools/bin"
all_tools=(kube-apiserver etcd helm)

die() {
  echo "build-tools: error: $*" >&2
  exit 1
}

log() {
  echo "build-tools: $*" >&2
}

# Prints the version the wrapper module in $1 requires of module $2.
required_version() {
  local wrapper=$1 module=$2 version
  version=$(awk -v module="$module" '
    { if ($1 == "require") { $1 = "" ; $0 = $0 } }
    $1 == module && $2 ~ /^v/ { print $2; exit }' "$wrapper/go.mod")
  [[ -n $version ]] || die "$wrapper/go.mod does not require $module"
  echo "$version"
}

# Prints a short hash of the wrapper's files and of the given build flags.
wrapper_hash() {
  local wrapper=$1
  shift
  {
    (cd "$wrapper" && find . -maxdepth 1 -type f \( -name 'go.mod' -o -name 'go.sum' -o -name '*.go' \) -print0 |
      sort -z | xargs -0 sha256sum)
    printf '%s\n' "$@"
  } | sha256sum | cut -c1-12
}

# ensure_tool TOOL PACKAGE VERSION LDFLAGS: builds PACKAGE in the wrapper
# module hack/tools/TOOL into the cache unless the cached binary exists, then
# links it into $bin_dir as TOOL.
ensure_tool() {
  local tool=$1 wrapper="$wrappers_dir/$1" package=$2 version=$3 ldflags=$4
  local cached tmp started

  cached="$cache_dir/$tool-$version-$(wrapper_hash "$wrapper" "$package" "$ldflags")"
  if [[ -x $cached ]]; then
    log "$tool $version: cached at $cached"
  else
    log "$tool $version: building $package (this takes a while the first time)"
    mkdir -p "$cache_dir"
    tmp=$(mktemp "$cache_dir/.$tool.XXXXXX")
    started=$SECONDS
    if ! (cd "$wrapper" &&
      CGO_ENABLED=0 GOFLAGS='-mod=readonly -buildvcs=false' \
        go build -trimpath -ldflags "$ldflags" -o "$tmp" "$package"); then
      rm -f "$tmp"
      die "building $tool $version from $wrapper failed (see the go output above)"
    fi
    chmod 0755 "$tmp"
    mv -f "$tmp" "$cached"
    log "$tool $version: built in $((SECONDS - started)) s into $cached"
  fi

  mkdir -p "$bin_dir"
  ln -sfn "$cached" "$bin_dir/$tool"
}

build_kube_apiserver() {
  local version major minor ldflags=(-s -w) pkg
  version=$(required_version "$wrappers_dir/kube-apiserver" k8s.io/kubernetes)
  major=${version#v}
  major=${major%%.*}
  minor=${version#v*.}
  minor=${minor%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=(
      "-X $pkg.gitVersion=$version"
      "-X $pkg.gitMajor=$major"
      "-X $pkg.gitMinor=$minor"
      "-X $pkg.gitTreeState=clean"
    )
  done
  ensure_tool kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$version" "${ldflags[*]}"
}

build_etcd() {
  local version
  version=$(required_version "$wrappers_dir/etcd" go.etcd.io/etcd/server/v3)
  ensure_tool etcd . "$version" "-s -w"
}

build_helm() {
  local version
  version=$(required_version "$wrappers_dir/helm" helm.sh/helm/v4)
  ensure_tool helm helm.sh/helm/v4/cmd/helm "$version" \
    "-s -w -X helm.sh/helm/v4/internal/version.version=$version -X helm.sh/helm/v4/internal/version.metadata= -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
}

main() {
  local tools=("$@") tool
  [[ ${#tools[@]} -gt 0 ]] || tools=("${all_tools[@]}")

  for tool in "${tools[@]}"; do
    case $tool in
    kube-apiserver | etcd | helm) ;;
    *) die "unknown tool '$tool' (known: ${all_tools[*]})" ;;
    esac
  done
  command -v go >/dev/null 2>&1 ||
    die "go is not installed or not on PATH; it is needed to build ${tools[*]} (Go >= 1.26)"
  log "cache: $cache_dir"

  for tool in "${tools[@]}"; do
    case $tool in
    kube-apiserver) build_kube_apiserver ;;
    etcd) build_etcd ;;
    helm) build_helm ;;
    esac
  done

  echo "$bin_dir"
}

main "$@"
