// The http2 module (nginx's ngx_http_v2_module): `http2 on|off`, `listen ... http2`, the http2_*
// directives (the obsolete ones accepted with nginx's warnings, server push off), $http2, and
// the HTTP/2 codec the http host's Connection hands itself to (http2/session.h).
//
// Settings are built on the control thread and read-only afterwards. A connection takes its
// connection-wide settings from its address's default server, as nginx does.
#pragma once

#include <cstdint>

#include "http/connection.h"
#include "http/module.h"

namespace portico::http2 {

extern http::Module http2_module;

struct Http2Conf : http::ModuleConfOf<Http2Conf> {
  static http::Module& module() { return http2_module; }
  bool enable = false;                    // `http2 on` (nginx 1.25.1+)
  uint32_t max_concurrent_streams = 128;  // SETTINGS_MAX_CONCURRENT_STREAMS
  uint64_t recv_buffer_size = 256 * 1024;
  uint64_t chunk_size = 8 * 1024;          // the largest DATA frame payload we send
  uint64_t body_preread_size = 64 * 1024;  // SETTINGS_INITIAL_WINDOW_SIZE: body bytes per stream
};

// The codec factory the server installs (http::set_http2_codec).
http::ConnectionCodec* make_codec(http::Connection& c, const char* data, size_t n);

}  // namespace portico::http2
