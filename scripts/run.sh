#!/usr/bin/env bash
# Sets up, builds (release) and starts Clove. Extra arguments go to clove, e.g.
#   bash scripts/run.sh --config clove.toml
# With no config Clove starts on its embedded defaults: http://127.0.0.1:5201, one upstream
# (the Anthropic API) to which each client's own API key is passed through.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh release
exec build/release/clove "$@"
