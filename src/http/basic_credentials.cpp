#include "http/basic_credentials.h"

#include "core/base64.h"
#include "core/strings.h"
#include "http/request.h"

namespace portico::http {

bool parse_basic_credentials(std::string_view value, std::string* user, std::string* password) {
  if (value.size() < 6 || !iequals(value.substr(0, 6), "Basic ")) return false;
  value.remove_prefix(6);
  while (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  if (value.empty()) return false;
  thread_local std::string decoded;  // reused: no allocation per request once warm
  decoded.clear();
  if (!base64_decode(value, decoded)) return false;
  const size_t colon = decoded.find(':');
  if (colon == 0 || colon == std::string::npos) return false;
  user->assign(decoded, 0, colon);
  password->assign(decoded, colon + 1);
  return true;
}

bool basic_credentials(const Request& r, std::string* user, std::string* password) {
  const Header* h = r.head.find("authorization");
  return h && parse_basic_credentials(h->value, user, password);
}

}  // namespace portico::http
