#include "static/autoindex.h"

#include <gtest/gtest.h>

namespace portico::static_files {
namespace {

DirEntry file(std::string name, uint64_t size) {
  DirEntry e;
  e.name = std::move(name);
  e.size = size;
  e.mtime = 86400 * 365;  // 01-Jan-1971 00:00
  return e;
}
DirEntry dir(std::string name) {
  DirEntry e = file(std::move(name), 4096);
  e.dir = true;
  e.file = false;
  return e;
}

TEST(Autoindex, SortsDirectoriesFirstThenBytes) {
  std::vector<DirEntry> v{file("b", 1), dir("z"), file("B", 1), dir("a")};
  sort_entries(v);
  EXPECT_EQ(v[0].name, "a");
  EXPECT_EQ(v[1].name, "z");
  EXPECT_EQ(v[2].name, "B");
  EXPECT_EQ(v[3].name, "b");
}

TEST(Autoindex, HtmlRowsAsNginx) {
  std::vector<DirEntry> v{dir("d"), file("f<&>:?", 12345)};
  ListingOptions o;
  o.uri = "/x<y>/";
  o.exact_size = false;
  std::string out;
  format_listing(v, o, out);
  EXPECT_NE(out.find("<title>Index of /x&lt;y&gt;/</title>"), std::string::npos) << out;
  EXPECT_NE(out.find("<a href=\"../\">../</a>\r\n"), std::string::npos);
  EXPECT_NE(
      out.find("<a href=\"d/\">d/</a>" + std::string(48, ' ') + " 01-Jan-1971 00:00       -\r\n"),
      std::string::npos)
      << out;
  // 12345 bytes rounds to 12K; the href escapes ':' and '?', the text escapes html.
  EXPECT_NE(out.find("<a href=\"f%3C%26%3E%3A%3F\">f&lt;&amp;&gt;:?</a>" + std::string(44, ' ') +
                     " 01-Jan-1971 00:00     12K\r\n"),
            std::string::npos)
      << out;
  EXPECT_TRUE(out.ends_with("</pre><hr></body>\r\n</html>\r\n"));
}

TEST(Autoindex, LongNamesCutByCharacters) {
  std::string cyr;
  for (int i = 0; i < 55; ++i) cyr += "\xd1\x84";
  std::vector<DirEntry> v{file(std::string(60, '>'), 0), file(cyr, 0)};
  ListingOptions o;
  o.utf8 = true;
  std::string out;
  format_listing(v, o, out);
  std::string gt;
  for (int i = 0; i < 47; ++i) gt += "&gt;";
  EXPECT_NE(out.find(">" + gt + "..&gt;</a> "), std::string::npos) << out;
  EXPECT_NE(out.find(">" + cyr.substr(0, 94) + "..&gt;</a> "), std::string::npos) << out;
  // Without utf-8 the same name is cut by bytes.
  o.utf8 = false;
  out.clear();
  format_listing(v, o, out);
  EXPECT_NE(out.find(">" + cyr.substr(0, 47) + "..&gt;</a> "), std::string::npos);
}

TEST(Autoindex, ExactSizes) {
  std::vector<DirEntry> v{file("f", 1234567)};
  ListingOptions o;
  std::string out;
  format_listing(v, o, out);
  EXPECT_NE(out.find("00:00             1234567\r\n"), std::string::npos) << out;
}

TEST(Autoindex, JsonXmlJsonp) {
  std::vector<DirEntry> v{dir("d"), file("q\"\\", 7)};
  ListingOptions o;
  o.format = AutoindexFormat::kJson;
  std::string out;
  format_listing(v, o, out);
  EXPECT_EQ(out,
            "[\r\n{ \"name\":\"d\", \"type\":\"directory\", \"mtime\":\"Fri, 01 Jan 1971 00:00:00 "
            "GMT\" },\r\n{ \"name\":\"q\\\"\\\\\", \"type\":\"file\", \"mtime\":\"Fri, 01 Jan 1971 "
            "00:00:00 GMT\", \"size\":7 }\r\n]");
  o.format = AutoindexFormat::kJsonp;
  o.callback = "cb";
  out.clear();
  format_listing({}, o, out);
  EXPECT_EQ(out, "/* callback */\r\ncb([\r\n]);");
  o.format = AutoindexFormat::kXml;
  out.clear();
  format_listing(v, o, out);
  EXPECT_EQ(out,
            "<?xml version=\"1.0\"?>\r\n<list>\r\n<directory "
            "mtime=\"1971-01-01T00:00:00Z\">d</directory>\r\n<file mtime=\"1971-01-01T00:00:00Z\" "
            "size=\"7\">q&quot;\\</file>\r\n</list>\r\n");
  EXPECT_TRUE(valid_callback("jQuery_1.2$x"));
  EXPECT_FALSE(valid_callback("alert(1)"));
}

}  // namespace
}  // namespace portico::static_files
