#!/usr/bin/env bash
# The systemd units: `systemd-analyze verify` (syntax, directives, the
# ExecStart= binary) and `systemd-analyze security --offline=yes` with an
# exposure threshold of 2.0 (`--threshold` counts tenths: 20).
#   scripts/check-units.sh [DOCKSIDE_BINARY]
# verify needs ExecStart='s binary to exist: the units are checked as copies
# pointing at DOCKSIDE_BINARY (default target/debug/dockside).
set -euo pipefail
cd "$(dirname "$0")/.."

bin="$(realpath "${1:-target/debug/dockside}")"
[ -x "$bin" ] || { echo "check-units: no binary at $bin (cargo build)" >&2; exit 1; }
command -v systemd-analyze >/dev/null || { echo "check-units: FAIL: systemd-analyze not found (Debian: systemd)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for unit in systemd/*.service; do
  name=$(basename "$unit")
  sed "s|/usr/bin/dockside|$bin|g" "$unit" > "$tmp/$name"
  if ! out=$(systemd-analyze verify --man=no "$tmp/$name" 2>&1) || [ -n "$out" ]; then
    echo "check-units: FAIL: systemd-analyze verify $name:" >&2
    echo "$out" >&2
    exit 1
  fi
  score=$(systemd-analyze security --offline=yes "$unit" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
  if ! systemd-analyze security --offline=yes --threshold=20 "$unit" >/dev/null; then
    echo "check-units: FAIL: $name exposure $score is over 2.0" >&2
    exit 1
  fi
  echo "check-units: $name verified, exposure $score (threshold 2.0)"
done
