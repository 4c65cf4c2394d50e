#include "dns/answer_cache.h"

namespace portico::dns {

const Answer* AnswerCache::find(std::string_view name, uint64_t now_ms) const {
  auto it = entries_.find(name);
  if (it == entries_.end() || now_ms >= it->second.expires_ms) return nullptr;
  return &it->second;
}

uint64_t AnswerCache::lifetime_ms(const Answer& a, uint32_t ttl_s, uint64_t valid_ms) {
  switch (a.kind) {
    case Answer::Kind::kOk:
      if (a.addrs.empty()) return valid_ms ? valid_ms : kNotFoundMs;  // no such record type
      return valid_ms ? valid_ms : uint64_t(ttl_s) * 1000;
    case Answer::Kind::kNotFound:
      return valid_ms ? valid_ms : kNotFoundMs;
    case Answer::Kind::kFailed:
    case Answer::Kind::kTimedOut:
      return 0;
  }
  return 0;
}

const Answer& AnswerCache::store(std::string_view name, Answer a, uint64_t now_ms, uint32_t ttl_s,
                                 uint64_t valid_ms) {
  uint64_t life = lifetime_ms(a, ttl_s, valid_ms);
  a.expires_ms = now_ms + life;
  if (life == 0) {
    auto it = entries_.find(name);
    if (it != entries_.end()) entries_.erase(it);
    scratch_ = std::move(a);
    return scratch_;
  }
  auto it = entries_.find(name);
  if (it == entries_.end()) {
    make_room(now_ms);
    it = entries_.emplace(std::string(name), Answer{}).first;
  }
  it->second = std::move(a);
  return it->second;
}

void AnswerCache::make_room(uint64_t now_ms) {
  if (entries_.size() < max_) return;
  for (auto it = entries_.begin(); it != entries_.end();)
    it = now_ms >= it->second.expires_ms ? entries_.erase(it) : std::next(it);
  while (entries_.size() >= max_) {
    auto soonest = entries_.begin();
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (it->second.expires_ms < soonest->second.expires_ms) soonest = it;
    entries_.erase(soonest);
  }
}

}  // namespace portico::dns
