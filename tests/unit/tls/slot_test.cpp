// ContextSlot: a certificate renewed on disk is published once its files have stayed the same
// for one more look; a pair that does not load is not published, and is tried again when the
// files change again. refresh() is called directly (CertWatch calls it once a second).
#include "tls/slot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "test_pki.h"

namespace portico::tls {
namespace {

struct Dir {
  std::string path;
  Dir() {
    char tmpl[] = "/tmp/portico-slot-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~Dir() { std::filesystem::remove_all(path); }
  std::string operator/(const char* name) const { return path + "/" + name; }
};

// Moves the file's mtime, as a write a nanosecond later would (the test must not depend on the
// file system's timestamp granularity).
void touch_later(const std::string& path, long seconds) {
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  struct timespec t[2] = {st.st_atim, st.st_mtim};
  t[1].tv_sec += seconds;
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), t, 0), 0);
}

class SlotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test_pki::write_self_signed(d / "a.crt", d / "a.key", 1, 30);
    Settings s;
    s.certs.push_back({d / "a.crt", d / "a.key", {"portico.conf", 12}});
    s.alpn = {"http/1.1"};
    std::vector<BuildError> errs;
    auto c = Context::build(s, &owner, &errs);
    ASSERT_TRUE(c);
    slot = std::make_unique<ContextSlot>(std::move(c));
  }
  long serial() const {
    X509* x = SSL_CTX_get0_certificate(slot->current().native());
    return ASN1_INTEGER_get(X509_get0_serialNumber(x));
  }

  Dir d;
  int owner = 0;
  std::unique_ptr<ContextSlot> slot;
};

TEST_F(SlotTest, UnchangedFilesKeepTheContext) {
  const Context* first = &slot->current();
  slot->refresh();
  slot->refresh();
  EXPECT_EQ(&slot->current(), first);
  EXPECT_EQ(slot->reloads(), 0u);
}

TEST_F(SlotTest, ARenewedPairIsPublishedOnceItHasSettled) {
  auto before = slot->get();
  test_pki::write_self_signed(d / "a.crt", d / "a.key", 2, 90);
  touch_later(d / "a.crt", 5);
  slot->refresh();  // changed since the last look: wait for it to settle
  EXPECT_EQ(serial(), 1);
  slot->refresh();  // the same as a second ago: load it
  EXPECT_EQ(serial(), 2);
  EXPECT_EQ(slot->reloads(), 1u);
  EXPECT_EQ(slot->current().owner(), &owner);
  EXPECT_EQ(slot->current().settings().alpn, before->settings().alpn);
  ASSERT_EQ(slot->current().certificates().size(), 1u);
  EXPECT_EQ(slot->current().certificates()[0].subject, "a.test");
  EXPECT_EQ(slot->current().certificates()[0].key, "EC prime256v1");
  EXPECT_NEAR(double(slot->current().certificates()[0].not_after - ::time(nullptr)), 90.0 * 86400,
              120);
  // A handshake that started with the old context keeps it alive.
  EXPECT_EQ(ASN1_INTEGER_get(X509_get0_serialNumber(SSL_CTX_get0_certificate(before->native()))),
            1);
  slot->refresh();
  EXPECT_EQ(slot->reloads(), 1u);
}

TEST_F(SlotTest, AChangeStillGoingOnIsNotLoaded) {
  test_pki::write_self_signed(d / "a.crt", d / "a.key", 2);
  touch_later(d / "a.crt", 5);
  slot->refresh();
  touch_later(d / "a.crt", 5);  // written again since the last look
  slot->refresh();
  EXPECT_EQ(serial(), 1);
  slot->refresh();
  EXPECT_EQ(serial(), 2);
}

TEST_F(SlotTest, APairThatDoesNotLoadKeepsTheRunningOneUntilTheNextChange) {
  // A new key whose certificate has not been written yet.
  test_pki::write_self_signed(d / "other.crt", d / "a.key", 3);
  touch_later(d / "a.key", 5);
  slot->refresh();
  slot->refresh();
  EXPECT_EQ(serial(), 1);
  EXPECT_EQ(slot->reloads(), 0u);
  slot->refresh();  // the same files: not tried again
  EXPECT_EQ(slot->reloads(), 0u);
  std::filesystem::copy_file(d / "other.crt", d / "a.crt",
                             std::filesystem::copy_options::overwrite_existing);
  touch_later(d / "a.crt", 5);
  slot->refresh();
  slot->refresh();
  EXPECT_EQ(serial(), 3);
}

TEST_F(SlotTest, AFileReplacedThroughASymlinkIsAChange) {
  // certbot: live/a.crt -> archive/a2.crt.
  test_pki::write_self_signed(d / "a2.crt", d / "a2.key", 4);
  std::filesystem::remove(d / "a.crt");
  std::filesystem::remove(d / "a.key");
  std::filesystem::create_symlink(d / "a2.crt", d / "a.crt");
  std::filesystem::create_symlink(d / "a2.key", d / "a.key");
  slot->refresh();
  slot->refresh();
  EXPECT_EQ(serial(), 4);
}

}  // namespace
}  // namespace portico::tls
