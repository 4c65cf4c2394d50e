#!/usr/bin/env bash
# Installs the Debian 12 packages portico needs to build, test and benchmark, if missing.
# Usage: scripts/deps.sh [build|demo|test|bench]   (each level includes the previous ones)
set -euo pipefail
level=${1:-build}
pkgs=(cmake ninja-build g++ pkg-config libssl-dev libpcre2-dev zlib1g-dev libbrotli-dev libzstd-dev libnghttp2-dev libc-ares-dev libfmt-dev
      libcrypt-dev
      nlohmann-json3-dev libsystemd-dev curl python3)
if [ "$level" != build ]; then
  pkgs+=(nodejs openjdk-17-jdk-headless)  # the demo's and the tests' apps
fi
if [ "$level" = test ] || [ "$level" = bench ]; then
  pkgs+=(libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev clang-format
        brotli zstd openssl nghttp2-client python3-h2 python3-hyperframe
        gnutls-bin testssl.sh chromium)  # test_https_clients.py's real clients
fi
if [ "$level" = bench ]; then
  # bench/run.sh row 9 (apps): Passenger Standalone beside portico (PM2 comes from npm, below)
  pkgs+=(nginx-light h2o wrk util-linux passenger)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# PM2 for bench/run.sh row 9, from the npm registry (bench level only). Debian's npm package
# only if there is no npm: a nodejs that bundles npm (NodeSource's) conflicts with it.
if [ "$level" = bench ] && ! command -v pm2 >/dev/null; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  if ! command -v npm >/dev/null; then
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends npm
  fi
  $SUDO npm install -g --no-fund --no-audit pm2
fi
