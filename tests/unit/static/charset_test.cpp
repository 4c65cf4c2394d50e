#include "static/charset.h"

#include <gtest/gtest.h>

namespace portico::static_files {
namespace {

using Entries = std::vector<std::pair<std::string, std::string>>;

TEST(Charsets, ByteMapRecodesBothWays) {
  Charsets cs;
  std::string err;
  ASSERT_TRUE(cs.add_map("B", "A", Entries{{"58", "59"}}, &err)) << err;
  const int a = cs.find("a"), b = cs.find("B");  // names are case-insensitive
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  Recoder r;
  r.start(cs.table(b, a));
  std::string out;
  r.recode("X01XY", out);
  EXPECT_EQ(out, "Y01YY");
  out.clear();
  r.start(cs.table(a, b));
  r.recode("Y", out);
  EXPECT_EQ(out, "X");
  EXPECT_EQ(cs.table(a, a), nullptr);
  EXPECT_EQ(cs.table(a, Charsets::kNone), nullptr);
}

TEST(Charsets, RejectsBadMaps) {
  Charsets cs;
  std::string err;
  EXPECT_FALSE(cs.add_map("a", "b", Entries{{"5G", "59"}}, &err));
  EXPECT_EQ(err, "invalid value \"5G\"");
  EXPECT_FALSE(cs.add_map("c", "d", Entries{{"100", "59"}}, &err));
  EXPECT_FALSE(cs.add_map("utf-8", "koi8-r", Entries{}, &err));
  EXPECT_FALSE(cs.add_map("e", "utf-8", Entries{{"C1", "FF"}}, &err));  // not UTF-8
  ASSERT_TRUE(cs.add_map("f", "g", Entries{}, &err));
  EXPECT_FALSE(cs.add_map("f", "g", Entries{}, &err));
  EXPECT_NE(err.find("duplicate"), std::string::npos);
}

// koi8-r 0xC1 is 'а' (U+0430, D0 B0), 0xC2 'б' (U+0431, D0 B1).
class Utf8Map : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string err;
    ASSERT_TRUE(cs.add_map("koi8-r", "utf-8", Entries{{"C1", "D0B0"}, {"C2", "D0B1"}}, &err))
        << err;
    koi = cs.find("koi8-r");
    utf = cs.find("UTF-8");
    ASSERT_TRUE(cs.utf8(utf));
  }
  Charsets cs;
  int koi = -1, utf = -1;
};

TEST_F(Utf8Map, ToUtf8) {
  Recoder r;
  r.start(cs.table(koi, utf));
  std::string out;
  r.recode("a\xC1\xC2\xFF", out);
  EXPECT_EQ(out, "a\xD0\xB0\xD0\xB1?");  // an unmapped high byte is '?'
}

TEST_F(Utf8Map, FromUtf8WithEntitiesAndSplitSequences) {
  Recoder r;
  r.start(cs.table(utf, koi));
  std::string out;
  // 'а' split between two pieces; U+20AC (E2 82 AC) has no byte: an entity.
  r.recode("x\xD0", out);
  EXPECT_EQ(out, "x");
  r.recode("\xB0\xE2\x82\xAC\xD0\xB1", out);
  EXPECT_EQ(out, "x\xC1&#8364;\xC2");
  out.clear();
  r.recode("\xFFz", out);  // invalid byte
  EXPECT_EQ(out, "?z");
  out.clear();
  r.recode("\xE2\x82", out);  // the body ends inside a sequence
  r.finish(out);
  EXPECT_EQ(out, "?");
  out.clear();
  r.recode(
      "\xE2"
      "A",
      out);  // a broken sequence: '?' and the next byte read again
  EXPECT_EQ(out, "?A");
}

TEST(ContentType, SplitsTypeAndCharset) {
  auto p = split_content_type("text/html; charset=\"UTF-8\"; q=1");
  EXPECT_EQ(p.type, "text/html");
  EXPECT_EQ(p.charset, "UTF-8");
  p = split_content_type("text/plain");
  EXPECT_EQ(p.type, "text/plain");
  EXPECT_TRUE(p.charset.empty());
  p = split_content_type("text/plain ;Charset=koi8-r");
  EXPECT_EQ(p.type, "text/plain");
  EXPECT_EQ(p.charset, "koi8-r");
}

}  // namespace
}  // namespace portico::static_files
