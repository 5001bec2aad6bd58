#!/usr/bin/env bash
# Runs the whole suite against the build (set-up has run). The last line is the plain "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"
if [ "$(id -u)" != 0 ]; then
  echo "test: the suite drives real namespaces, mounts and daemons; run it as root" >&2
  exit 1
fi
exec vitest run "$@"
