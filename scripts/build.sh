#!/usr/bin/env bash
# Builds everything: protos (lint, then ts-proto into gen/), the native addon, TypeScript into dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

buf lint
rm -rf gen.tmp
# Services spoken over ttrpc get messages only (buf.gen.ttrpc.yaml); everything else gets grpc-js stubs too.
ttrpc_protos=(--path proto/containerd/task --path proto/containerd/services/events/ttrpc)
buf generate --output gen.tmp --exclude-path proto/containerd/task --exclude-path proto/containerd/services/events/ttrpc
buf generate --template buf.gen.ttrpc.yaml --output gen.tmp "${ttrpc_protos[@]}"
# Replace gen/ only when the generated code changed, so that tsc's incremental build stays incremental.
if ! diff -rq gen.tmp/gen gen >/dev/null 2>&1; then
  rm -rf gen && mv gen.tmp/gen gen
fi
rm -rf gen.tmp

# The native addon, rebuilt only when a source is newer than the module. Headers come from the installed
# Node (its prefix has include/node), so node-gyp downloads nothing.
addon_module=addon/build/Release/ctrd.node
if [ ! -f "$addon_module" ] || [ -n "$(find addon/binding.gyp addon/src -newer "$addon_module" -print -quit)" ]; then
  node_prefix="$(dirname "$(dirname "$(command -v node)")")"
  nodedir_flag=()
  if [ -f "$node_prefix/include/node/node_api.h" ]; then nodedir_flag=(--nodedir="$node_prefix"); fi
  (cd addon && node-gyp rebuild "${nodedir_flag[@]}" --loglevel=warn)
fi

tsc -p tsconfig.json
# The shim runs once per container: one bundle (split at its dynamic imports) loads in a fraction of the
# time of a few hundred modules.
rm -rf dist/shims/bundle
esbuild dist/shims/main.js --bundle --platform=node --format=esm --splitting --outdir=dist/shims/bundle --log-level=warning
git rev-parse --short HEAD >dist/REVISION 2>/dev/null || echo unknown >dist/REVISION
