#include "http/user_agent.h"

namespace portico::http {

uint8_t user_agent_flags(std::string_view ua) {
  uint8_t f = 0;
  const size_t msie = ua.find("MSIE ");
  if (msie != std::string_view::npos && msie + 7 < ua.size()) {
    f |= kUaMsie;
    if (ua[msie + 6] == '.') {
      const char major = ua[msie + 5];
      if (major == '4' || major == '5')
        f |= kUaMsie6;
      else if (major == '6' && ua.find("SV1", msie + 8) == std::string_view::npos)
        f |= kUaMsie6;
    }
  }
  if (ua.find("Opera") != std::string_view::npos) {
    f = uint8_t((f | kUaOpera) & ~(kUaMsie | kUaMsie6));
    return f;
  }
  if (f & kUaMsie) return f;
  if (ua.find("Gecko/") != std::string_view::npos)
    f |= kUaGecko;
  else if (ua.find("Chrome/") != std::string_view::npos)
    f |= kUaChrome;
  else if (ua.find("Safari/") != std::string_view::npos &&
           ua.find("Mac OS X") != std::string_view::npos)
    f |= kUaSafari;
  return f;
}

}  // namespace portico::http
