// TriedSet: the peers one request has already been sent to, by slot (member_list.h) (nginx: the
// `tried` bitmap of ngx_http_upstream_rr_peer_data_t). One per request, owned by the proxy code
// that retries; touched only by that request's worker thread.
//
// Storage: one inline word for up to 64 slots (no allocation, the common case); larger groups
// get a heap array sized at construction. Any capacity works; Group sizes are not capped.
//
// Membership changes during the request's retries: a group that grew past the capacity makes
// insert() grow the set (the only allocation, and only then); slots beyond it are simply not
// contained. A slot whose peer was removed and reused by a new peer while the request retries
// still reads as tried, so that request skips the newcomer once: harmless, and rare, because
// groups reuse the slot freed longest ago.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace portico::upstream {

class TriedSet {
 public:
  static constexpr size_t kInlineCapacity = 64;

  // A set that can hold indexes [0, capacity). Allocates only when capacity > 64.
  explicit TriedSet(size_t capacity = kInlineCapacity);
  TriedSet(const TriedSet& other);
  TriedSet& operator=(const TriedSet& other);
  TriedSet(TriedSet&&) noexcept = default;
  TriedSet& operator=(TriedSet&&) noexcept = default;

  // Grows the set first when i >= capacity() (allocates).
  void insert(size_t i) {
    if (i >= capacity()) [[unlikely]]
      grow(i + 1);
    words()[i / 64] |= uint64_t{1} << (i % 64);
  }
  // No-op for any i >= capacity().
  void erase(size_t i) {
    if (i < capacity()) words()[i / 64] &= ~(uint64_t{1} << (i % 64));
  }
  // False for any i >= capacity().
  bool contains(size_t i) const { return i < capacity() && (words()[i / 64] >> (i % 64) & 1) != 0; }
  void clear();
  size_t count() const;
  size_t capacity() const { return nwords_ * 64; }

 private:
  uint64_t* words() { return heap_ ? heap_.get() : &inline_; }
  const uint64_t* words() const { return heap_ ? heap_.get() : &inline_; }
  void grow(size_t capacity);

  size_t nwords_ = 1;
  uint64_t inline_ = 0;
  std::unique_ptr<uint64_t[]> heap_;  // set iff nwords_ > 1
};

}  // namespace portico::upstream
