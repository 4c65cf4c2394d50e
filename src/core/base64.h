// Base64 as nginx's ngx_encode_base64 / ngx_decode_base64 (RFC 4648 alphabet): decoding stops
// at the first '=', needs no padding, and refuses any other byte outside the alphabet. Pure
// functions; callable from any thread.
#pragma once

#include <string>
#include <string_view>

namespace portico {

// Appends the encoding of `in` (with '=' padding) to `out`.
void base64_encode(std::string_view in, std::string& out);
// Appends the decoding of `in` to `out`. Returns false (out unspecified) on a byte outside the
// alphabet before the first '=' or a length that leaves a single dangling character.
bool base64_decode(std::string_view in, std::string& out);

}  // namespace portico
