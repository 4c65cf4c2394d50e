#include "config/parser.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/dump.h"

namespace portico::config {
namespace {

std::vector<std::string> error_strings(const ParseResult& r) {
  std::vector<std::string> out;
  for (const ConfigError& e : r.errors) out.push_back(e.to_string());
  return out;
}

// Renders a tree compactly: name(args){children} with quoted args in <>, separated by ' '.
std::string render(const std::vector<Directive>& ds) {
  std::string s;
  for (const Directive& d : ds) {
    if (!s.empty()) s += ' ';
    s += d.name;
    for (size_t i = 0; i < d.args.size(); ++i) {
      s += i == 0 ? "(" : ",";
      s += d.quoted[i] ? "<" + d.args[i] + ">" : d.args[i];
    }
    if (!d.args.empty()) s += ")";
    if (d.has_block) s += "{" + render(d.block) + "}";
  }
  return s;
}

ParseResult parse(std::string_view text, const ParseOptions& opts = {}) {
  ParseResult r;
  parse_string(text, "/etc/portico/portico.conf", opts, r);
  return r;
}

using V = std::vector<std::string>;

// A scratch directory with helpers to write files into it; removed afterwards.
class ConfigParserFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "portico-cfg-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string path(const std::string& rel) const { return dir_ + "/" + rel; }
  std::string write(const std::string& rel, const std::string& content) {
    std::filesystem::create_directories(std::filesystem::path(path(rel)).parent_path());
    std::ofstream(path(rel), std::ios::binary) << content;
    return path(rel);
  }

  std::string dir_;
};

TEST(ConfigParser, NestedBlocks) {
  ParseResult r = parse(
      "worker_processes 2;\n"
      "events { worker_connections 10; }\n"
      "http {\n"
      "  server {\n"
      "    listen 80;\n"
      "    location / { location /a { return 200 \"ok\"; } }\n"
      "  }\n"
      "}\n");
  ASSERT_TRUE(r.ok()) << r.errors[0].to_string();
  EXPECT_EQ(render(r.directives),
            "worker_processes(2) events{worker_connections(10)} "
            "http{server{listen(80) location(/){location(/a){return(200,<ok>)}}}}");
  const Directive& http = r.directives[2];
  EXPECT_EQ(http.file, "/etc/portico/portico.conf");
  EXPECT_EQ(http.line, 3);
  EXPECT_EQ(http.block[0].line, 4);
  EXPECT_EQ(http.block[0].block[0].line, 5);
  EXPECT_EQ(http.block[0].block[1].block[0].block[0].line, 6);
  EXPECT_FALSE(r.directives[0].has_block);
  EXPECT_TRUE(r.directives[1].has_block);
  // An empty block is still a block.
  ParseResult empty = parse("events {}");
  ASSERT_EQ(empty.directives.size(), 1u);
  EXPECT_TRUE(empty.directives[0].has_block);
  EXPECT_TRUE(empty.directives[0].block.empty());
}

TEST(ConfigParser, LineIsThatOfTheTerminator) {
  ParseResult r = parse("\nfoo\n  2\n  ;\nhttp\n\n{\n}");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.directives[0].line, 4);
  EXPECT_EQ(r.directives[1].line, 7);
}

TEST(ConfigParser, QuotedFlagsAndName) {
  ParseResult r = parse("if ($a = \"\") { return 404; }\n\"set\" $x 'y';");
  ASSERT_TRUE(r.ok());
  const Directive& d = r.directives[0];
  EXPECT_EQ(d.args, (V{"($a", "=", "", ")"}));
  EXPECT_EQ(d.quoted, (std::vector<bool>{false, false, true, false}));
  EXPECT_FALSE(d.name_quoted);
  EXPECT_TRUE(r.directives[1].name_quoted);
  EXPECT_EQ(r.directives[1].name, "set");
  EXPECT_EQ(r.directives[1].quoted, (std::vector<bool>{false, true}));
}

