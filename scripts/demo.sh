#!/usr/bin/env bash
# Builds portico and runs it in the foreground on the bundled demo configuration
# (two virtual hosts on 127.0.0.1:8080). Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target portico
mkdir -p conf/logs
echo "portico: serving the demo on http://127.0.0.1:8080/ (try: curl -H 'Host: b.localhost' 127.0.0.1:8080/)" >&2
exec ./build/portico -p "$PWD/conf/" -c portico.conf
