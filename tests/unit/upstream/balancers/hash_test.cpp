#include "upstream/balancers/hash.h"

#include <gtest/gtest.h>

#include "../upstream_test_util.h"

namespace portico::upstream {
namespace {

using testing::histogram;
using testing::make_group;
using testing::numbered_keys;
using testing::peer_cfg;
using testing::picks;

// Answers of nginx 1.22 (`hash $arg_k [consistent]` over 127.0.0.1:19001..19004) to
// ?k=key0 .. ?k=key99.
TEST(UpstreamHash, MatchesNginx) {
  auto keys = numbered_keys(100);
  auto plain = make_balancer(make_group(Method::kHash, 3));
  EXPECT_EQ(picks(*plain, keys),
            "cbabccbaabbbbcbababbbacbbcaacaccacbaccbbacbbbaaaababcccaaabbbcaaccbcbabaccabcabcbc"
            "bababaccacabacbbbb");
  auto weighted = make_balancer(make_group(Method::kHash, 3, {5, 1, 1}));
  EXPECT_EQ(picks(*weighted, keys),
            "aaaaaaaacbaaabaacacaaabaaaaaaaaabaaaaaacabaacbbaaaaaaaaaacaaaaaacabaaaaacaaaccbaaa"
            "baacaaaaabaaaacaaa");
  std::vector<PeerConfig> peers = {peer_cfg(0), peer_cfg(1), peer_cfg(2)};
  peers[1].down = true;  // rehashes: "1key..", "2key.." ...
  auto with_down = make_balancer(make_group(Method::kHash, peers));
  EXPECT_EQ(picks(*with_down, keys),
            "ccaaccaaaaaacccaaaacaaccccaacaccaccacccaacaccaaaaaaacccaaaacacaacccccaaaccaacacccc"
            "aacacaccacacacaaaa");
}

TEST(UpstreamHash, DeterministicAcrossWorkers) {
  auto g = make_group(Method::kHash, 5);
  auto keys = numbered_keys(500, "/img/");
  auto w1 = make_balancer(g);
  auto w2 = make_balancer(g);
  std::string first = picks(*w1, keys);
  EXPECT_EQ(picks(*w1, keys), first);
  EXPECT_EQ(picks(*w2, keys), first);
  std::vector<int> h = histogram(first, 5);
  for (int n : h) EXPECT_GT(n, 60);
}

TEST(UpstreamHash, EmptyKeyIsRoundRobin) {
  auto b = make_balancer(make_group(Method::kHash, 3, {5, 1, 1}));
  EXPECT_EQ(picks(*b, 7), "aabacaa");
}

TEST(UpstreamConsistentHash, MatchesNginx) {
  auto keys = numbered_keys(100);
  auto three = make_balancer(make_group(Method::kHashConsistent, 3));
  EXPECT_EQ(picks(*three, keys),
            "bcabcbababbbabccccbbcbbabbbbaaacbbcccbbcbcaabcaaaccabaccbacbabaaaacbcabcccaaccacac"
            "acbaabbbbcabacbbbb");
  auto four = make_balancer(make_group(Method::kHashConsistent, 4));
  EXPECT_EQ(picks(*four, keys),
            "dcdbcdddabbdadccccbddddabdbdaaacbbddddbcbcadbcaaacdabaccbacbdbaaaacbddbddcaacdacdc"
            "acbaabbbbcabadbdbb");
  auto weighted = make_balancer(make_group(Method::kHashConsistent, 3, {2, 1, 3}));
  EXPECT_EQ(picks(*weighted, keys),
            "bccbccaccbcbaacccccbcccaccbccaacbbacaabccccabcacacaabaccbacbacacaacbcabcccaaacacac"
            "acbaabbbbccbacbccb");
  std::vector<PeerConfig> peers = {peer_cfg(0), peer_cfg(1), peer_cfg(2)};
  peers[1].down = true;
  auto with_down = make_balancer(make_group(Method::kHashConsistent, peers));
  EXPECT_EQ(picks(*with_down, keys),
            "ccacccaaaaccaacccccacacacaccaaacaacccaacacaaacaaaccacacccaccaaaaaacccaccccaaccacac"
            "acaaaaacccaaaccccc");
}

TEST(UpstreamConsistentHash, AddingAServerMovesAboutItsShare) {
  auto keys = numbered_keys(10000, "/user/");
  auto three = make_balancer(make_group(Method::kHashConsistent, 3));
  auto four = make_balancer(make_group(Method::kHashConsistent, 4));
  std::string before = picks(*three, keys), after = picks(*four, keys);
  int moved = 0;
  for (size_t k = 0; k < keys.size(); k++) {
    if (before[k] == after[k]) continue;
    moved++;
    EXPECT_EQ(after[k], 'd');  // keys only move to the new server
  }
  EXPECT_GT(moved, 1500);
  EXPECT_LT(moved, 3500);
}

TEST(UpstreamConsistentHash, UnavailableServerMovesOnlyItsKeys) {
  auto g = make_group(Method::kHashConsistent, 4);
  auto b = make_balancer(g);
  auto keys = numbered_keys(5000);
  std::string before = picks(*b, keys);
  set_healthy(g->peer(2), false, 0);
  std::string after = picks(*b, keys);
  for (size_t k = 0; k < keys.size(); k++) {
    if (before[k] == 'c') {
      EXPECT_NE(after[k], 'c');
    } else {
      EXPECT_EQ(after[k], before[k]);
    }
  }
}

TEST(UpstreamConsistentHash, AddressesOfOneServerTakeTurns) {
  std::vector<PeerConfig> peers = {peer_cfg(0), peer_cfg(1), peer_cfg(2)};
  peers[1].server = peers[2].server = "app.internal:8080";
  auto g = make_group(Method::kHashConsistent, peers);
  auto b = make_balancer(g);
  // Find a key owned by the two-address server; it alternates between them.
  for (const std::string& k : numbered_keys(100)) {
    std::string two = picks(*b, {k, k});
    if (two[0] == 'a') continue;
    EXPECT_TRUE(two == "bc" || two == "cb") << two;
    return;
  }
  FAIL() << "no key mapped to the shared server";
}

TEST(UpstreamConsistentHash, Distribution) {
  auto b = make_balancer(make_group(Method::kHashConsistent, 3, {5, 1, 1}));
  std::vector<int> h = histogram(picks(*b, numbered_keys(10000)), 3);
  EXPECT_NEAR(h[0], 10000 * 5 / 7, 500);
  EXPECT_NEAR(h[1], 10000 / 7, 500);
  EXPECT_NEAR(h[2], 10000 / 7, 500);
}

// ---- live membership --------------------------------------------------------------------

// Adding or removing a peer at run time maps keys as nginx maps them for the resulting static
// group (checked against nginx above), for both hashes.
TEST(UpstreamHash, LiveChangesMatchTheStaticGroup) {
  auto keys = numbered_keys(100);
  for (Method m : {Method::kHash, Method::kHashConsistent}) {
    SCOPED_TRACE(std::string(method_name(m)));
    std::string three = picks(*make_balancer(make_group(m, 3)), keys);
    std::string four = picks(*make_balancer(make_group(m, 4)), keys);
    auto g = make_group(m, 3);
    auto b = make_balancer(g);
    EXPECT_EQ(picks(*b, keys), three);
    auto d = testing::add(*g, 3);
    EXPECT_EQ(testing::adopt(*b), "+3");
    EXPECT_EQ(picks(*b, keys), four);
    ASSERT_TRUE(g->remove_peer(*d).is_ok());
    EXPECT_EQ(testing::adopt(*b), "-3");
    EXPECT_EQ(picks(*b, keys), three);
  }
}

TEST(UpstreamConsistentHash, RemovedServerMovesOnlyItsKeys) {
  auto g = make_group(Method::kHashConsistent, 4);
  auto b = make_balancer(g);
  auto keys = numbered_keys(5000);
  std::string before = picks(*b, keys);
  ASSERT_TRUE(g->remove_peer(*g->peer(1).state).is_ok());
  EXPECT_EQ(testing::adopt(*b), "-1");
  std::string after = picks(*b, keys);
  for (size_t k = 0; k < keys.size(); k++) {
    if (before[k] == 'b') {
      EXPECT_NE(after[k], 'b');
    } else {
      EXPECT_EQ(after[k], before[k]);
    }
  }
}

}  // namespace
}  // namespace portico::upstream
