#!/usr/bin/env bash
# Installs every Debian package that building, testing and benchmarking Clove needs.
# Idempotent: skips apt entirely when everything is already present.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential g++ cmake ninja-build ccache pkg-config git
  # libraries (Boost 1.81 named explicitly: libboost-dev is 1.74 on Debian 12)
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-system1.81-dev
  libssl-dev ca-certificates libsimdjson-dev libspdlog-dev libfmt-dev libcli11-dev
  libtomlplusplus-dev libgtest-dev libgmock-dev libbenchmark-dev
  # state: embedded SQLite, PostgreSQL client, libsodium for secrets at rest
  libsqlite3-dev libpq-dev libsodium-dev
  # tests: a throwaway PostgreSQL server and the sqlite3 CLI to inspect databases
  postgresql sqlite3
  # tests: throw-away CA and certificates for the HTTPS upstream test
  openssl
  # tests: the official SDK e2e and the fake upstream run on Node.js
  nodejs
  # tests: the web admin UI's end-to-end test drives Debian's Chromium with Playwright; Noto CJK so
  # the Chinese screenshots show glyphs
  chromium fonts-noto-cjk fonts-dejavu-core
  # benchmark: nginx is the floor, wrk drives the load
  nginx-light wrk procps curl
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

command -v npm >/dev/null || { echo "setup: npm is missing (install Node.js 20 with npm)"; exit 1; }
