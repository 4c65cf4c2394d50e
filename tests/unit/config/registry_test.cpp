#include "config/registry.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config/parser.h"

namespace portico::config {
namespace {

// A slice of nginx's directive table, enough to exercise every rule.
Registry make_registry() {
  Registry r;
  r.add({
      {.name = "worker_processes", .contexts = kMain, .min_args = 1, .max_args = 1, .unique = true},
      {.name = "error_log",
       .contexts = kMain | kHttp | kServer | kLocation,
       .min_args = 1,
       .max_args = kAnyArgs},
      {.name = "events",
       .contexts = kMain,
       .block = BlockKind::kBlock,
       .block_context = kEvents,
       .unique = true},
      {.name = "worker_connections",
       .contexts = kEvents,
       .min_args = 1,
       .max_args = 1,
       .unique = true},
      {.name = "http",
       .contexts = kMain,
       .block = BlockKind::kBlock,
       .block_context = kHttp,
       .unique = true},
      {.name = "server", .contexts = kHttp, .block = BlockKind::kBlock, .block_context = kServer},
      {.name = "listen", .contexts = kServer, .min_args = 1, .max_args = kAnyArgs},
      {.name = "location",
       .contexts = kServer | kLocation,
       .min_args = 1,
       .max_args = 2,
       .block = BlockKind::kBlock,
       .block_context = kLocation},
      {.name = "root",
       .contexts = kHttp | kServer | kLocation | kLocationIf,
       .min_args = 1,
       .max_args = 1,
       .unique = true},
      {.name = "return",
       .contexts = kServer | kServerIf | kLocation | kLocationIf,
       .min_args = 1,
       .max_args = 2},
      {.name = "if",
       .contexts = kServer | kLocation,
       .min_args = 1,
       .max_args = kAnyArgs,
       .block = BlockKind::kBlock,
       .block_context = kIfBlockContext},
      {.name = "types",
       .contexts = kHttp | kServer | kLocation,
       .block = BlockKind::kFreeform,
       .block_context = kTypes},
      {.name = "map",
       .contexts = kHttp,
       .min_args = 2,
       .max_args = 2,
       .block = BlockKind::kFreeform,
       .block_context = kMap},
      {.name = "upstream",
       .contexts = kHttp,
       .min_args = 1,
       .max_args = 1,
       .block = BlockKind::kBlock,
       .block_context = kUpstream},
  });
  // Same name, other context, other shape: `server ADDR [params];` in upstream.
  static constexpr DirectiveSpec kUpstreamSpecs[] = {
      {.name = "server", .contexts = kUpstream, .min_args = 1, .max_args = kAnyArgs},
      {.name = "keepalive", .contexts = kUpstream, .min_args = 1, .max_args = 1, .unique = true},
  };
  r.add(kUpstreamSpecs);
  return r;
}

std::vector<std::string> check(std::string_view text) {
  ParseResult parsed;
  parse_string(text, "/p.conf", {}, parsed);
  EXPECT_TRUE(parsed.ok()) << parsed.errors[0].to_string();
  std::vector<std::string> out;
  for (const ConfigError& e : make_registry().validate(parsed.directives)) {
    out.push_back(e.to_string());
  }
  return out;
}

using V = std::vector<std::string>;

TEST(ConfigRegistry, ValidConfig) {
  EXPECT_EQ(check("worker_processes 2;\n"
                  "events { worker_connections 10; }\n"
                  "http {\n"
                  "  root /www;\n"
                  "  types { text/html html htm; }\n"
                  "  map $a $b { default 0; ~x 1; }\n"
                  "  upstream app { server 127.0.0.1:8080 weight=2; keepalive 8; }\n"
                  "  server {\n"
                  "    listen 80;\n"
                  "    if ($host = x) { return 301 http://y; }\n"
                  "    location / {\n"
                  "      location /a { root /a; }\n"
                  "      if ($a = \"\") { root /b; return 404; }\n"
                  "    }\n"
                  "  }\n"
                  "}\n"),
            V{});
}

TEST(ConfigRegistry, Find) {
  Registry r = make_registry();
  EXPECT_EQ(r.size(), 16u);
  const DirectiveSpec* http_server = r.find("server", kHttp);
  const DirectiveSpec* upstream_server = r.find("server", kUpstream);
  ASSERT_NE(http_server, nullptr);
  ASSERT_NE(upstream_server, nullptr);
  EXPECT_EQ(http_server->block, BlockKind::kBlock);
  EXPECT_EQ(upstream_server->block, BlockKind::kNone);
  EXPECT_EQ(upstream_server->name, "server");
  EXPECT_EQ(r.find("server", kMain), nullptr);
  EXPECT_EQ(r.find("nope", kMain), nullptr);
  EXPECT_TRUE(r.known("listen"));
  EXPECT_FALSE(r.known("nope"));
}

TEST(ConfigRegistry, NameIsCopied) {
  Registry r;
  {
    std::string name = "dynamic";
    r.add({.name = name, .contexts = kMain});
  }
  const DirectiveSpec* spec = r.find("dynamic", kMain);
  ASSERT_NE(spec, nullptr);
  EXPECT_EQ(spec->name, "dynamic");
}

TEST(ConfigRegistry, ChildContext) {
  DirectiveSpec if_spec{.name = "if",
                        .contexts = kServer | kLocation,
                        .block = BlockKind::kBlock,
                        .block_context = kIfBlockContext};
  EXPECT_EQ(child_context(if_spec, kServer), kServerIf);
  EXPECT_EQ(child_context(if_spec, kLocation), kLocationIf);
  EXPECT_EQ(child_context(if_spec, kLocationIf), kLocationIf);
  EXPECT_EQ(child_context(if_spec, kStreamServer), kStreamServer);
  DirectiveSpec loc{.name = "location",
                    .contexts = kServer,
                    .block = BlockKind::kBlock,
                    .block_context = kLocation};
  EXPECT_EQ(child_context(loc, kServer), kLocation);
}

TEST(ConfigRegistry, UnknownDirective) {
  EXPECT_EQ(check("events {}\nfoo;"), (V{"unknown directive \"foo\" in /p.conf:2"}));
  // Children of an unknown block are not checked.
  EXPECT_EQ(check("foo {\n bar;\n}"), (V{"unknown directive \"foo\" in /p.conf:1"}));
}

TEST(ConfigRegistry, NotAllowedHere) {
  EXPECT_EQ(check("listen 80;"), (V{"\"listen\" directive is not allowed here in /p.conf:1"}));
  EXPECT_EQ(check("http {\n server {\n  location / {\n   listen 80;\n }}}"),
            (V{"\"listen\" directive is not allowed here in /p.conf:4"}));
  EXPECT_EQ(check("server {\n listen 80;\n}"),
            (V{"\"server\" directive is not allowed here in /p.conf:1"}));
}

TEST(ConfigRegistry, IfContextDependsOnWhereItStands) {
  // root is allowed in `if` inside location, not in `if` inside server.
  EXPECT_EQ(check("http { server {\n if ($a) {\n  root /x;\n  return 404;\n }\n"
                  " location / { if ($a) { root /y; } }\n}}"),
            (V{"\"root\" directive is not allowed here in /p.conf:3"}));
  // `if` inside `if` is not allowed (nginx).
  EXPECT_EQ(check("http { server { location / {\n if ($a) {\n  if ($b) { }\n }\n}}}"),
            (V{"\"if\" directive is not allowed here in /p.conf:3"}));
}

TEST(ConfigRegistry, BlockOrSemicolon) {
  EXPECT_EQ(check("worker_processes 1 {\n}"),
            (V{"directive \"worker_processes\" is not terminated by \";\" in /p.conf:1"}));
  EXPECT_EQ(check("\nevents;"), (V{"directive \"events\" has no opening \"{\" in /p.conf:2"}));
  EXPECT_EQ(check("http { upstream u { server 1.2.3.4 {\n} } }"),
            (V{"directive \"server\" is not terminated by \";\" in /p.conf:1"}));
}

TEST(ConfigRegistry, ArgumentCount) {
  EXPECT_EQ(check("worker_processes;\nworker_processes 1 2;"),
            (V{"invalid number of arguments in \"worker_processes\" directive in /p.conf:1",
               "invalid number of arguments in \"worker_processes\" directive in /p.conf:2"}));
  EXPECT_EQ(check("http { root a b; }"),
            (V{"invalid number of arguments in \"root\" directive in /p.conf:1"}));
  EXPECT_EQ(check("http { server { location {\n} } }"),
            (V{"invalid number of arguments in \"location\" directive in /p.conf:1"}));
  EXPECT_EQ(check("error_log;"),
            (V{"invalid number of arguments in \"error_log\" directive in /p.conf:1"}));
  EXPECT_EQ(check("error_log a b c d e f g h i j;"), V{});
  EXPECT_EQ(check("events x {}"),
            (V{"invalid number of arguments in \"events\" directive in /p.conf:1"}));
}

TEST(ConfigRegistry, ChildrenOfABlockWithBadArgumentsAreStillChecked) {
  EXPECT_EQ(check("http { server { location a b c {\n  nope;\n} } }"),
            (V{"invalid number of arguments in \"location\" directive in /p.conf:1",
               "unknown directive \"nope\" in /p.conf:2"}));
}

TEST(ConfigRegistry, Duplicates) {
  EXPECT_EQ(check("worker_processes 1;\nworker_processes 2;\nworker_processes 3;"),
            (V{"\"worker_processes\" directive is duplicate in /p.conf:2",
               "\"worker_processes\" directive is duplicate in /p.conf:3"}));
  EXPECT_EQ(check("events {}\nevents {}"), (V{"\"events\" directive is duplicate in /p.conf:2"}));
  // Per block: the same directive in sibling or nested blocks is fine.
  EXPECT_EQ(check("http { root /a; server { root /b; location / { root /c; } "
                  "location /x { root /d; if ($a) { root /e; } } } }"),
            V{});
  // Not flagged unique: may repeat.
  EXPECT_EQ(check("http { server { listen 80; listen 81; } server { listen 80; } }"), V{});
  // A directive with a wrong argument count does not count as set.
  EXPECT_EQ(check("worker_processes;\nworker_processes 1;"),
            (V{"invalid number of arguments in \"worker_processes\" directive in /p.conf:1"}));
}

TEST(ConfigRegistry, FreeformBlocks) {
  // Children are data: no lookup, no argument counts.
  EXPECT_EQ(check("http { types { text/html html; listen 1 2 3; } map $a $b { hostnames; "
                  "default x; } }"),
            V{});
  EXPECT_EQ(check("http {\n types {\n  text/html html;\n  a {\n   b;\n  }\n }\n}"),
            (V{"unexpected \"{\" in /p.conf:4"}));
}

TEST(ConfigRegistry, SeveralErrorsCollectedInFileOrder) {
  EXPECT_EQ(
      check("worker_processes 1;\n"
            "foo;\n"
            "events {\n"
            "  worker_connections;\n"
            "  listen 80;\n"
            "}\n"
            "http {\n"
            "  server {\n"
            "    root /a;\n"
            "    root /b;\n"
            "    location / { bar; }\n"
            "  }\n"
            "}\n"
            "worker_processes 2;\n"),
      (V{"unknown directive \"foo\" in /p.conf:2",
         "invalid number of arguments in \"worker_connections\" directive in /p.conf:4",
         "\"listen\" directive is not allowed here in /p.conf:5",
         "\"root\" directive is duplicate in /p.conf:10", "unknown directive \"bar\" in /p.conf:11",
         "\"worker_processes\" directive is duplicate in /p.conf:14"}));
}

TEST(ConfigRegistry, ValidateFromAnotherContext) {
  ParseResult parsed;
  ASSERT_TRUE(parse_string("listen 80; root /x; worker_processes 1;", "t", {}, parsed));
  auto errors = make_registry().validate(parsed.directives, kServer);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].to_string(), "\"worker_processes\" directive is not allowed here in t:1");
}

