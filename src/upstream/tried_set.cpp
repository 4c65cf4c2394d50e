#include "upstream/tried_set.h"

#include <algorithm>
#include <bit>

namespace portico::upstream {

TriedSet::TriedSet(size_t capacity) : nwords_(std::max<size_t>(1, (capacity + 63) / 64)) {
  if (nwords_ > 1) heap_ = std::make_unique<uint64_t[]>(nwords_);  // value-initialized: zeros
}

TriedSet::TriedSet(const TriedSet& other) : nwords_(other.nwords_), inline_(other.inline_) {
  if (other.heap_) {
    heap_ = std::make_unique<uint64_t[]>(nwords_);
    std::copy_n(other.heap_.get(), nwords_, heap_.get());
  }
}

TriedSet& TriedSet::operator=(const TriedSet& other) {
  if (this != &other) *this = TriedSet(other);
  return *this;
}

void TriedSet::grow(size_t capacity) {
  size_t n = (capacity + 63) / 64;
  auto heap = std::make_unique<uint64_t[]>(n);
  std::copy_n(words(), nwords_, heap.get());
  heap_ = std::move(heap);
  nwords_ = n;
}

void TriedSet::clear() {
  std::fill_n(words(), nwords_, 0);
}

size_t TriedSet::count() const {
  size_t n = 0;
  for (size_t i = 0; i < nwords_; i++) n += std::popcount(words()[i]);
  return n;
}

}  // namespace portico::upstream
