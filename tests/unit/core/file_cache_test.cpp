#include "core/file_cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace portico {
namespace {

class FileCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/portico-fc-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string write(const std::string& name, const std::string& content) {
    std::string p = dir_ + "/" + name;
    std::ofstream(p) << content;
    return p;
  }
  static int open_fds() {
    int n = 0;
    for (int fd = 0; fd < 1024; ++fd) n += fcntl(fd, F_GETFD) != -1;
    return n;
  }
  std::string dir_;
};

TEST_F(FileCacheTest, SharesOneOpenWithinAnIteration) {
  FileCache c;
  std::string p = write("a.txt", "hello");
  int err = 0;
  CachedFile* a = c.open(p, &err);
  CachedFile* b = c.open(p, &err);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a->refs, 2u);
  EXPECT_TRUE(a->has_body);
  EXPECT_EQ(a->body, "hello");
  c.release(a);
  c.release(b);
}

TEST_F(FileCacheTest, NextIterationSeesChangesAndClosesOldFiles) {
  FileCache c;
  std::string p = write("a.txt", "one");
  const int base = open_fds();
  int err = 0;
  CachedFile* a = c.open(p, &err);
  EXPECT_EQ(a->body, "one");
  c.release(a);
  c.end_iteration();
  EXPECT_EQ(open_fds(), base);  // unused entries are closed at the end of the iteration
  write("a.txt", "two!");
  CachedFile* b = c.open(p, &err);
  EXPECT_EQ(b->body, "two!");
  EXPECT_EQ(b->st.st_size, 4);
  c.release(b);
}

TEST_F(FileCacheTest, EntryInUseSurvivesReplacement) {
  FileCache c;
  std::string big(FileCache::kSmallFile + 1, 'x');
  std::string p = write("big.bin", big);
  int err = 0;
  CachedFile* a = c.open(p, &err);
  ASSERT_NE(a, nullptr);
  EXPECT_FALSE(a->has_body);  // large files are streamed from the fd
  c.end_iteration();          // still referenced: must stay open
  char ch = 0;
  EXPECT_EQ(pread(a->fd, &ch, 1, 0), 1);
  CachedFile* b = c.open(p, &err);  // a new iteration opens afresh
  EXPECT_NE(a, b);
  EXPECT_EQ(pread(a->fd, &ch, 1, 0), 1);
  const int before = open_fds();
  c.release(a);
  EXPECT_EQ(open_fds(), before - 1);
  c.release(b);
}

TEST_F(FileCacheTest, MissingFileAndOverflow) {
  FileCache c;
  int err = 0;
  EXPECT_EQ(c.open(dir_ + "/nope", &err), nullptr);
  EXPECT_EQ(err, ENOENT);
  std::vector<CachedFile*> held;
  for (size_t i = 0; i < FileCache::kMaxEntries + 5; ++i) {
    CachedFile* f = c.open(write("f" + std::to_string(i), "x"), &err);
    ASSERT_NE(f, nullptr);
    held.push_back(f);
  }
  EXPECT_EQ(c.size(), FileCache::kMaxEntries);  // bounded; the rest are private
  const int before = open_fds();
  for (auto* f : held) c.release(f);
  EXPECT_EQ(open_fds(), before - 5);  // overflow entries close at once
  c.end_iteration();
  EXPECT_EQ(c.size(), 0u);
}

}  // namespace
}  // namespace portico
