#!/usr/bin/env bash
# The model owns the schema: no SQL, and no database query call, in the programs' sources
# outside src/lib (docs/architecture.md). A daemon opens its connection and calls model
# functions. Prints TAP.
set -uo pipefail
cd "$(dirname "$0")/.."
hits=$(git ls-files 'src/*.c' 'src/*.h' | grep -v '^src/lib/' | xargs grep -nE \
  '"[^"]*\b(SELECT|UPDATE|INSERT INTO|DELETE FROM|CREATE (TABLE|INDEX)|ALTER TABLE|LOCK TABLE|BEGIN|COMMIT|ROLLBACK)\b|qvd_db_(query|query_params|exec|get_[a-z0-9_]+|step|begin|commit|rollback)[[:space:]]*\(')
if [ -z "$hits" ]; then
  echo "ok 1 - no SQL outside src/lib"
else
  echo "not ok 1 - SQL outside src/lib (move it into a model function):"
  sed 's/^/#   /' <<<"$hits"
fi
