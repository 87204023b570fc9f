#!/usr/bin/env bash
# `make demo`: builds what is missing, then runs the demo (examples/demo.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
hack/check-prereqs.sh >/dev/null
hack/build-tools.sh kube-apiserver etcd >/dev/null
cargo build --quiet --bins --example demo
exec cargo run --quiet --example demo
