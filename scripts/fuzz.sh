#!/usr/bin/env bash
# Runs every fuzz target in the module for FUZZTIME each (default 60s), one after another.
# Usage: scripts/fuzz.sh [FUZZTIME] [package-pattern]
set -euo pipefail
fuzztime=${1:-60s}
filter=${2:-.}
cd "$(dirname "$0")/.."
grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(' . | sort | while read -r file; do
  pkg="./$(dirname "${file#./}")"
  [[ $pkg =~ $filter ]] || continue
  for fn in $(grep -oE '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //'); do
    echo "== fuzz $pkg $fn ($fuzztime)"
    go test -tags invariants -run '^$' -fuzz "^${fn}\$" -fuzztime "$fuzztime" "$pkg"
  done
done
