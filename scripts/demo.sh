#!/usr/bin/env bash
# Builds portico and runs it in the foreground on the bundled demo configuration: the
# reference setup on 127.0.0.1:8080, site A proxying to a Java app and site B a Node app under
# Passenger's directives, both apps run by portico. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh demo
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target portico demo_spring
mkdir -p conf/logs
echo "portico: serving the demo on http://127.0.0.1:8080/ (site A: curl 127.0.0.1:8080/;" \
     "site B: curl -H 'Host: b.localhost' 127.0.0.1:8080/hello; apps: ./build/portico -p conf/ -c portico.conf status)" >&2
exec ./build/portico -p "$PWD/conf/" -c portico.conf
