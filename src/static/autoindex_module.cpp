// The autoindex module's directives and the listing response the static handler asks for when
// a directory has no index file (static/static_handler.cpp); formatting is static/autoindex.cpp.
#include "static/autoindex_module.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "core/log.h"
#include "core/strings.h"
#include "http/connection.h"
#include "http/level.h"
#include "http/phases.h"
#include "http/uri.h"
#include "static/autoindex.h"
#include "static/charset.h"
#include "static/charset_module.h"

namespace portico::static_files {

using config::BlockKind;
using config::Directive;
using http::Command;
using http::kHSL;
using http::Level;
using http::Request;

namespace {

struct AutoindexConf : http::ModuleConfOf<AutoindexConf> {
  static http::Module& module() { return autoindex_module; }
  bool on = false;
  AutoindexFormat format = AutoindexFormat::kHtml;
  bool exact_size = true;
  bool localtime = false;
};

void set_format(Level& lv, const Directive& d) {
  static constexpr std::pair<std::string_view, AutoindexFormat> kFormats[] = {
      {"html", AutoindexFormat::kHtml},
      {"xml", AutoindexFormat::kXml},
      {"json", AutoindexFormat::kJson},
      {"jsonp", AutoindexFormat::kJsonp}};
  for (const auto& [name, f] : kFormats) {
    if (d.args[0] == name) {
      lv.conf<AutoindexConf>().format = f;
      return;
    }
  }
  lv.error(d, "invalid value \"" + d.args[0] +
                  "\" in \"autoindex_format\" directive, it must be "
                  "\"html\", \"xml\", \"json\" or \"jsonp\"");
}

// The directory's entries (names starting with '.' left out), stat'ed through the directory's
// descriptor; a symlink that cannot be followed is listed as what it is.
bool read_entries(Request& r, const std::string& path, std::vector<DirEntry>& out) {
  DIR* dir = ::opendir(path.c_str());
  if (!dir) {
    const int err = errno;
    PORTICO_LOG(err == ENOENT || err == ENOTDIR ? LogLevel::kError : LogLevel::kCrit, r.conn->id(),
                "opendir() \"{}\" failed ({}){}", path, errno_text(err), http::log_context(r));
    errno = err;
    return false;
  }
  const int dfd = ::dirfd(dir);
  while (struct dirent* de = ::readdir(dir)) {
    if (de->d_name[0] == '.') continue;
    struct stat st;
    if (::fstatat(dfd, de->d_name, &st, 0) != 0 &&
        ::fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
      continue;  // gone meanwhile
    DirEntry e;
    e.name = de->d_name;
    e.dir = S_ISDIR(st.st_mode);
    e.file = S_ISREG(st.st_mode);
    e.mtime = st.st_mtime;
    e.size = uint64_t(st.st_size);
    out.push_back(std::move(e));
  }
  ::closedir(dir);
  return true;
}

const Command kCommands[] = {
    {{"autoindex", kHSL, 1, 1, BlockKind::kNone, 0, true}, http::set_flag<&AutoindexConf::on>},
    {{"autoindex_format", kHSL, 1, 1, BlockKind::kNone, 0, true}, set_format},
    {{"autoindex_exact_size", kHSL, 1, 1, BlockKind::kNone, 0, true},
     http::set_flag<&AutoindexConf::exact_size>},
    {{"autoindex_localtime", kHSL, 1, 1, BlockKind::kNone, 0, true},
     http::set_flag<&AutoindexConf::localtime>},
};

}  // namespace

bool autoindex_enabled(const Request& r) {
  // Other methods get the static handler's answer for a directory (403), as nginx's.
  return r.loc && r.loc->conf<AutoindexConf>().on && !r.uri.empty() && r.uri.back() == '/' &&
         (r.head.method == http::Method::kGet || r.head.method == http::Method::kHead);
}

http::Step autoindex_respond(Request& r, const std::string& path) {
  const AutoindexConf& c = r.loc->conf<AutoindexConf>();
  ListingOptions o;
  o.format = c.format;
  o.exact_size = c.exact_size;
  o.localtime = c.localtime;
  o.uri = r.uri;
  thread_local std::string callback;
  callback.clear();
  if (o.format == AutoindexFormat::kJsonp) {
    std::string_view cb;
    if (http::find_arg(r.args, "callback", &cb)) callback.assign(cb);
    if (!valid_callback(callback)) {
      PORTICO_LOG(LogLevel::kError, r.conn->id(), "client sent invalid callback \"{}\"{}", callback,
                  http::log_context(r));
      return http::Step::status(400);
    }
    o.callback = callback;
  }
  if (o.localtime) {
    struct tm tm;
    time_t now = ::time(nullptr);
    localtime_r(&now, &tm);
    o.gmtoff = tm.tm_gmtoff;
  }
  thread_local std::vector<DirEntry> entries;  // capacity kept between listings
  entries.clear();
  if (!read_entries(r, path, entries)) {
    entries.clear();
    return http::Step::status(errno == ENOENT || errno == ENOTDIR ? 404
                              : errno == EACCES                   ? 403
                                                                  : 500);
  }
  sort_entries(entries);
  http::Response& resp = r.resp;
  resp.status = 200;
  switch (o.format) {
    case AutoindexFormat::kHtml:
      resp.content_type = "text/html";
      break;
    case AutoindexFormat::kXml:
      resp.content_type = "text/xml";
      break;
    case AutoindexFormat::kJson:
      resp.content_type = "application/json";
      break;
    case AutoindexFormat::kJsonp:
      resp.content_type = o.callback.empty() ? "application/json" : "application/javascript";
      break;
  }
  // The charset filter decides now, as nginx's runs with the head before the listing is made:
  // with utf-8, long names are cut by characters.
  apply_charset_type(r);
  const std::string_view cs = split_content_type(resp.content_type).charset;
  o.utf8 = iequals(cs, "utf-8");
  r.body_buf.clear();
  format_listing(entries, o, r.body_buf);
  entries.clear();
  if (entries.capacity() > 4096) entries.shrink_to_fit();  // a huge directory's memory goes back
  resp.content_length = int64_t(r.body_buf.size());
  r.out.clear();
  r.out.push_back(http::OutChunk{r.body_buf.data(), r.body_buf.size(), -1, 0});
  return http::Step::respond();
}

http::Module autoindex_module = {
    .name = "autoindex", .commands = kCommands, .create_conf = http::create_conf<AutoindexConf>};

}  // namespace portico::static_files
