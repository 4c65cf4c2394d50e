// HTTP Basic credentials from a request's Authorization header (nginx's
// ngx_http_auth_basic_user): behind auth_basic and $remote_user.
#pragma once

#include <string>
#include <string_view>

namespace portico::http {

struct Request;

// Parses an Authorization value: "Basic" (any case), spaces, base64 of "user:password". False
// when it is not Basic, does not decode, or has no ':' or an empty user (nginx: declined).
bool parse_basic_credentials(std::string_view value, std::string* user, std::string* password);
// The same for r's Authorization header (the first one).
bool basic_credentials(const Request& r, std::string* user, std::string* password);

}  // namespace portico::http
