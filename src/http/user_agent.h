// What nginx's ngx_http_process_user_agent learns from a User-Agent: the browser families whose
// bugs some directives work around (keepalive_disable msie6 | safari). Pure, allocation-free.
#pragma once

#include <cstdint>
#include <string_view>

namespace portico::http {

enum UserAgentFlag : uint8_t {
  kUaMsie = 1,
  kUaMsie6 = 2,   // MSIE 4.x, 5.x, or 6.x without SV1: no keep-alive after a POST
  kUaSafari = 4,  // Safari on Mac OS X (not Chrome): keep-alive disabled on request
  kUaOpera = 8,
  kUaGecko = 16,
  kUaChrome = 32,
};

// The flags of a User-Agent value, matched as nginx does (substrings, case-sensitive).
uint8_t user_agent_flags(std::string_view ua);

}  // namespace portico::http
