// `resolver` arguments: addresses with ports, valid=, ipv4=/ipv6=, status_zone=, nginx's errors.
#include "dns/resolver_conf.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace portico::dns {
namespace {

bool parse(std::vector<std::string> args, ResolverConf* rc, std::string* error) {
  return parse_resolver(args, rc, error);
}

TEST(ResolverConf, AddressesAndPorts) {
  ResolverConf rc;
  std::string e;
  ASSERT_TRUE(parse({"127.0.0.1", "127.0.0.2:5353", "[::1]:54", "::1"}, &rc, &e)) << e;
  EXPECT_EQ(rc.servers_csv(), "127.0.0.1:53,127.0.0.2:5353,[::1]:54,[::1]:53");
  EXPECT_EQ(rc.valid_ms, 0u);
  EXPECT_TRUE(rc.ipv4);
  EXPECT_TRUE(rc.ipv6);
}

TEST(ResolverConf, Parameters) {
  ResolverConf rc;
  std::string e;
  ASSERT_TRUE(parse({"127.0.0.1", "valid=30s", "ipv6=off", "status_zone=z"}, &rc, &e)) << e;
  EXPECT_EQ(rc.valid_ms, 30'000u);
  EXPECT_FALSE(rc.ipv6);
  ResolverConf other;
  ASSERT_TRUE(parse({"127.0.0.1", "valid=30s"}, &other, &e));
  EXPECT_NE(rc.key(), other.key());  // different resolvers, different caches
  ASSERT_TRUE(parse({"127.0.0.1", "ipv4=off"}, &rc, &e));
  EXPECT_FALSE(rc.ipv4);
  EXPECT_TRUE(rc.ipv6);
}

TEST(ResolverConf, Errors) {
  ResolverConf rc;
  std::string e;
  EXPECT_FALSE(parse({"127.0.0.1", "valid=x"}, &rc, &e));
  EXPECT_EQ(e, "invalid parameter: valid=x");
  EXPECT_FALSE(parse({"127.0.0.1", "ipv6=maybe"}, &rc, &e));
  EXPECT_EQ(e, "invalid parameter: ipv6=maybe");
  EXPECT_FALSE(parse({"127.0.0.1", "ipv4=off", "ipv6=off"}, &rc, &e));
  EXPECT_EQ(e, "\"ipv4\" and \"ipv6\" cannot both be \"off\"");
  EXPECT_FALSE(parse({"127.0.0.1:0"}, &rc, &e));
  EXPECT_EQ(e, "invalid port in resolver \"127.0.0.1:0\"");
  EXPECT_FALSE(parse({"127.0.0.1:x"}, &rc, &e));
  EXPECT_EQ(e, "invalid port in resolver \"127.0.0.1:x\"");
  EXPECT_FALSE(parse({"no-such-host.invalid"}, &rc, &e));
  EXPECT_EQ(e, "host not found in resolver \"no-such-host.invalid\"");
  EXPECT_FALSE(parse({"valid=10s"}, &rc, &e));
  EXPECT_EQ(e, "no name servers defined");
}

}  // namespace
}  // namespace portico::dns
