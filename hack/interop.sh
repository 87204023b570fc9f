#!/usr/bin/env bash
# Interop: the official Huawei Cloud Python SDK (huaweicloudsdkbms ShowJobInfos) against bms-sim.
#
# Creates (or reuses) a virtual environment in target/interop-venv with the pinned SDK and pytest
# from tests/interop/requirements.txt, builds bms-sim, and runs pytest on tests/interop. The suite
# starts bms-sim itself. Exits non-zero on any failure; nothing is skipped.
#
# Environment: PYTHON (default python3), CARGO (default cargo), INTEROP_VENV (default
# target/interop-venv), BMS_SIM_BIN (default: built here, target/debug/bms-sim).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

python="${PYTHON:-python3}"
cargo="${CARGO:-cargo}"
venv="${INTEROP_VENV:-$repo/target/interop-venv}"
requirements="$repo/tests/interop/requirements.txt"
stamp="$venv/.requirements.sha256"

want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" ]] || [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "interop: preparing $venv" >&2
  if ! "$python" -m venv --help >/dev/null 2>&1; then
    echo "interop: '$python -m venv' is not available (Debian: apt-get install python3-venv)" >&2
    exit 1
  fi
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
  echo "$want" > "$stamp"
else
  echo "interop: reusing $venv" >&2
fi

if [[ -z "${BMS_SIM_BIN:-}" ]]; then
  "$cargo" build --quiet --bin bms-sim
  target_dir="$("$cargo" metadata --format-version 1 --no-deps \
    | "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
  export BMS_SIM_BIN="$target_dir/debug/bms-sim"
fi
echo "interop: bms-sim at $BMS_SIM_BIN" >&2
"$venv/bin/python" -m pip freeze --disable-pip-version-check | grep -i '^huaweicloudsdk' >&2

cd "$repo/tests/interop"
exec "$venv/bin/python" -m pytest -p no:cacheprovider "$@" .
