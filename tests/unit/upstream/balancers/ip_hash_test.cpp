#include "upstream/balancers/ip_hash.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "../upstream_test_util.h"

namespace portico::upstream {
namespace {

using testing::histogram;
using testing::make_group;
using testing::peer_cfg;
using testing::picks;

SockAddr v4(const char* text) {
  SockAddr a{};
  a.v4.sin_family = AF_INET;
  inet_pton(AF_INET, text, &a.v4.sin_addr);
  return a;
}

SockAddr v6(const char* text) {
  SockAddr a{};
  a.v6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, text, &a.v6.sin6_addr);
  return a;
}

// Clients 127.i.j.1 for i < 10, j < 20, as used against nginx 1.22.
std::vector<std::string> golden_clients() {
  std::vector<std::string> keys;
  for (int i = 0; i < 10; i++) {
    for (int j = 0; j < 20; j++) {
      SockAddr a = v4(("127." + std::to_string(i) + "." + std::to_string(j) + ".1").c_str());
      keys.emplace_back(ip_hash_key(a));
    }
  }
  keys.resize(100);
  return keys;
}

TEST(UpstreamIpHash, Key) {
  SockAddr a = v4("10.1.2.3");
  EXPECT_EQ(ip_hash_key(a), std::string_view("\x0a\x01\x02", 3));
  EXPECT_EQ(ip_hash_key(v6("2001:db8::1")).size(), 16u);
  SockAddr unix_addr{};
  unix_addr.sa.sa_family = AF_UNIX;
  EXPECT_EQ(ip_hash_key(unix_addr), std::string_view("\0\0\0", 3));
}

// What nginx 1.22 answered on 127.0.0.1:19080 for these clients.
TEST(UpstreamIpHash, MatchesNginx) {
  auto b = make_balancer(make_group(Method::kIpHash, 3));
  EXPECT_EQ(picks(*b, golden_clients()),
            "cabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabc"
            "abcabcabcabcabcabc");
  auto weighted = make_balancer(make_group(Method::kIpHash, 3, {5, 1, 1}));
  EXPECT_EQ(picks(*weighted, golden_clients()),
            "aaaabcaaaaabcaaaaabcaaabcaaaaabcaaaaabcaaabcaaaaabcaaaaabcaaabcaaaaabcaaaaabcaaabc"
            "aaaaabcaaaaabcaaaa");
  std::vector<PeerConfig> peers = {peer_cfg(0), peer_cfg(1), peer_cfg(2)};
  peers[1].down = true;
  auto with_down = make_balancer(make_group(Method::kIpHash, peers));
  EXPECT_EQ(picks(*with_down, golden_clients()),
            "caacaacaacaacaccaccaccaccaccaccaacaccaacaacaccaccaacaacaacaccaacaccaccaccaccaccacc"
            "accaccaacaccaacaac");
}

TEST(UpstreamIpHash, SameSlash24SamePeerOnEveryWorker) {
  auto g = make_group(Method::kIpHash, 5);
  auto w1 = make_balancer(g);
  auto w2 = make_balancer(g);
  for (int net = 0; net < 50; net++) {
    std::string prefix = "10.20." + std::to_string(net) + ".";
    std::string expected = picks(*w1, {std::string(ip_hash_key(v4((prefix + "1").c_str())))});
    for (int host : {2, 77, 254}) {
      std::string key(ip_hash_key(v4((prefix + std::to_string(host)).c_str())));
      EXPECT_EQ(picks(*w1, {key}), expected);
      EXPECT_EQ(picks(*w2, {key}), expected);
    }
  }
}

TEST(UpstreamIpHash, UnavailablePeerRemapsOnlyItsClients) {
  auto g = make_group(Method::kIpHash, 4);
  auto b = make_balancer(g);
  std::vector<std::string> clients;
  for (int n = 0; n < 2000; n++) {
    clients.emplace_back(ip_hash_key(
        v4(("10." + std::to_string(n / 256) + "." + std::to_string(n % 256) + ".9").c_str())));
  }
  std::string before = picks(*b, clients);
  set_healthy(g->peer(1), false, 0);
  std::string after = picks(*b, clients);
  int moved = 0;
  for (size_t k = 0; k < clients.size(); k++) {
    if (before[k] == 'b') {
      EXPECT_NE(after[k], 'b');
      moved++;
    } else {
      EXPECT_EQ(after[k], before[k]);
    }
  }
  EXPECT_GT(moved, 300);
  set_healthy(g->peer(1), true, 0);
  EXPECT_EQ(picks(*b, clients), before);  // and they come back
}

TEST(UpstreamIpHash, Distribution) {
  auto b = make_balancer(make_group(Method::kIpHash, 3, {5, 1, 1}));
  std::vector<std::string> clients;
  for (int n = 0; n < 10000; n++) {
    std::string key = {char(n >> 16), char(n >> 8), char(n)};
    clients.push_back(key);
  }
  std::vector<int> h = histogram(picks(*b, clients), 3);
  EXPECT_NEAR(h[0], 10000 * 5 / 7, 300);
  EXPECT_NEAR(h[1], 10000 / 7, 300);
  EXPECT_NEAR(h[2], 10000 / 7, 300);
}

TEST(UpstreamIpHash, Ipv6UsesTheWholeAddress) {
  auto b = make_balancer(make_group(Method::kIpHash, 7));
  std::string seen;
  for (int n = 1; n < 50; n++) {
    seen += picks(*b, {std::string(ip_hash_key(v6(("2001:db8::" + std::to_string(n)).c_str())))});
  }
  EXPECT_GT(histogram(seen, 7)[0], 0);
  EXPECT_NE(seen.find_first_not_of(seen[0]), std::string::npos);  // the last bytes matter
}

TEST(UpstreamIpHash, FallsBackWhenTheHashKeepsMissing) {
  auto g = make_group(Method::kIpHash, 3);
  auto b = make_balancer(g);
  set_healthy(g->peer(0), false, 0);
  set_healthy(g->peer(2), false, 0);
  std::string key(ip_hash_key(v4("192.0.2.1")));
  EXPECT_EQ(picks(*b, std::vector<std::string>(10, key)), "bbbbbbbbbb");
  TriedSet tried(g->size());
  tried.insert(1);
  EXPECT_EQ(b->pick({0, key}, tried), -1);
}

// ---- live membership --------------------------------------------------------------------

// A peer added at run time lands where a `server` line at the end would: the clients map as
// nginx maps them for the static group (checked against nginx above).
TEST(UpstreamIpHash, LiveChangesMatchTheStaticGroup) {
  std::string three = picks(*make_balancer(make_group(Method::kIpHash, 3)), golden_clients());
  auto g = make_group(Method::kIpHash, 2);
  auto b = make_balancer(g);
  testing::add(*g, 2);
  EXPECT_EQ(testing::adopt(*b), "+2");
  EXPECT_EQ(picks(*b, golden_clients()), three);

  auto g4 = make_group(Method::kIpHash, 4);
  auto b4 = make_balancer(g4);
  ASSERT_TRUE(g4->remove_peer(*g4->peer(3).state).is_ok());
  EXPECT_EQ(testing::adopt(*b4), "-3");
  EXPECT_EQ(picks(*b4, golden_clients()), three);
}

// Draining keeps the peer's place: only its own clients move, as with `down`.
TEST(UpstreamIpHash, DrainingMovesOnlyItsClients) {
  auto g = make_group(Method::kIpHash, 3);
  auto b = make_balancer(g);
  std::string before = picks(*b, golden_clients());
  ASSERT_TRUE(g->drain_peer(*g->peer(1).state).is_ok());
  testing::adopt(*b);
  std::string after = picks(*b, golden_clients());
  for (size_t k = 0; k < before.size(); k++) {
    if (before[k] == 'b') {
      EXPECT_NE(after[k], 'b');
    } else {
      EXPECT_EQ(after[k], before[k]);
    }
  }
}

}  // namespace
}  // namespace portico::upstream
