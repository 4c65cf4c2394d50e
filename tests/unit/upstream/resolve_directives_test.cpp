// `server NAME resolve` in an upstream block: parsed without a lookup, needs zone and a
// resolver (the upstream's own or the enclosing block's), the group starts with only the
// other servers.
#include <gtest/gtest.h>

#include "config/parser.h"
#include "upstream/directives.h"

namespace portico::upstream {
namespace {

struct Built {
  UpstreamMap map;
  std::vector<config::ConfigError> errors;
};

Built build(const std::string& http_body) {
  config::ParseResult pr;
  config::ParseOptions opts;
  opts.expand_includes = false;
  EXPECT_TRUE(config::parse_string("http {" + http_body + "}", "t.conf", opts, pr));
  Built b;
  build_upstreams(pr.directives.at(0).block, nullptr, b.map, b.errors);
  return b;
}

TEST(UpstreamResolve, ParsedWithoutLookupAndLive) {
  Built b = build(R"(
    resolver 127.0.0.1:5353 valid=7s;
    upstream u {
      zone u 64k;
      server 127.0.0.1:81;
      server backend.invalid:8080 resolve weight=3 max_fails=2;
    })");
  ASSERT_TRUE(b.errors.empty()) << b.errors[0].to_string();
  const UpstreamConf& uc = *b.map.at("u");
  ASSERT_EQ(uc.resolve.size(), 1u);
  EXPECT_EQ(uc.resolve[0].server, "backend.invalid:8080");
  EXPECT_EQ(uc.resolve[0].host, "backend.invalid");
  EXPECT_EQ(uc.resolve[0].port, 8080);
  EXPECT_EQ(uc.resolve[0].params.weight, 3u);
  EXPECT_EQ(uc.resolve[0].params.max_fails, 2u);
  ASSERT_TRUE(uc.resolver);
  EXPECT_EQ(uc.resolver->valid_ms, 7000u);
  EXPECT_EQ(uc.resolver_timeout_ms, dns::kDefaultTimeoutMs);
  // Only the static server until the name is resolved at run time.
  ASSERT_EQ(uc.static_peers.size(), 1u);
  EXPECT_EQ(uc.group->size(), 1u);
  EXPECT_EQ(uc.group->peer(0).cfg.name, "127.0.0.1:81");
}

TEST(UpstreamResolve, OnlyResolvedServersMayStartEmpty) {
  Built b = build(R"(
    upstream u {
      zone u 64k;
      resolver 127.0.0.1 ipv6=off;
      resolver_timeout 2s;
      server backend.invalid resolve;
    })");
  ASSERT_TRUE(b.errors.empty()) << b.errors[0].to_string();
  const UpstreamConf& uc = *b.map.at("u");
  EXPECT_EQ(uc.group->size(), 0u);
  EXPECT_EQ(uc.resolve.at(0).port, 80);
  EXPECT_FALSE(uc.resolver->ipv6);
  EXPECT_EQ(uc.resolver_timeout_ms, 2000u);
}

TEST(UpstreamResolve, Errors) {
  Built b = build("resolver 127.0.0.1; upstream u { server a.invalid resolve; }");
  ASSERT_EQ(b.errors.size(), 1u);
  EXPECT_EQ(b.errors[0].to_string(),
            "resolving names at run time requires upstream \"u\" in t.conf:1 to be in shared "
            "memory in t.conf:1");
  b = build("upstream u { zone u 1m; server a.invalid resolve; }");
  ASSERT_EQ(b.errors.size(), 1u);
  EXPECT_NE(b.errors[0].to_string().find(
                "no resolver defined to resolve names at run time in upstream \"u\""),
            std::string::npos);
  b = build("resolver 127.0.0.1; upstream u { zone u 1m; server a.invalid:0 resolve; }");
  ASSERT_EQ(b.errors.size(), 1u);
  EXPECT_NE(b.errors[0].to_string().find("invalid port in upstream \"a.invalid:0\""),
            std::string::npos);
  b = build("upstream u { zone u 1m; resolver 127.0.0.1 valid=; server a.invalid resolve; }");
  ASSERT_GE(b.errors.size(), 1u);
  EXPECT_NE(b.errors[0].to_string().find("invalid parameter: valid="), std::string::npos);
}

}  // namespace
}  // namespace portico::upstream