TEST(ConfigRegistry, CommandLineDuplicateOfFile) {
  ParseResult parsed;
  ASSERT_TRUE(parse_command_line("worker_processes 2;", {}, parsed));
  ASSERT_TRUE(parse_string("events {}\nworker_processes 1;", "/etc/p.conf", {}, parsed));
  auto errors = make_registry().validate(parsed.directives);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].to_string(), "\"worker_processes\" directive is duplicate in /etc/p.conf:2");

  ParseResult g;
  ASSERT_TRUE(parse_command_line("foo; worker_processes 1; worker_processes 2;", {}, g));
  errors = make_registry().validate(g.directives);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].to_string(), "unknown directive \"foo\" in command line");
  EXPECT_EQ(errors[1].to_string(), "\"worker_processes\" directive is duplicate in command line");
}

using ConfigRegistryDeathTest = ::testing::Test;

TEST_F(ConfigRegistryDeathTest, BadRegistrationsAbort) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Registry r;
        r.add({.name = "root", .contexts = kHttp | kServer, .min_args = 1, .max_args = 1});
        r.add({.name = "root", .contexts = kServer, .min_args = 1, .max_args = 2});
      },
      "directive \"root\": registered twice for the same context");
  EXPECT_DEATH(
      {
        Registry r;
        r.add({.name = "x", .contexts = kMain, .min_args = 2, .max_args = 1});
      },
      "directive \"x\": need 0 <= min_args <= max_args");
  EXPECT_DEATH(
      {
        Registry r;
        r.add({.name = "x", .contexts = kMain, .block = BlockKind::kBlock});
      },
      "directive \"x\": a block directive needs a block_context");
  EXPECT_DEATH(
      {
        Registry r;
        r.add({.name = "", .contexts = kMain});
      },
      "empty name");
  EXPECT_DEATH(
      {
        Registry r;
        r.add({.name = "x", .contexts = 0});
      },
      "contexts must be");
}

}  // namespace
}  // namespace portico::config
