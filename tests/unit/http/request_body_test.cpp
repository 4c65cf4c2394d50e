#include "http/request_body.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "http/http_config.h"

namespace portico::http {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class RequestBodyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/portico-body-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    loc_.client_body_buffer_size = 16;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
  LocationConf loc_;
};

TEST(TempFileNameTest, LevelsComeFromTheEndOfTheName) {
  std::string out;
  TempLevels none;
  temp_file_name("/t", none, 123, out);
  EXPECT_EQ(out, "/t/0000000123");
  TempLevels l;
  l.len = {1, 2, 0};
  l.count = 2;
  temp_file_name("/t/", l, 123, out);
  EXPECT_EQ(out, "/t/3/12/0000000123");
}

TEST_F(RequestBodyTest, SmallBodyStaysInMemory) {
  RequestBody b;
  ASSERT_EQ(b.append(loc_, dir_, "0123456789", 10), 0);
  ASSERT_EQ(b.append(loc_, dir_, "abcdef", 6), 0);
  EXPECT_FALSE(b.in_file());
  EXPECT_TRUE(b.memory_valid());
  EXPECT_EQ(b.memory(), "0123456789abcdef");
  EXPECT_EQ(b.size(), 16u);
}

TEST_F(RequestBodyTest, OverTheBufferMovesToAnUnlinkedFile) {
  RequestBody b;
  ASSERT_EQ(b.append(loc_, dir_, "0123456789", 10), 0);
  ASSERT_EQ(b.append(loc_, dir_, "abcdefghij", 10), 0);
  ASSERT_TRUE(b.in_file());
  EXPECT_FALSE(b.memory_valid());
  EXPECT_EQ(b.size(), 20u);
  struct stat st;
  EXPECT_NE(::stat(b.path().c_str(), &st), 0);  // off: unlinked at once
  char buf[32];
  ASSERT_EQ(pread(b.fd(), buf, sizeof buf, 0), 20);
  EXPECT_EQ(std::string(buf, 20), "0123456789abcdefghij");
}

TEST_F(RequestBodyTest, InFileOnlyOnKeepsTheFileAndCleanRemovesIt) {
  loc_.client_body_in_file_only = BodyInFile::kOn;
  loc_.client_body_temp_levels.len = {1, 0, 0};
  loc_.client_body_temp_levels.count = 1;
  std::string kept;
  {
    RequestBody b;
    ASSERT_EQ(b.append(loc_, dir_, "tiny", 4), 0);
    ASSERT_TRUE(b.in_file());
    kept = b.path();
  }
  EXPECT_EQ(read_file(kept), "tiny");
  loc_.client_body_in_file_only = BodyInFile::kClean;
  RequestBody c;
  ASSERT_EQ(c.finish(loc_, dir_), 0);  // an empty body still gets its file
  ASSERT_TRUE(c.in_file());
  const std::string name = c.path();
  struct stat st;
  EXPECT_EQ(::stat(name.c_str(), &st), 0);
  c.reset();
  EXPECT_NE(::stat(name.c_str(), &st), 0);
  EXPECT_TRUE(c.empty());
}

TEST_F(RequestBodyTest, StreamedBodyIsVisibleOnlyWhileItFits) {
  RequestBody b;
  b.note_streamed(loc_, "0123456789", 10);
  EXPECT_TRUE(b.memory_valid());
  EXPECT_EQ(b.memory(), "0123456789");
  b.note_streamed(loc_, "0123456789", 10);
  EXPECT_FALSE(b.memory_valid());
  EXPECT_EQ(b.size(), 20u);
}

TEST_F(RequestBodyTest, UnwritableDirectoryReportsTheCall) {
  RequestBody b;
  EXPECT_NE(b.append(loc_, "/proc/no-such-dir", "0123456789abcdefXYZ", 19), 0);
  EXPECT_STREQ(b.failed_call(), "open");
}

}  // namespace
}  // namespace portico::http