TEST(ConfigParser, FreeformBlocksParseLikeAnyBlock) {
  ParseResult r = parse(
      "types { text/html html htm; image/png png; }\n"
      "map $a $b { default 0; ~x 1; \"~^y\" 2; }");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(render(r.directives),
            "types{text/html(html,htm) image/png(png)} map($a,$b){default(0) ~x(1) ~^y(2)}");
}

TEST(ConfigParser, SyntaxErrorsCarryFileAndLine) {
  EXPECT_EQ(error_strings(parse("events {}\n}")),
            (V{"unexpected \"}\" in /etc/portico/portico.conf:2"}));
  EXPECT_EQ(error_strings(parse("events {\n")),
            (V{"unexpected end of file, expecting \"}\" in /etc/portico/portico.conf:2"}));
  EXPECT_EQ(error_strings(parse("events {}\nworker_processes 1")),
            (V{"unexpected end of file, expecting \";\" or \"}\" in "
               "/etc/portico/portico.conf:2"}));
  EXPECT_EQ(error_strings(parse("events {} foo \"a\"b;")),
            (V{"unexpected \"b\" in /etc/portico/portico.conf:1"}));
  EXPECT_EQ(error_strings(parse("events {}\n\n;")),
            (V{"unexpected \";\" in /etc/portico/portico.conf:3"}));
  EXPECT_EQ(error_strings(parse("http {\n  {")),
            (V{"unexpected \"{\" in /etc/portico/portico.conf:2"}));
  EXPECT_EQ(error_strings(parse("a \"" + std::string(5000, 'x'))),
            (V{"too long parameter, probably missing terminating \"\"\" character in "
               "/etc/portico/portico.conf:1"}));
}

TEST(ConfigParser, SyntaxErrorStopsParsing) {
  ParseResult r = parse("a 1;\nb {\n c;\n}\n}\nd;");
  EXPECT_EQ(error_strings(r), (V{"unexpected \"}\" in /etc/portico/portico.conf:5"}));
  EXPECT_EQ(render(r.directives), "a(1) b{c}");
}

TEST(ConfigParser, NestingDepthIsBounded) {
  std::string ok, deep;
  for (int i = 0; i < 64; ++i) ok += "a {\n";
  ok += std::string(64, '}');
  EXPECT_TRUE(parse(ok).ok());
  for (int i = 0; i < 100000; ++i) deep += "a{";
  EXPECT_EQ(error_strings(parse(deep)), (V{"too deep nesting in /etc/portico/portico.conf:1"}));
  ParseOptions opts;
  opts.max_block_depth = 2;
  EXPECT_EQ(error_strings(parse("a {\nb {\nc {\n}}}", opts)),
            (V{"too deep nesting in /etc/portico/portico.conf:3"}));
}

TEST(ConfigParser, CommandLine) {
  ParseResult r;
  EXPECT_TRUE(parse_command_line("daemon off; worker_processes 2;", {}, r));
  EXPECT_EQ(render(r.directives), "daemon(off) worker_processes(2)");
  EXPECT_EQ(r.directives[1].file, "command line");
  EXPECT_EQ(r.directives[1].line, 0);
  EXPECT_TRUE(r.files.empty());  // nginx -T does not list -g

  ParseResult e1;
  EXPECT_FALSE(parse_command_line("worker_processes 1", {}, e1));
  EXPECT_EQ(error_strings(e1), (V{"unexpected end of parameter, expecting \";\" in command line"}));
  ParseResult e2;
  EXPECT_FALSE(parse_command_line("events {}", {}, e2));
  EXPECT_EQ(error_strings(e2),
            (V{"block directives are not supported in -g option in command line"}));
  ParseResult e3;
  EXPECT_FALSE(parse_command_line("a;\n}", {}, e3));
  EXPECT_EQ(error_strings(e3), (V{"unexpected \"}\" in command line"}));
}

