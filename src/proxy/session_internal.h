// What the files of proxy::Session (session*.cpp) share besides the class: not part of the
// proxy's interface.
#pragma once

#include <cstddef>

#include "http/parser.h"
#include "proxy/context.h"

namespace portico::proxy {

inline constexpr size_t kBufferSize = Context::kBufferSize;  // each direction

// May a request with this method go to another peer once it was sent (without
// proxy_next_upstream non_idempotent)?
inline bool idempotent(http::Method m) {
  return m != http::Method::kPost && m != http::Method::kPatch && m != http::Method::kOther;
}

}  // namespace portico::proxy
