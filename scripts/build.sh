#!/usr/bin/env bash
# Builds Clove. Usage: scripts/build.sh [release|asan|debug]   (default release)
#   release: -O2 with LTO, the binary at build/release/clove
#   asan:    ASan+UBSan, -O1, the binary at build/asan/clove
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-release}
case "$kind" in
  release) type=Release; extra=(-DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DCMAKE_INTERPROCEDURAL_OPTIMIZATION=ON) ;;
  asan)    type=RelWithDebInfo; extra=(-DCLOVE_SANITIZE=ON -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g") ;;
  debug)   type=Debug; extra=() ;;
  *) echo "usage: $0 [release|asan|debug]" >&2; exit 2 ;;
esac
jobs=${CLOVE_BUILD_JOBS:-$(nproc)}
# The tokenizer's vocabulary is an npm package (tools/tokenizer/package.json), fetched at build time
# and embedded by CMake: `npm ci` when node_modules is missing or older than the lock file.
tok=tools/tokenizer
if [[ ! -f $tok/node_modules/@anthropic-ai/tokenizer/claude.json || $tok/package-lock.json -nt $tok/node_modules/.package-lock.json ]]; then
  echo "build: npm ci in $tok"
  (cd $tok && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
fi
# The web admin UI (web/) is built by Vite during the CMake build and embedded in the binary: its
# npm dependencies come from the committed lock file. Install scripts are not needed (esbuild,
# Tailwind's oxide and rollup ship their native binaries as optional platform packages).
if [[ ! -f web/node_modules/vite/package.json || web/package-lock.json -nt web/node_modules/.package-lock.json ]]; then
  echo "build: npm ci in web"
  (cd web && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
fi
cmake -S . -B "build/$kind" -G Ninja -DCMAKE_BUILD_TYPE=$type -DCLOVE_WERROR=${CLOVE_WERROR:-OFF} "${extra[@]}" >/dev/null
cmake --build "build/$kind" -j "$jobs"
