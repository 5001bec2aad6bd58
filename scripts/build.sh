#!/usr/bin/env bash
# Builds everything: protos (lint, then ts-proto into gen/), TypeScript into dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

buf lint
rm -rf gen.tmp
buf generate --output gen.tmp 2>/dev/null || buf generate -o gen.tmp
# Replace gen/ only when the generated code changed, so that tsc's incremental build stays incremental.
if ! diff -rq gen.tmp/gen gen >/dev/null 2>&1; then
  rm -rf gen && mv gen.tmp/gen gen
fi
rm -rf gen.tmp
tsc -p tsconfig.json
git rev-parse --short HEAD >dist/REVISION 2>/dev/null || echo unknown >dist/REVISION
