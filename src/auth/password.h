// Password checks for auth_basic_user_file (nginx's ngx_crypt and the user-file scan of
// ngx_http_auth_basic_module): the htpasswd formats nginx reads, and the file's line format.
// Pure functions and a small scanner; no I/O. check_password may take long (bcrypt's cost is
// the point of it) and runs on the worker thread that asks, as in nginx.
#pragma once

#include <string>
#include <string_view>

namespace portico::auth {

enum class PasswordCheck : unsigned char {
  kMatch,
  kMismatch,  // a wrong password, or a stored value no scheme understands
};

// Whether `password` hashes to `stored`, by the scheme `stored` names:
//   $apr1$SALT$HASH   Apache's MD5 (computed here with OpenSSL's MD5)
//   {PLAIN}TEXT       the text itself
//   {SHA}BASE64       SHA-1 of the password
//   {SSHA}BASE64      SHA-1 of the password and a salt, then the salt
//   anything else     crypt(3) from libcrypt: bcrypt $2y$/$2b$, SHA-512 $6$, SHA-256 $5$,
//                     MD5 $1$, yescrypt $y$, DES
PasswordCheck check_password(std::string_view password, std::string_view stored);

// Apache's apr1 MD5-crypt of `password` with the salt of `setting` ("$apr1$SALT[$...]": up to
// 8 characters after the magic, to the next '$'). Returns "$apr1$SALT$HASH".
std::string apr1_crypt(std::string_view password, std::string_view setting);

// Finds a user's password field in an htpasswd file fed in pieces, as nginx scans it: lines
// "user:password[:comment]", '#' lines and lines starting with CR are skipped, the first line
// whose name is exactly `user` wins. A password field longer than kMaxPassword never matches.
class UserFileScanner {
 public:
  static constexpr size_t kMaxPassword = 1024;

  explicit UserFileScanner(std::string_view user) : user_(user) {}
  // Feeds the next bytes of the file. Returns true once the user's password field is complete
  // (password()); feed no more then.
  bool feed(std::string_view chunk);
  // At the end of the file: true if the last line held the user's password.
  bool finish() const { return state_ == State::kPasswd; }
  const std::string& password() const { return password_; }

 private:
  enum class State : unsigned char { kLogin, kPasswd, kSkip };
  std::string_view user_;
  State state_ = State::kLogin;
  size_t login_ = 0;
  std::string password_;
};

}  // namespace portico::auth
