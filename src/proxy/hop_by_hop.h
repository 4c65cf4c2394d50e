// Hop-by-hop header fields (RFC 9110 7.6.1): the fields that describe one connection, not the
// message, and that a proxy therefore never forwards, in either direction.
//
// They are Connection itself, every field that a Connection header names, and the fixed set
// Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding and Upgrade (HTTP/1.1 and the
// de-facto fields RFC 9110 lists). Upgrade is kept when the message sets up a tunnel (a 101
// response or the request that asked for it): the other side needs it. Connection is dropped
// even then; the writer of the outgoing head puts its own "Connection: upgrade" (as nginx's header
// filter does for 101), "keep-alive" or "close".
//
// Apply the filter to the fields of the incoming message only, before adding the proxy's own
// (proxy_set_header, X-Forwarded-For, ...): a client that lists "X-Forwarded-For" in Connection
// must lose its own copy, not the one the proxy adds.
//
// HopByHop is a small value (no allocation) owned by whoever copies one message's fields; it holds
// views into that message's buffer, so it lives no longer than the buffer does.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "http/parser.h"

namespace portico::proxy {

// Calls f(item) for every non-empty element of a comma-separated field value (RFC 9110 5.6.1),
// with the OWS around it removed. Quoted strings are not special: the lists this is used on
// (Connection, Upgrade) hold tokens only.
template <class F>
void for_each_list_item(std::string_view value, F&& f) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

// True for the fields that are hop-by-hop in every message (case-insensitive): Connection,
// Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, and Upgrade unless tunnelling.
bool is_fixed_hop_by_hop(std::string_view name, bool tunnelling);

// Which fields of one message are hop-by-hop: the fixed set plus those its Connection headers name.
class HopByHop {
 public:
  // Connection options kept per message. Real messages name one to three ("keep-alive",
  // "Upgrade", "TE, close", "Upgrade, HTTP2-Settings"); options that are fixed hop-by-hop
  // fields anyway and repeats do not count.
  static constexpr size_t kMaxNamed = 16;

  // Reads the options of every Connection header among `headers` (case-insensitive; elements that
  // are not tokens cannot name a field and are skipped). The views point into the headers'
  // buffer, not into `headers`, which may change afterwards.
  // Returns false when more than kMaxNamed distinct fields are named. We do not guess which to
  // forward then: the caller rejects the message (400 for a request, 502 for a response), and
  // a caller that does not is still safe, as is_hop() then answers true for every field.
  // Resets any earlier state, so one HopByHop can serve message after message.
  [[nodiscard]] bool init(std::span<const http::Header> headers);

  // True when the field `name` (any case) must not be forwarded.
  bool is_hop(std::string_view name, bool tunnelling) const;

  bool overflowed() const { return overflowed_; }
  // Distinct fields named by Connection that are not in the fixed set (at most kMaxNamed).
  size_t named_count() const { return count_; }

 private:
  std::array<std::string_view, kMaxNamed> named_{};  // named_[0, count_) distinct, any case
  uint8_t count_ = 0;
  bool overflowed_ = false;
};

}  // namespace portico::proxy
