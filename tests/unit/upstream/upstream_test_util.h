// Helpers shared by the upstream unit tests: groups from a few lines, and pick sequences as
// strings ("aabacaa": peer 0 is 'a').
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "upstream/balancer.h"

namespace portico::upstream::testing {

// "127.0.0.1:19001" for index 0, ... (the addresses the nginx golden runs used).
inline std::string addr_name(int i) {
  return "127.0.0.1:" + std::to_string(19001 + i);
}

inline PeerConfig peer_cfg(int i, uint32_t weight = 1) {
  PeerConfig p;
  p.name = addr_name(i);
  p.weight = weight;
  return p;
}

inline std::shared_ptr<const Group> make_group(Method m, std::vector<PeerConfig> peers,
                                               const Group* previous = nullptr) {
  GroupConfig c;
  c.name = "u";
  c.method = m;
  c.hash_key = "$arg_k";
  c.peers = std::move(peers);
  std::shared_ptr<const Group> g;
  Status s = Group::create(std::move(c), previous, &g);
  EXPECT_TRUE(s.is_ok()) << s.message();
  return g;
}

// n peers with the given weights (all 1 when empty).
inline std::shared_ptr<const Group> make_group(Method m, int n,
                                               std::vector<uint32_t> weights = {}) {
  std::vector<PeerConfig> peers;
  for (int i = 0; i < n; i++) peers.push_back(peer_cfg(i, weights.empty() ? 1 : weights[i]));
  return make_group(m, std::move(peers));
}

// Picks and immediately releases (success) once per key; '-' for -1.
inline std::string picks(Balancer& b, const std::vector<std::string>& keys, uint64_t now = 0) {
  std::string out;
  for (const std::string& k : keys) {
    TriedSet tried(b.group().size());
    int i = b.pick({now, k}, tried);
    out += i < 0 ? '-' : char('a' + i);
    if (i >= 0) b.release(i, Outcome::kSuccess, now);
  }
  return out;
}

inline std::string picks(Balancer& b, int n, uint64_t now = 0) {
  return picks(b, std::vector<std::string>(size_t(n)), now);
}

inline std::vector<std::string> numbered_keys(int n, const std::string& prefix = "key") {
  std::vector<std::string> keys;
  for (int i = 0; i < n; i++) keys.push_back(prefix + std::to_string(i));
  return keys;
}

inline std::vector<int> histogram(const std::string& s, int n) {
  std::vector<int> h(size_t(n), 0);
  for (char c : s) {
    if (c != '-') h[size_t(c - 'a')]++;
  }
  return h;
}

// The events of one adoption as text, e.g. "+3 -1 d2": + added, - removed, d draining,
// r resumed, v down, ^ up, w weight; then the slot.
inline std::string events(const std::vector<PeerChange>& changes) {
  std::string out;
  for (const PeerChange& c : changes) {
    static constexpr char kMark[] = {'+', '-', 'd', 'r', 'v', '^', 'w'};
    if (!out.empty()) out += ' ';
    out += kMark[size_t(c.event)];
    out += std::to_string(c.slot);
  }
  return out;
}

// What a worker does when the group tells it about a new list: adopts the current one.
inline std::string adopt(Balancer& b) {
  return events(b.adopt(b.group().current()));
}

// Adds peer_cfg(i, weight) to a live group and returns its handle.
inline std::shared_ptr<PeerState> add(const Group& g, int i, uint32_t weight = 1) {
  std::shared_ptr<PeerState> state;
  Status s = g.add_peer(peer_cfg(i, weight), &state);
  EXPECT_TRUE(s.is_ok()) << s.message();
  return state;
}

}  // namespace portico::upstream::testing