TEST(ConfigParser, ErrorToString) {
  EXPECT_EQ((ConfigError{"m", "/a.conf", 3}).to_string(), "m in /a.conf:3");
  EXPECT_EQ((ConfigError{"m", "command line", 0}).to_string(), "m in command line");
  EXPECT_EQ((ConfigError{"m", "", 0}).to_string(), "m");
  // nginx cuts the message at 1024 bytes, before the location.
  EXPECT_EQ((ConfigError{std::string(2000, 'x'), "/a.conf", 1}).to_string(),
            std::string(1024, 'x') + " in /a.conf:1");
}

TEST(ConfigParser, IncludeLeftAloneWhenNotExpanded) {
  ParseOptions opts;
  opts.expand_includes = false;
  ParseResult r = parse("include /nonexistent/*.conf; include a b;", opts);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(render(r.directives), "include(/nonexistent/*.conf) include(a,b)");
}

TEST_F(ConfigParserFiles, ParseFileAndDerivedPrefix) {
  write("conf/portico.conf", "events {}\ninclude sites/*.conf;\n");
  write("conf/sites/b.conf", "server_b;\n");
  write("conf/sites/a.conf", "\n\nserver_a;\n");
  write("conf/sites/c.txt", "not_included;\n");
  ParseResult r;
  ASSERT_TRUE(parse_file(path("conf/portico.conf"), {}, r)) << r.errors[0].to_string();
  EXPECT_EQ(render(r.directives), "events{} server_a server_b");
  EXPECT_EQ(r.directives[1].file, path("conf/sites/a.conf"));
  EXPECT_EQ(r.directives[1].line, 3);
  EXPECT_EQ(r.directives[2].file, path("conf/sites/b.conf"));
  EXPECT_EQ(r.directives[2].line, 1);
  ASSERT_EQ(r.files.size(), 3u);
  EXPECT_EQ(r.files[0].path, path("conf/portico.conf"));
  EXPECT_EQ(r.files[1].path, path("conf/sites/a.conf"));
  EXPECT_EQ(r.files[2].path, path("conf/sites/b.conf"));
  EXPECT_EQ(r.files[1].content, "\n\nserver_a;\n");
}

TEST_F(ConfigParserFiles, IncludeRelativeToConfPrefixNotToIncluder) {
  write("main.conf", "http { include sub/one.conf; }");
  write("sub/one.conf", "include sub/two.conf;\none;");  // relative to the prefix, not sub/
  write("sub/two.conf", "two;");
  ParseResult r;
  ASSERT_TRUE(parse_file(path("main.conf"), {}, r)) << r.errors[0].to_string();
  EXPECT_EQ(render(r.directives), "http{two one}");
  EXPECT_EQ(r.directives[0].block[1].file, path("sub/one.conf"));
  EXPECT_EQ(r.directives[0].block[1].line, 2);
}

TEST_F(ConfigParserFiles, ExplicitConfPrefix) {
  write("conf/inc.conf", "x;");
  ParseOptions opts;
  opts.conf_prefix = path("conf");  // no trailing slash
  ParseResult r;
  ASSERT_TRUE(parse_string("include inc.conf;", "test", opts, r));
  EXPECT_EQ(render(r.directives), "x");
  ParseResult g;
  ASSERT_TRUE(parse_command_line("include inc.conf;", opts, g));
  EXPECT_EQ(render(g.directives), "x");
  EXPECT_EQ(g.directives[0].file, path("conf/inc.conf"));
  // An absolute include ignores the prefix.
  ParseResult a;
  ASSERT_TRUE(parse_string("include " + path("conf/inc.conf") + ";", "test", opts, a));
  EXPECT_EQ(render(a.directives), "x");
}

