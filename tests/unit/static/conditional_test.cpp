#include "static/conditional.h"

#include <gtest/gtest.h>

namespace portico::static_files {
namespace {

// The file nginx 1.22 was checked against: 23 bytes, mtime Tue, 05 Mar 2024 06:07:08 GMT.
constexpr std::string_view kEtag = "\"65e6b68c-17\"";
constexpr time_t kMtime = 1709618828;
constexpr const char* kD = "Tue, 05 Mar 2024 06:07:08 GMT";        // == mtime
constexpr const char* kLater = "Tue, 05 Mar 2024 06:07:09 GMT";    // mtime + 1
constexpr const char* kEarlier = "Tue, 05 Mar 2024 06:07:07 GMT";  // mtime - 1

constexpr auto P = Precondition::kProceed;
constexpr auto NM = Precondition::kNotModified;
constexpr auto F = Precondition::kFailed;

struct Case {
  const char* name;
  bool get = true;
  const char* im = "";
  const char* inm = "";
  const char* ims = "";
  const char* iums = "";
  ImsMode mode = ImsMode::kExact;
  Precondition want = P;
};

void run(const Case& c, std::string_view etag = kEtag) {
  SCOPED_TRACE(c.name);
  ConditionalHeaders h{c.im, c.inm, c.ims, c.iums};
  EXPECT_EQ(evaluate_preconditions(c.get, etag, kMtime, h, c.mode), c.want);
}

TEST(StaticConditional, Table) {
  const Case cases[] = {
      {.name = "no conditionals"},
      // If-None-Match (weak comparison). All checked against nginx.
      {.name = "inm exact", .inm = "\"65e6b68c-17\"", .want = NM},
      {.name = "inm weak form", .inm = "W/\"65e6b68c-17\"", .want = NM},
      {.name = "inm list", .inm = "\"x\", \"65e6b68c-17\"", .want = NM},
      {.name = "inm list weak", .inm = "\"x\" ,W/\"65e6b68c-17\"", .want = NM},
      {.name = "inm list tabs", .inm = "\"x\",\t\"65e6b68c-17\"\t", .want = NM},
      {.name = "inm star", .inm = "*", .want = NM},
      {.name = "inm star ows", .inm = " * ", .want = NM},
      {.name = "inm other", .inm = "\"zz\""},
      {.name = "inm prefix only", .inm = "\"65e6b68c-1\""},
      {.name = "inm longer", .inm = "\"65e6b68c-17x\""},
      {.name = "inm unquoted", .inm = "65e6b68c-17"},
      {.name = "inm lowercase w", .inm = "w/\"65e6b68c-17\""},
      {.name = "inm junk after tag", .inm = "\"65e6b68c-17\"x"},
      {.name = "inm junk then match", .inm = "junk, \"65e6b68c-17\"", .want = NM},
      {.name = "inm empty elements", .inm = ",,\"65e6b68c-17\",", .want = NM},
      {.name = "inm comma inside tag", .inm = "\"a,\"65e6b68c-17\"\""},
      {.name = "inm star in list is not star", .inm = "\"x\", *"},
      // If-Modified-Since, exact (nginx's default).
      {.name = "ims equal", .ims = kD, .want = NM},
      {.name = "ims later exact", .ims = kLater},
      {.name = "ims earlier exact", .ims = kEarlier},
      {.name = "ims rfc850", .ims = "Tuesday, 05-Mar-24 06:07:08 GMT", .want = NM},
      {.name = "ims asctime", .ims = "Tue Mar  5 06:07:08 2024", .want = NM},
      {.name = "ims without GMT", .ims = "Tue, 05 Mar 2024 06:07:08", .want = NM},
      {.name = "ims invalid", .ims = "garbage"},
      // before / off.
      {.name = "ims later before", .ims = kLater, .mode = ImsMode::kBefore, .want = NM},
      {.name = "ims equal before", .ims = kD, .mode = ImsMode::kBefore, .want = NM},
      {.name = "ims earlier before", .ims = kEarlier, .mode = ImsMode::kBefore},
      {.name = "ims invalid before", .ims = "garbage", .mode = ImsMode::kBefore},
      {.name = "ims equal off", .ims = kD, .mode = ImsMode::kOff},
      {.name = "inm with ims off", .inm = "\"65e6b68c-17\"", .mode = ImsMode::kOff, .want = NM},
      // If-None-Match takes precedence over If-Modified-Since (RFC 9110 13.2.2 step 3).
      {.name = "inm match ims equal", .inm = "\"65e6b68c-17\"", .ims = kD, .want = NM},
      {.name = "inm miss ims equal", .inm = "\"zz\"", .ims = kD},
      // nginx: 200 for the next two (it wants both to agree).
      {.name = "inm match ims later", .inm = "\"65e6b68c-17\"", .ims = kLater, .want = NM},
      {.name = "inm match ims invalid", .inm = "\"65e6b68c-17\"", .ims = "garbage", .want = NM},
      // If-Match (strong comparison).
      {.name = "im exact", .im = "\"65e6b68c-17\""},
      {.name = "im list", .im = "\"a\", \"65e6b68c-17\", \"b\""},
      {.name = "im star", .im = "*"},
      {.name = "im weak form", .im = "W/\"65e6b68c-17\"", .want = F},
      {.name = "im other", .im = "\"x\"", .want = F},
      {.name = "im unquoted", .im = "65e6b68c-17", .want = F},
      // If-Unmodified-Since.
      {.name = "iums equal", .iums = kD},
      {.name = "iums later", .iums = kLater},
      {.name = "iums earlier", .iums = kEarlier, .want = F},
      {.name = "iums before 1970", .iums = "Mon, 01 Jan 1900 00:00:00 GMT", .want = F},
      {.name = "iums invalid ignored", .iums = "garbage"},  // nginx: 412
      // If-Match overrides If-Unmodified-Since (step 2 only without If-Match); nginx: 412.
      {.name = "im match iums earlier", .im = "\"65e6b68c-17\"", .iums = kEarlier},
      {.name = "im miss iums later", .im = "\"x\"", .iums = kLater, .want = F},
      // 412 wins over 304.
      {.name = "im miss inm match", .im = "\"x\"", .inm = "\"65e6b68c-17\"", .want = F},
      {.name = "iums earlier ims equal", .ims = kD, .iums = kEarlier, .want = F},
      {.name = "im match inm match", .im = "*", .inm = "*", .want = NM},
      {.name = "iums equal ims equal", .ims = kD, .iums = kD, .want = NM},
      // Other methods: a matching If-None-Match fails, If-Modified-Since is ignored.
      {.name = "post inm match", .get = false, .inm = "\"65e6b68c-17\"", .want = F},
      {.name = "post inm star", .get = false, .inm = "*", .want = F},
      {.name = "post inm miss", .get = false, .inm = "\"x\""},
      {.name = "post ims equal", .get = false, .ims = kD},
      {.name = "post im miss", .get = false, .im = "\"x\"", .want = F},
      {.name = "post iums earlier", .get = false, .iums = kEarlier, .want = F},
  };
  for (const auto& c : cases) run(c);
}

TEST(StaticConditional, NoEtag) {
  // `etag off`: only "*" matches.
  const Case cases[] = {
      {.name = "inm tag", .inm = "\"65e6b68c-17\""},
      {.name = "inm star", .inm = "*", .want = NM},
      {.name = "im tag", .im = "\"65e6b68c-17\"", .want = F},
      {.name = "im star", .im = "*"},
      {.name = "ims equal", .ims = kD, .want = NM},
  };
  for (const auto& c : cases) run(c, "");
}

TEST(StaticConditional, WeakResourceEtag) {
  // A weak ETag on the response (e.g. after a transform): If-None-Match still matches,
  // If-Match never does.
  const Case cases[] = {
      {.name = "inm strong form", .inm = "\"abc\"", .want = NM},
      {.name = "inm weak form", .inm = "W/\"abc\"", .want = NM},
      {.name = "im weak form", .im = "W/\"abc\"", .want = F},
      {.name = "im strong form", .im = "\"abc\"", .want = F},
  };
  for (const auto& c : cases) run(c, "W/\"abc\"");
}

TEST(StaticConditional, EtagListMatches) {
  struct Case {
    const char* list;
    const char* etag;
    bool weak;
    bool want;
  } cases[] = {
      {"*", "\"a\"", false, true},
      {"*", "", true, true},
      {"\"a\"", "\"a\"", false, true},
      {"\"a\"", "\"a\"", true, true},
      {"W/\"a\"", "\"a\"", true, true},
      {"W/\"a\"", "\"a\"", false, false},
      {"\"a\"", "W/\"a\"", true, true},
      {"\"a\"", "W/\"a\"", false, false},
      {"W/\"a\"", "W/\"a\"", false, false},
      {"\"a\", \"b\"", "\"b\"", false, true},
      {"\"a\",\"b\"", "\"b\"", false, true},
      {"\"a\" , \"b\" ", "\"b\"", false, true},
      {"\"a\" \"b\"", "\"b\"", false, false},  // missing comma
      {"\"a,b\"", "\"a,b\"", false, true},     // comma inside a tag
      {"\"a,b\"", "\"b\"", false, false},
      {"\"\"", "\"\"", false, true},  // empty opaque-tag
      {"\"a", "\"a", false, false},   // unterminated
      {"", "\"a\"", false, false},
      {"\"a\"", "", false, false},
      {"W/", "\"a\"", true, false},
      {"W/\"", "\"a\"", true, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.list) + " vs " + c.etag);
    EXPECT_EQ(etag_list_matches(c.list, c.etag, c.weak), c.want);
  }
}

TEST(StaticConditional, IfRange) {
  struct Case {
    const char* if_range;
    std::string_view etag;
    bool want;
  } cases[] = {
      // Checked against nginx 1.22: 206 for a match, 200 otherwise.
      {"\"65e6b68c-17\"", kEtag, true},
      {"W/\"65e6b68c-17\"", kEtag, false},
      {kD, kEtag, true},
      {kLater, kEtag, false},
      {kEarlier, kEtag, false},
      {"garbage", kEtag, false},
      {"\"other\"", kEtag, false},
      {"Tuesday, 05-Mar-24 06:07:08 GMT", kEtag, true},
      {"Tue Mar  5 06:07:08 2024", kEtag, true},
      {" \"65e6b68c-17\" ", kEtag, true},
      {"\"65e6b68c-17\"", "", false},  // etag off
      {kD, "", true},                  // the date still works without an etag
      {"W/\"x\"", "W/\"x\"", false},   // weak tags never match strongly
      {"\"", kEtag, false},
      {"", kEtag, false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.if_range);
    EXPECT_EQ(if_range_matches(c.if_range, c.etag, kMtime), c.want);
  }
}

}  // namespace
}  // namespace portico::static_files
