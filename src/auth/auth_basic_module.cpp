// auth_basic and auth_basic_user_file, as nginx: the realm and the file name may hold
// variables; a realm of "off" (written or computed) turns the check off; the file is opened
// and scanned on every request that needs it, as nginx does, so an edited file applies at
// once with no cache to invalidate (the password hash, bcrypt above all, costs far more than
// reading a small file). A missing file is 403, another open or read failure 500; no or
// malformed credentials, an unknown user and a wrong password are 401 with
// `WWW-Authenticate: Basic realm="REALM"`.
#include "auth/auth_basic_module.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "auth/password.h"
#include "core/log.h"
#include "http/basic_credentials.h"
#include "http/connection.h"
#include "http/http_config.h"
#include "http/level.h"
#include "http/phases.h"
#include "http/request.h"

namespace portico::auth {

using config::BlockKind;
using config::Directive;
using http::AccessVerdict;
using http::Level;
using http::Request;

namespace {

struct AuthBasicConf : http::ModuleConfOf<AuthBasicConf> {
  static http::Module& module() { return auth_basic_module; }
  bool realm_set = false;  // auth_basic given (off included)
  bool off = false;        // `auth_basic off`
  http::ComplexValue realm;
  bool file_set = false;
  http::ComplexValue user_file;
};

void set_auth_basic(Level& lv, const Directive& d) {
  auto& c = lv.conf<AuthBasicConf>();
  c.realm_set = true;
  c.off = d.args[0] == "off";
  if (!c.off) lv.value(d, d.args[0], &c.realm);
}

void set_user_file(Level& lv, const Directive& d) {
  auto& c = lv.conf<AuthBasicConf>();
  c.file_set = true;
  lv.value(d, d.args[0], &c.user_file);
}

AccessVerdict unauthorized(Request& r, std::string_view realm) {
  thread_local std::string value;
  value.assign("Basic realm=\"").append(realm).append("\"");
  r.resp.add("WWW-Authenticate", value);
  return AccessVerdict::kUnauthorized;
}

// Scans the user file for `user`; *found tells whether the user has a line, `password` gets
// its password field. Returns kDeclined when read, or the verdict of a failure.
AccessVerdict scan_file(Request& r, const std::string& path, std::string_view user, bool* found,
                        std::string& password) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const bool missing = err == ENOENT;
    PORTICO_LOG(missing ? LogLevel::kError : LogLevel::kCrit, r.conn->id(),
                "open() \"{}\" failed ({}){}", path, errno_text(err), http::log_context(r));
    return missing ? AccessVerdict::kForbidden : AccessVerdict::kError;
  }
  UserFileScanner scan(user);
  char buf[4096];
  *found = false;
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      PORTICO_LOG(LogLevel::kCrit, r.conn->id(), "read() \"{}\" failed ({}){}", path,
                  errno_text(errno), http::log_context(r));
      ::close(fd);
      return AccessVerdict::kError;
    }
    if (n == 0) {
      *found = scan.finish();
      break;
    }
    if (scan.feed(std::string_view(buf, size_t(n)))) {
      *found = true;
      break;
    }
  }
  ::close(fd);
  if (*found) password = scan.password();
  return AccessVerdict::kDeclined;
}

AccessVerdict check(Request& r) {
  const auto& c = r.loc->conf<AuthBasicConf>();
  if (!c.realm_set || c.off || !c.file_set) return AccessVerdict::kDeclined;
  thread_local std::string realm, path, user, password, stored;
  realm.clear();
  c.realm.eval(r, realm);
  if (realm == "off") return AccessVerdict::kDeclined;
  if (!http::basic_credentials(r, &user, &password)) {
    PORTICO_LOG(LogLevel::kInfo, r.conn->id(),
                "no user/password was provided for basic authentication{}", http::log_context(r));
    return unauthorized(r, realm);
  }
  // A relative name is taken from the prefix (nginx: the configuration's directory; the
  // same with the usual -p), also when variables made it.
  path.clear();
  c.user_file.eval(r, path);
  if (!path.empty() && path[0] != '/') path.insert(0, r.http->prefix);
  bool found = false;
  if (AccessVerdict v = scan_file(r, path, user, &found, stored); v != AccessVerdict::kDeclined)
    return v;
  if (!found) {
    PORTICO_LOG(LogLevel::kError, r.conn->id(), "user \"{}\" was not found in \"{}\"{}", user, path,
                http::log_context(r));
    return unauthorized(r, realm);
  }
  if (check_password(password, stored) == PasswordCheck::kMatch) return AccessVerdict::kAllow;
  PORTICO_LOG(LogLevel::kError, r.conn->id(), "user \"{}\": password mismatch{}", user,
              http::log_context(r));
  return unauthorized(r, realm);
}

const http::Command kCommands[] = {
    {{"auth_basic", http::kHSL | config::kLimitExcept, 1, 1, BlockKind::kNone, 0, true},
     set_auth_basic},
    {{"auth_basic_user_file", http::kHSL | config::kLimitExcept, 1, 1, BlockKind::kNone, 0, true},
     set_user_file},
};

}  // namespace

http::Module auth_basic_module = {.name = "auth_basic",
                                  .commands = kCommands,
                                  .create_conf = http::create_conf<AuthBasicConf>,
                                  .access = check};

}  // namespace portico::auth