TEST_F(ConfigParserFiles, IncludeInsideBlocksAndFreeformBlocks) {
  write("main.conf", "http {\n types { include mime.types; }\n server { include srv/*.conf; }\n}");
  write("mime.types", "text/html html;\nimage/png png;\n");
  write("srv/a.conf", "listen 80;\nlocation / { root /a; }\n");
  ParseResult r;
  ASSERT_TRUE(parse_file(path("main.conf"), {}, r)) << r.errors[0].to_string();
  EXPECT_EQ(render(r.directives),
            "http{types{text/html(html) image/png(png)} server{listen(80) location(/){root(/a)}}}");
}

TEST_F(ConfigParserFiles, GlobMatchingNothingIsFine) {
  write("main.conf", "include nothing/*.conf;\ninclude none-*.conf;\nafter;");
  ParseResult r;
  ASSERT_TRUE(parse_file(path("main.conf"), {}, r));
  EXPECT_EQ(render(r.directives), "after");
}

TEST_F(ConfigParserFiles, MissingIncludeIsReportedAtTheInclude) {
  write("main.conf", "events {}\n\ninclude nothere.conf;\nhttp { include /no/such/file; }\nok;");
  ParseResult r;
  EXPECT_FALSE(parse_file(path("main.conf"), {}, r));
  // Both reported; parsing went on.
  EXPECT_EQ(error_strings(r),
            (V{"open() \"" + path("nothere.conf") + "\" failed (2: No such file or directory) in " +
                   path("main.conf") + ":3",
               "open() \"/no/such/file\" failed (2: No such file or directory) in " +
                   path("main.conf") + ":4"}));
  EXPECT_EQ(render(r.directives), "events{} http{} ok");
}

TEST_F(ConfigParserFiles, MissingMainFileHasNoLocation) {
  ParseResult r;
  EXPECT_FALSE(parse_file(path("nope.conf"), {}, r));
  EXPECT_EQ(error_strings(r),
            (V{"open() \"" + path("nope.conf") + "\" failed (2: No such file or directory)"}));
}

TEST_F(ConfigParserFiles, IncludeOfADirectory) {
  std::filesystem::create_directories(path("d/sub.conf"));
  write("main.conf", "include d/*.conf;\ninclude d;");
  ParseResult r;
  EXPECT_FALSE(parse_file(path("main.conf"), {}, r));
  // As nginx: the read error is logged without location.
  EXPECT_EQ(error_strings(r),
            (V{"pread() \"" + path("d/sub.conf") + "\" failed (21: Is a directory)",
               "pread() \"" + path("d") + "\" failed (21: Is a directory)"}));
}

TEST_F(ConfigParserFiles, IncludeArgumentErrors) {
  write("main.conf", "include;\ninclude a b;\nnext;\ninclude x {\n}");
  ParseResult r;
  EXPECT_FALSE(parse_file(path("main.conf"), {}, r));
  EXPECT_EQ(
      error_strings(r),
      (V{"invalid number of arguments in \"include\" directive in " + path("main.conf") + ":1",
         "invalid number of arguments in \"include\" directive in " + path("main.conf") + ":2",
         "directive \"include\" is not terminated by \";\" in " + path("main.conf") + ":4"}));
  EXPECT_EQ(render(r.directives), "next");
}

TEST_F(ConfigParserFiles, SyntaxErrorInIncludedFile) {
  write("main.conf", "http {\ninclude inc.conf;\n}\nlater;");
  write("inc.conf", "a;\n}\n");
  ParseResult r;
  EXPECT_FALSE(parse_file(path("main.conf"), {}, r));
  // An included file is parsed as a file: it may not close its includer's block.
  EXPECT_EQ(error_strings(r), (V{"unexpected \"}\" in " + path("inc.conf") + ":2"}));

  write("open.conf", "server {\n");
  write("main2.conf", "http { include open.conf; }");
  ParseResult r2;
  EXPECT_FALSE(parse_file(path("main2.conf"), {}, r2));
  EXPECT_EQ(error_strings(r2),
            (V{"unexpected end of file, expecting \"}\" in " + path("open.conf") + ":2"}));
}

