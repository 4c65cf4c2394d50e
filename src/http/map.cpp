#include "http/map.h"

#include "core/strings.h"
#include "http/request.h"

namespace portico::http {

void MapConf::eval(Request& r, std::string& out) const {
  thread_local std::string value;  // reused: no allocation per lookup once warm
  value.clear();
  source.eval(r, value);
  for (char& c : value) c = ascii_lower(c);
  auto it = exact.find(std::string_view(value));
  if (it != exact.end()) {
    it->second.eval(r, out);
    return;
  }
  if (!regexes.empty()) {
    std::string original;
    source.eval(r, original);
    for (const auto& e : regexes) {
      Captures caps;
      if (e.regex->match(original, &caps)) {
        r.captures_subject = original;
        r.captures = caps;
        r.captures.subject = r.captures_subject;
        for (const auto& [group, var] : e.named) {
          r.vars[size_t(var)].assign(r.captures.group(group));
          r.vars_set[size_t(var)] = 1;
        }
        e.value.eval(r, out);
        return;
      }
    }
  }
  default_value.eval(r, out);
}

}  // namespace portico::http
