#!/usr/bin/env bash
# Proves the layer views still enforce the dependency direction: for every layer, a file that
# includes a header of a layer above it must fail to preprocess against that layer's include view,
# and a file that includes a header of a layer it may use must preprocess (the include
# resolution is what the views decide). Run by ctest.
# Usage: check_layers.sh CXX BUILD_DIR SOURCE_DIR
set -uo pipefail
cxx=$1 build=$2 src=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
# layer, a header it must NOT see, a header it must see
while read -r layer forbidden allowed; do
  view=$build/layers/$layer
  printf '#include "%s"\n' "$forbidden" > "$tmp/bad.cpp"
  printf '#include "%s"\n' "$allowed" > "$tmp/good.cpp"
  if "$cxx" -std=c++20 -E -o /dev/null -I "$view" "$tmp/bad.cpp" 2>/dev/null; then
    echo "FAIL: layer $layer can include $forbidden (a wrong-way edge)"; fail=1
  fi
  if ! "$cxx" -std=c++20 -E -o /dev/null -I "$view" "$tmp/good.cpp" 2>"$tmp/err"; then
    echo "FAIL: layer $layer cannot include $allowed:"; cat "$tmp/err"; fail=1
  fi
done <<'LIST'
core config/parser.h core/log.h
core dns/resolver.h core/event_loop.h
dns upstream/group.h dns/resolver.h
dns config/parser.h core/event_loop.h
upstream http/request.h dns/resolver.h
core upstream/group.h core/event_loop.h
config http/request.h config/registry.h
config upstream/group.h config/listen.h
config tls/context.h config/listen.h
tls http/request.h tls/session.h
tls upstream/group.h core/transport.h
http proxy/session.h tls/context.h
upstream http/request.h upstream/balancer.h
upstream proxy/session.h config/listen.h
upstream server/worker.h upstream/pool.h
stream http/request.h upstream/local.h
stream proxy/context.h stream/stream_conf.h
stream server/worker.h config/listen.h
http proxy/session.h http/module.h
http static/static_module.h http/level.h
http server/worker.h core/file_cache.h
http stream/stream_conf.h upstream/upstream_conf.h
static proxy/proxy_conf.h http/request.h
static server/worker.h static/range.h
proxy server/worker.h http/request.h
proxy static/static_module.h http/level.h
proxy stream/session.h upstream/local.h
http compress/compress_module.h http/body_filter.h
http auth/password.h http/module.h
auth proxy/session.h http/module.h
auth server/worker.h auth/password.h
static compress/filter.h static/static_module.h
compress proxy/session.h static/static_module.h
compress server/worker.h http/body_filter.h
http http2/session.h http/connection.h
http2 proxy/session.h http/client_stream.h
http2 server/worker.h http/module.h
proxy http2/session.h http/request.h
LIST
[ $fail -eq 0 ] && echo "layers: every wrong-way include refused, every allowed one compiles"
exit $fail
