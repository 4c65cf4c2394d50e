// Hop-by-hop field filter: a length switch for the fixed names, then a short scan of the names
// the message's Connection headers listed.
#include "proxy/hop_by_hop.h"

#include <array>

#include "core/strings.h"

namespace portico::proxy {
namespace {

// tchar (RFC 9110 5.6.2): a Connection option is a token.
constexpr std::array<bool, 256> kTchar = [] {
  std::array<bool, 256> t{};
  for (unsigned c = 0; c < 256; ++c)
    t[c] = ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9');
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<uint8_t>(c)] = true;
  return t;
}();

bool is_token(std::string_view s) {
  for (char c : s)
    if (!kTchar[static_cast<uint8_t>(c)]) return false;
  return !s.empty();
}

}  // namespace

bool is_fixed_hop_by_hop(std::string_view name, bool tunnelling) {
  switch (name.size()) {
    case 2:
      return iequals(name, "te");
    case 7:
      return iequals(name, "trailer") || (!tunnelling && iequals(name, "upgrade"));
    case 10:
      return iequals(name, "connection") || iequals(name, "keep-alive");
    case 16:
      return iequals(name, "proxy-connection");
    case 17:
      return iequals(name, "transfer-encoding");
    default:
      return false;
  }
}

bool HopByHop::init(std::span<const http::Header> headers) {
  count_ = 0;
  overflowed_ = false;
  for (const http::Header& h : headers) {
    if (h.name.size() != 10 || !iequals(h.name, "connection")) continue;
    for_each_list_item(h.value, [this](std::string_view option) {
      // Fixed hop-by-hop names are dropped anyway; "upgrade" is one of them, and whether it is
      // kept depends on tunnelling alone, never on being named here.
      if (overflowed_ || !is_token(option) || is_fixed_hop_by_hop(option, false)) return;
      for (size_t i = 0; i < count_; ++i)
        if (iequals(named_[i], option)) return;
      if (count_ == kMaxNamed) {
        overflowed_ = true;
        return;
      }
      named_[count_++] = option;
    });
    if (overflowed_) break;
  }
  return !overflowed_;
}

bool HopByHop::is_hop(std::string_view name, bool tunnelling) const {
  if (overflowed_) return true;
  if (is_fixed_hop_by_hop(name, tunnelling)) return true;
  for (size_t i = 0; i < count_; ++i)
    if (named_[i].size() == name.size() && iequals(named_[i], name)) return true;
  return false;
}

}  // namespace portico::proxy