TEST_F(ConfigParserFiles, IncludeRecursionIsBounded) {
  write("loop.conf", "x;\ninclude loop.conf;\n");
  ParseOptions opts;
  opts.max_include_depth = 5;
  ParseResult r;
  EXPECT_FALSE(parse_file(path("loop.conf"), opts, r));
  EXPECT_EQ(error_strings(r),
            (V{"include nesting is too deep (more than 5 levels) in " + path("loop.conf") + ":2"}));
  EXPECT_EQ(render(r.directives), "x x x x x x");  // main + 5 levels
  ASSERT_EQ(r.files.size(), 1u);                   // listed once

  // A self-including glob in a directory of several files stops at the first overflow.
  write("g/a.conf", "include g/*.conf;");
  write("g/b.conf", "include g/*.conf;");
  write("g/c.conf", "include g/*.conf;");
  ParseResult g;
  EXPECT_FALSE(parse_file(path("g/a.conf"), {.conf_prefix = dir_}, g));
  EXPECT_EQ(error_strings(g),
            (V{"include nesting is too deep (more than 32 levels) in " + path("g/a.conf") + ":1"}));
}

TEST_F(ConfigParserFiles, NestingDepthCountsAcrossIncludes) {
  write("inner.conf", "b {\nc {\n}\n}");
  write("main.conf", "a {\ninclude inner.conf;\n}");
  ParseOptions opts;
  opts.max_block_depth = 2;
  ParseResult r;
  EXPECT_FALSE(parse_file(path("main.conf"), opts, r));
  EXPECT_EQ(error_strings(r), (V{"too deep nesting in " + path("inner.conf") + ":2"}));
}

TEST_F(ConfigParserFiles, CommandLineThenFile) {
  write("main.conf", "worker_processes 1;\n");
  ParseResult r;
  ASSERT_TRUE(parse_command_line("worker_processes 2;", {.conf_prefix = dir_}, r));
  ASSERT_TRUE(parse_file(path("main.conf"), {}, r));
  EXPECT_EQ(render(r.directives), "worker_processes(2) worker_processes(1)");
  EXPECT_EQ(r.directives[1].file, path("main.conf"));
  ASSERT_EQ(r.files.size(), 1u);
}

TEST_F(ConfigParserFiles, SpecialFilesReadAsEmpty) {
  // nginx reads st_size bytes: a character device is empty, and must not hang us.
  write("main.conf", "include /dev/null;\ninclude /dev/zero;\nok;");
  ParseResult r;
  ASSERT_TRUE(parse_file(path("main.conf"), {}, r));
  EXPECT_EQ(render(r.directives), "ok");
}

TEST_F(ConfigParserFiles, DumpListsEachFileOnceInOrder) {
  write("main.conf", "events {}\ninclude d/*.conf;\n# c\nhttp { types { include t.types; } }");
  write("d/a.conf", "pid /run/p.pid;\n");
  write("d/b.conf", "include d/a.conf;\n");
  write("t.types", "text/html html;");
  ParseResult r;
  ASSERT_TRUE(parse_file(path("main.conf"), {}, r)) << r.errors[0].to_string();
  EXPECT_EQ(dump(r.files), "# configuration file " + path("main.conf") +
                               ":\n"
                               "events {}\ninclude d/*.conf;\n# c\nhttp { types { include "
                               "t.types; } }\n"
                               "# configuration file " +
                               path("d/a.conf") +
                               ":\n"
                               "pid /run/p.pid;\n\n"
                               "# configuration file " +
                               path("d/b.conf") +
                               ":\n"
                               "include d/a.conf;\n\n"
                               "# configuration file " +
                               path("t.types") +
                               ":\n"
                               "text/html html;\n");
  EXPECT_EQ(dump({}), "");
}

}  // namespace
}  // namespace portico::config
