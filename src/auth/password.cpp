#include "auth/password.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/base64.h"

namespace portico::auth {

namespace {

constexpr std::string_view kApr1 = "$apr1$";
constexpr char kItoa64[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

bool equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// One MD5 or SHA-1 context, freed on scope exit.
class Digest {
 public:
  explicit Digest(const EVP_MD* md) : ctx_(EVP_MD_CTX_new()) {
    EVP_DigestInit_ex(ctx_, md, nullptr);
  }
  ~Digest() { EVP_MD_CTX_free(ctx_); }
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;
  void update(std::string_view s) { EVP_DigestUpdate(ctx_, s.data(), s.size()); }
  void update(const unsigned char* p, size_t n) { EVP_DigestUpdate(ctx_, p, n); }
  void final(unsigned char* out) { EVP_DigestFinal_ex(ctx_, out, nullptr); }

 private:
  EVP_MD_CTX* ctx_;
};

// The MD5 and SHA-1 algorithms, fetched once (OpenSSL 3's implicit fetch per context costs).
const EVP_MD* md5() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "MD5", nullptr);
  return md;
}
const EVP_MD* sha1() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  return md;
}

void to64(std::string& out, uint32_t v, int n) {
  while (--n >= 0) {
    out += kItoa64[v & 0x3f];
    v >>= 6;
  }
}

// {SHA}: base64(SHA-1(password)).
bool check_sha(std::string_view password, std::string_view stored) {
  unsigned char hash[20];
  Digest d(sha1());
  d.update(password);
  d.final(hash);
  std::string enc = "{SHA}";
  base64_encode(std::string_view(reinterpret_cast<char*>(hash), 20), enc);
  return equal(enc, stored);
}

// {SSHA}: base64(SHA-1(password + salt) + salt), the salt being what follows the 20 hash bytes
// (nginx's ngx_crypt_ssha: a value that does not decode, or is shorter, has no salt).
bool check_ssha(std::string_view password, std::string_view stored) {
  std::string decoded;
  if (!base64_decode(stored.substr(6), decoded) || decoded.size() < 20) decoded.resize(20);
  Digest d(sha1());
  d.update(password);
  d.update(std::string_view(decoded).substr(20));
  d.final(reinterpret_cast<unsigned char*>(decoded.data()));
  std::string enc = "{SSHA}";
  base64_encode(decoded, enc);
  return equal(enc, stored);
}

bool check_crypt(std::string_view password, std::string_view stored) {
  // crypt(3) wants C strings; a NUL inside either never matches.
  if (password.find('\0') != std::string_view::npos || stored.find('\0') != std::string_view::npos)
    return false;
  thread_local crypt_data data;  // ~32 KiB: one per thread, not per call
  thread_local std::string key, setting;
  key.assign(password);
  setting.assign(stored);
  std::memset(&data, 0, sizeof data);
  const char* out = crypt_rn(key.c_str(), setting.c_str(), &data, sizeof data);
  return out && out[0] != '*' && equal(out, stored);
}

}  // namespace

std::string apr1_crypt(std::string_view pw, std::string_view setting) {
  std::string_view salt = setting.substr(std::min(setting.size(), kApr1.size()));
  salt = salt.substr(0, std::min({salt.find('$'), salt.size(), size_t(8)}));
  unsigned char final[16];
  Digest ctx(md5());
  ctx.update(pw);
  ctx.update(kApr1);
  ctx.update(salt);
  {
    Digest alt(md5());
    alt.update(pw);
    alt.update(salt);
    alt.update(pw);
    alt.final(final);
  }
  for (size_t left = pw.size(); left > 0; left -= std::min<size_t>(left, 16))
    ctx.update(final, std::min<size_t>(left, 16));
  std::memset(final, 0, sizeof final);
  for (size_t i = pw.size(); i; i >>= 1) {
    if (i & 1)
      ctx.update(final, 1);
    else
      ctx.update(reinterpret_cast<const unsigned char*>(pw.data()), 1);
  }
  ctx.final(final);
  for (int i = 0; i < 1000; ++i) {
    Digest round(md5());
    if (i & 1)
      round.update(pw);
    else
      round.update(final, 16);
    if (i % 3) round.update(salt);
    if (i % 7) round.update(pw);
    if (i & 1)
      round.update(final, 16);
    else
      round.update(pw);
    round.final(final);
  }
  std::string out(kApr1);
  out.append(salt).append("$");
  to64(out, uint32_t(final[0]) << 16 | uint32_t(final[6]) << 8 | final[12], 4);
  to64(out, uint32_t(final[1]) << 16 | uint32_t(final[7]) << 8 | final[13], 4);
  to64(out, uint32_t(final[2]) << 16 | uint32_t(final[8]) << 8 | final[14], 4);
  to64(out, uint32_t(final[3]) << 16 | uint32_t(final[9]) << 8 | final[15], 4);
  to64(out, uint32_t(final[4]) << 16 | uint32_t(final[10]) << 8 | final[5], 4);
  to64(out, final[11], 2);
  return out;
}

PasswordCheck check_password(std::string_view password, std::string_view stored) {
  bool ok;
  if (stored.substr(0, kApr1.size()) == kApr1)
    ok = equal(apr1_crypt(password, stored), stored);
  else if (stored.substr(0, 7) == "{PLAIN}")
    ok = equal(stored.substr(7), password);
  else if (stored.substr(0, 6) == "{SSHA}")
    ok = check_ssha(password, stored);
  else if (stored.substr(0, 5) == "{SHA}")
    ok = check_sha(password, stored);
  else
    ok = check_crypt(password, stored);
  return ok ? PasswordCheck::kMatch : PasswordCheck::kMismatch;
}

bool UserFileScanner::feed(std::string_view chunk) {
  for (char c : chunk) {
    switch (state_) {
      case State::kLogin:
        if (login_ == 0) {
          if (c == '#' || c == '\r') {
            state_ = State::kSkip;
            break;
          }
          if (c == '\n') break;
        }
        // The name ends where the file has ':' (nginx compares with the ':' that ends the
        // user in the decoded credentials).
        if (c != (login_ < user_.size() ? user_[login_] : ':')) {
          state_ = State::kSkip;
          break;
        }
        if (login_ == user_.size()) {
          state_ = State::kPasswd;
          password_.clear();
        }
        ++login_;
        break;
      case State::kPasswd:
        if (c == '\n' || c == '\r' || c == ':') return true;
        if (password_.size() <= kMaxPassword) password_ += c;
        break;
      case State::kSkip:
        if (c == '\n') {
          state_ = State::kLogin;
          login_ = 0;
        }
        break;
    }
  }
  return false;
}

}  // namespace portico::auth
