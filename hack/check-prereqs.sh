#!/usr/bin/env bash
# Checks that the toolchains `make test` builds with are present, and says what is missing.
set -euo pipefail

missing=()
need() {
  command -v "$1" >/dev/null 2>&1 || missing+=("$1 ($2)")
}
need cargo "Rust toolchain, https://rustup.rs"
need go "Go 1.26 or newer, to build kube-apiserver, etcd, helm and the GitOps checkers"
need python3 "Python 3.9 or newer with venv, for the SDK interop test"
need kubectl "kubectl, for the end-to-end tests"
need cc "a C compiler, for the TLS crates"
if command -v cargo >/dev/null 2>&1; then
  cargo fmt --version >/dev/null 2>&1 || missing+=("rustfmt (rustup component add rustfmt)")
  cargo clippy --version >/dev/null 2>&1 || missing+=("clippy (rustup component add clippy)")
fi
if command -v python3 >/dev/null 2>&1; then
  python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=("python3 venv and ensurepip (apt-get install python3-venv)")
fi
if ((${#missing[@]})); then
  echo "check-prereqs: missing:" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
echo "check-prereqs: cargo, go, python3, kubectl and cc present"
