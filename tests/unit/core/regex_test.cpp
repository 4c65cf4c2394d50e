#include "core/regex.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace portico {
namespace {

std::unique_ptr<Regex> must(std::string_view pattern, bool caseless = false) {
  std::string error;
  auto re = Regex::compile(pattern, caseless, &error);
  EXPECT_NE(re, nullptr) << error;
  return re;
}

std::string compile_error(std::string_view pattern) {
  std::string error;
  auto re = Regex::compile(pattern, false, &error);
  EXPECT_EQ(re, nullptr);
  return error;
}

TEST(Regex, CompileErrorsReadLikeNginx) {
  // Texts checked against `nginx -t` 1.22 with PCRE2 10.42.
  EXPECT_EQ(compile_error("(foo"),
            "pcre2_compile() failed: missing closing parenthesis in \"(foo\"");
  EXPECT_EQ(compile_error("a{2,1}"),
            "pcre2_compile() failed: numbers out of order in {} quantifier in \"a{2,1}\" at \"}\"");
  EXPECT_EQ(compile_error("a)b"),
            "pcre2_compile() failed: unmatched closing parenthesis in \"a)b\" at \")b\"");
  EXPECT_EQ(compile_error("\\"), "pcre2_compile() failed: \\ at end of pattern in \"\\\"");
  EXPECT_EQ(compile_error("(?<n>a)(?<n>b)"),
            "pcre2_compile() failed: two named subpatterns have the same name "
            "(PCRE2_DUPNAMES not set) in \"(?<n>a)(?<n>b)\" at \"b)\"");
  EXPECT_EQ(Regex::compile("(", false, nullptr), nullptr);  // error is optional
}

TEST(Regex, MatchAndCaptures) {
  auto re = must("^/user/(\\d+)/(\\w+)?");
  EXPECT_EQ(re->captures(), 2);
  Captures caps;
  std::string subject = "/user/42/edit";
  ASSERT_TRUE(re->match(subject, &caps));
  EXPECT_EQ(caps.count, 3);
  EXPECT_EQ(caps.group(0), "/user/42/edit");
  EXPECT_EQ(caps.group(1), "42");
  EXPECT_EQ(caps.group(2), "edit");
  EXPECT_EQ(caps.group(3), "");
  EXPECT_EQ(caps.group(-1), "");
  EXPECT_EQ(caps.ovector[2], 6);
  EXPECT_EQ(caps.ovector[3], 8);
  EXPECT_EQ(caps.subject.data(), subject.data());

  ASSERT_TRUE(re->match("/user/7/", &caps));
  EXPECT_EQ(caps.count, 2);  // group 2 did not take part and is last: not counted
  EXPECT_EQ(caps.group(1), "7");
  EXPECT_FALSE(caps.group_set(2));
  EXPECT_EQ(caps.group(2), "");
}

TEST(Regex, UnsetMiddleGroup) {
  auto re = must("(a)|(b)");
  Captures caps;
  ASSERT_TRUE(re->match("xb", &caps));
  EXPECT_EQ(caps.count, 3);
  EXPECT_FALSE(caps.group_set(1));
  EXPECT_EQ(caps.ovector[2], -1);
  EXPECT_EQ(caps.ovector[3], -1);
  EXPECT_TRUE(caps.group_set(2));
  EXPECT_EQ(caps.group(2), "b");
  EXPECT_EQ(caps.group(0), "b");
}

TEST(Regex, NoMatchLeavesCapturesUntouched) {
  auto re = must("^(a+)$");
  Captures caps;
  ASSERT_TRUE(re->match("aaa", &caps));
  EXPECT_FALSE(re->match("b", &caps));
  EXPECT_EQ(caps.count, 2);
  EXPECT_EQ(caps.group(1), "aaa");
  EXPECT_TRUE(re->match("aa", nullptr));
  EXPECT_FALSE(re->match("", nullptr));
}

TEST(Regex, Caseless) {
  auto cs = must("\\.(gif|jpg)$");
  auto ci = must("\\.(gif|jpg)$", true);
  EXPECT_FALSE(cs->caseless());
  EXPECT_TRUE(ci->caseless());
  EXPECT_FALSE(cs->match("/A.JPG", nullptr));
  EXPECT_TRUE(ci->match("/A.JPG", nullptr));
  EXPECT_TRUE(cs->match("/a.jpg", nullptr));
  EXPECT_EQ(cs->pattern(), "\\.(gif|jpg)$");
}

TEST(Regex, NamedGroups) {
  auto re = must("^(?<sub>[^.]+)\\.(?<domain>.+)$");
  EXPECT_EQ(re->captures(), 2);
  ASSERT_EQ(re->named_groups().size(), 2u);
  EXPECT_EQ(re->group_index("sub"), 1);
  EXPECT_EQ(re->group_index("domain"), 2);
  EXPECT_EQ(re->group_index("nope"), -1);
  Captures caps;
  ASSERT_TRUE(re->match("www.example.com", &caps));
  EXPECT_EQ(caps.group(re->group_index("sub")), "www");
  EXPECT_EQ(caps.group(re->group_index("domain")), "example.com");

  auto dup = must("(?J)(?<n>a)|(?<n>b)");
  ASSERT_EQ(dup->named_groups().size(), 2u);
  EXPECT_EQ(dup->named_groups()[0].name, "n");
  EXPECT_EQ(dup->named_groups()[0].index, 1);
  EXPECT_EQ(dup->named_groups()[1].index, 2);
}

TEST(Regex, MoreGroupsThanKept) {
  std::string pattern, subject;
  for (int i = 0; i < 40; ++i) {
    pattern += "(.)";
    subject += char('a' + i % 26);
  }
  auto re = must(pattern);
  EXPECT_EQ(re->captures(), 40);
  Captures caps;
  ASSERT_TRUE(re->match(subject, &caps));
  EXPECT_EQ(caps.count, kMaxCaptures);
  EXPECT_EQ(caps.group(kMaxCaptures - 1), std::string(1, char('a' + (kMaxCaptures - 2) % 26)));
  EXPECT_EQ(caps.group(kMaxCaptures), "");
}

TEST(Regex, BinarySubject) {
  auto re = must("a\\x00b");
  EXPECT_TRUE(re->match(std::string_view("xa\0b", 4), nullptr));
  EXPECT_FALSE(re->match(std::string_view("xa", 2), nullptr));
  EXPECT_TRUE(must("^$")->match(std::string_view(), nullptr));  // null data, zero length
}

TEST(Regex, ConcurrentMatching) {
  auto re = must("^/item/(\\d+)$");
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      Captures caps;
      for (int i = 0; i < 5000; ++i) {
        std::string uri = "/item/" + std::to_string(t * 100000 + i);
        if (!re->match(uri, &caps) || caps.group(1) != uri.substr(6)) ++failures;
        if (re->match("/other", &caps)) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace portico
