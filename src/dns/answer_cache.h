// AnswerCache: a resolver's answers by name, each kept until it expires: for the smallest TTL
// of its records, or for `valid=` when the resolver sets one (nginx's rules). A name that does
// not exist is remembered too (for `valid=`, else 10 s, as nginx), so a stream of requests for
// it does not ask the server each time; a failure (server error, time-out) is not, so the next
// request asks again. Bounded: when full, expired entries go first, then the one that expires
// soonest.
//
// Pure data: no I/O, no clock (callers pass now_ms). Owned by one dns::Resolver; one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/sockaddr.h"

namespace portico::dns {

struct Answer {
  enum class Kind : uint8_t { kOk, kNotFound, kFailed, kTimedOut };
  Kind kind = Kind::kFailed;
  std::vector<SockAddr> addrs;  // ports 0; order as the server gave them
  uint64_t expires_ms = 0;      // fresh while now_ms < expires_ms
  std::string error;            // why not, for the log ("Host not found", "Timeout while ...")

  bool ok() const { return kind == Kind::kOk && !addrs.empty(); }
};

class AnswerCache {
 public:
  static constexpr uint64_t kNotFoundMs = 10'000;  // nginx's lifetime of a negative answer

  explicit AnswerCache(size_t max_entries = 4096) : max_(max_entries) {}

  // The answer for `name` (lower case) if it is still fresh, else null.
  const Answer* find(std::string_view name, uint64_t now_ms) const;

  // How long `a` stays: valid_ms when set (nginx's valid=), else ttl_s for an answer with
  // addresses, kNotFoundMs for a name that does not exist; 0 for failures (not kept).
  static uint64_t lifetime_ms(const Answer& a, uint32_t ttl_s, uint64_t valid_ms);

  // Sets a.expires_ms from lifetime_ms() and keeps `a` unless its lifetime is 0. Returns the
  // stored answer, or `a` itself when it is not kept; valid until the next store().
  const Answer& store(std::string_view name, Answer a, uint64_t now_ms, uint32_t ttl_s,
                      uint64_t valid_ms);

  size_t size() const { return entries_.size(); }

 private:
  void make_room(uint64_t now_ms);

  size_t max_;
  std::map<std::string, Answer, std::less<>> entries_;
  Answer scratch_;  // a failure handed back by store()
};

}  // namespace portico::dns
