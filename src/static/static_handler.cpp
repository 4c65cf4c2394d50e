#include "static/static_handler.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "core/file_cache.h"
#include "core/http_date.h"
#include "core/log.h"
#include "core/sockaddr.h"
#include "core/strings.h"
#include "core/time_cache.h"
#include "http/connection.h"
#include "http/phases.h"
#include "http/uri.h"
#include "static/autoindex_module.h"
#include "static/charset_module.h"
#include "static/conditional.h"
#include "static/etag.h"
#include "static/range.h"
#include "static/static_module.h"

namespace portico::static_files {

using http::OutChunk;
using http::Request;

namespace {

std::string_view header_value(const Request& r, std::string_view name) {
  const http::Header* h = r.head.find(name);
  return h ? h->value : std::string_view();
}

void log_open_error(Request& r, const char* what, const std::string& path, int err) {
  bool not_found = err == ENOENT || err == ENOTDIR || err == ENAMETOOLONG;
  if (not_found && !r.loc->log_not_found) return;
  bool denied = err == EACCES || err == EPERM;
  PORTICO_LOG(not_found || denied ? LogLevel::kError : LogLevel::kCrit, r.conn->id(),
              "{}() \"{}\" failed ({}){}", what, path, errno_text(err), http::log_context(r));
}

int open_error_status(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
      return 404;
    case EACCES:
    case EPERM:
      return 403;
    default:
      return 500;
  }
}

std::string_view content_type_for(const Request& r, std::string_view uri) {
  size_t slash = uri.rfind('/');
  size_t dot = uri.rfind('.');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash) ||
      dot + 1 == uri.size())
    return r.loc->default_type;
  std::string_view ext = uri.substr(dot + 1);
  if (r.loc->types) {
    char lower[32];
    if (ext.size() < sizeof lower) {
      for (size_t i = 0; i < ext.size(); ++i) lower[i] = ascii_lower(ext[i]);
      // unordered_map<string> lookup needs a key string; heterogeneous lookup is C++20 only
      // with a transparent hash, which the table provides.
      auto it = r.loc->types->find(std::string_view(lower, ext.size()));
      if (it != r.loc->types->end()) return it->second;
    }
  }
  return r.loc->default_type;
}

// The index module: the URI ends with '/'. An internal redirect to the index file, or a status.
// nginx's range filter runs after its headers filter (its not-modified filter before): a
// Last-Modified that add_header sets is the date If-Range compares with (-1 for an empty or
// unparsable one: no date matches).
time_t if_range_mtime(Request& r, time_t mtime) {
  for (const http::AddHeader& ah : r.loc->add_headers) {
    if (!iequals(ah.name, "last-modified")) continue;
    std::string v;
    ah.value.eval(r, v);
    const auto date = parse_http_date(trim(v));
    return date ? *date : -1;
  }
  return mtime;
}

http::Step serve_index(Request& r) {
  std::string path, candidate;
  for (const auto& idx : r.loc->conf<StaticConf>().index) {
    candidate.clear();
    idx.eval(r, candidate);
    if (!candidate.empty() && candidate[0] == '/') {
      // An absolute index is the last resort: redirect to it unconditionally (nginx).
      r.uri = candidate;
      return http::Step::internal_redirect();
    }
    http::map_uri_to_path(r, r.uri, path);
    path += candidate;
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) continue;
      r.uri += candidate;
      return http::Step::internal_redirect();
    }
    if (errno != ENOENT && errno != ENOTDIR) {
      log_open_error(r, "stat", path, errno);
      return http::Step::status(open_error_status(errno));
    }
  }
  // No index file: is the directory there at all?
  http::map_uri_to_path(r, r.uri, path);
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    if (autoindex_enabled(r)) return autoindex_respond(r, path);
    PORTICO_LOG(LogLevel::kError, r.conn->id(), "directory index of \"{}\" is forbidden{}", path,
                http::log_context(r));
    return http::Step::status(403);
  }
  std::string first;
  if (!r.loc->conf<StaticConf>().index.empty()) r.loc->conf<StaticConf>().index[0].eval(r, first);
  if (r.loc->log_not_found)
    PORTICO_LOG(LogLevel::kError, r.conn->id(),
                "\"{}{}\" is not found (2: No such file or directory){}", path, first,
                http::log_context(r));
  return http::Step::status(404);
}

PrecompressedLookup precompressed = nullptr;

// gzip_static and friends: the first variant of the file the client may have that exists, or
// null. *vary: a variant exists (the response varies by Accept-Encoding).
CachedFile* open_precompressed(Request& r, const std::string& mapped, std::string_view* encoding,
                               bool* vary) {
  PrecompressedChoice choice;
  precompressed(r, choice);
  for (size_t i = 0; i < choice.count; ++i) {
    const PrecompressedChoice::Variant& v = choice.variants[i];
    r.scratch.assign(mapped);
    r.scratch += v.suffix;
    int err = 0;
    CachedFile* f = r.file_cache->open(r.scratch, &err);
    if (!f) continue;  // no such variant (or unreadable): the next, or the file itself
    const bool regular = S_ISREG(f->st.st_mode);
    if (regular && choice.vary) *vary = true;
    if (!regular || !v.serve) {
      r.file_cache->release(f);
      continue;
    }
    *encoding = v.encoding;
    return f;
  }
  return nullptr;
}

http::Step redirect_to_directory(Request& r) {
  std::string url;
  http::escape_uri(r.uri, url);
  url += '/';
  if (!r.args.empty()) {
    url += '?';
    url += r.args;
  }
  http::set_location(r, url);
  return http::Step::status(301);
}

// RFC 9110 15.5.6: a 405 MUST carry Allow with the methods the resource supports; a file
// answers GET and HEAD (nginx sends no Allow). An error_page for 405 replaces the response and
// its fields, as nginx's error pages do.
http::Step not_allowed(Request& r) {
  r.resp.add("Allow", "GET, HEAD");
  return http::Step::status(405);
}

}  // namespace

http::Step serve(Request& r) {
  if (!r.uri.empty() && r.uri.back() == '/') {
    if (r.head.method != http::Method::kGet && r.head.method != http::Method::kHead &&
        r.head.method != http::Method::kPost)
      return not_allowed(r);
    return serve_index(r);
  }
  if (r.head.method != http::Method::kGet && r.head.method != http::Method::kHead &&
      r.head.method != http::Method::kPost)
    return not_allowed(r);

  std::string& mapped = r.filename;  // reused buffer: no allocation per request
  http::map_uri_to_path(r, r.uri, mapped);
  int err = 0;
  std::string_view encoding;  // of a precompressed variant served instead of the file
  bool vary = false;
  CachedFile* f = precompressed ? open_precompressed(r, mapped, &encoding, &vary) : nullptr;
  if (!f) f = r.file_cache->open(mapped, &err);
  if (!f) {
    log_open_error(r, "open", mapped, err);
    return http::Step::status(open_error_status(err));
  }
  const struct stat& st = f->st;
  if (S_ISDIR(st.st_mode)) {
    r.file_cache->release(f);
    return redirect_to_directory(r);
  }
  if (!S_ISREG(st.st_mode)) {
    r.file_cache->release(f);
    PORTICO_LOG(LogLevel::kCrit, r.conn->id(), "\"{}\" is not a regular file", mapped);
    return http::Step::status(404);
  }
  if (r.head.method == http::Method::kPost) {
    r.file_cache->release(f);
    return not_allowed(r);
  }
  r.file = f;
  const int fd = f->fd;
  // A small file's bytes are in memory: the response leaves with one writev.
  auto piece = [f, fd](uint64_t start, uint64_t len) {
    if (f->has_body) return OutChunk{f->body.data() + start, size_t(len), -1, 0};
    return OutChunk{nullptr, size_t(len), fd, off_t(start)};
  };
  http::Response& resp = r.resp;
  const uint64_t size = uint64_t(st.st_size);
  resp.status = r.err_status > 0 ? r.err_status : 200;
  if (!resp.content_type_kept) resp.content_type = content_type_for(r, r.uri);
  // RFC 9110 8.8.2.1: Last-Modified never later than the response's Date (a file stamped in
  // the future says "now"; nginx sends the future date). ETag and the conditionals keep the
  // real mtime, so such a file only ever answers 200 to If-Modified-Since/If-Range dates.
  resp.last_modified = std::min(st.st_mtime, TimeCache::local().unix_time());
  if (!encoding.empty()) resp.add("Content-Encoding", encoding);
  if (vary) resp.add("Vary", "Accept-Encoding");
  if (r.loc->conf<StaticConf>().etag) {
    char buf[48];
    resp.etag.assign(format_etag(st.st_mtime, size, buf));
  }
  r.out.clear();

  if (r.err_status == 0 || r.err_status == 200) {
    ConditionalHeaders ch{header_value(r, "if-match"), header_value(r, "if-none-match"),
                          header_value(r, "if-modified-since"),
                          header_value(r, "if-unmodified-since")};
    Precondition pc = evaluate_preconditions(true, resp.etag, st.st_mtime, ch,
                                             r.loc->conf<StaticConf>().if_modified_since);
    if (pc == Precondition::kNotModified) {
      resp.status = 304;
      resp.content_type = {};
      resp.content_length = -1;
      resp.header_only = true;
      return http::Step::respond();
    }
    if (pc == Precondition::kFailed) {
      resp.etag.clear();
      resp.last_modified = -1;
      return http::Step::status(412);
    }
    std::string_view range = header_value(r, "range");
    std::string_view if_range = header_value(r, "if-range");
    // RFC 9110 14.2: range handling is defined for GET only; a HEAD's Range is ignored (nginx
    // answers it 206).
    bool range_ok =
        !range.empty() && r.head.method == http::Method::kGet &&
        r.loc->conf<StaticConf>().max_ranges != 0 &&
        (if_range.empty() || if_range_matches(if_range, resp.etag, if_range_mtime(r, st.st_mtime)));
    if (range_ok) {
      ByteRange ranges[kInlineRanges];
      RangeSpec spec = parse_range(range, size, r.loc->conf<StaticConf>().max_ranges, ranges);
      if (spec.result == RangeResult::kUnsatisfiable) {
        char buf[kContentRangeMaxLen];
        resp.content_range.assign(format_unsatisfied_range(size, buf));
        return http::Step::status(416);
      }
      if (spec.result == RangeResult::kPartial && spec.count <= kInlineRanges) {
        resp.status = 206;
        if (spec.count == 1) {
          char buf[kContentRangeMaxLen];
          resp.content_range.assign(format_content_range(ranges[0], size, buf));
          resp.content_length = int64_t(ranges[0].length());
          r.out.push_back(piece(ranges[0].start, ranges[0].length()));
          return http::Step::respond();
        }
        // Each part repeats the type with its charset (nginx's charset filter runs first).
        apply_charset_type(r);
        thread_local std::string part_type;  // content_type_buf is rewritten below
        part_type.assign(resp.content_type);
        MultipartRanges mp(MultipartRanges::next_boundary(), part_type, size);
        std::span<const ByteRange> rs(ranges, spec.count);
        resp.content_length = int64_t(mp.content_length(rs));
        resp.content_type_buf.assign(mp.content_type());
        resp.content_type = resp.content_type_buf;
        // Part headers live in multipart_buf; reserve first so views stay valid.
        size_t need = mp.trailer().size();
        for (const auto& br : rs) need += mp.part_header_len(br);
        r.multipart_buf.resize(need);
        char* p = r.multipart_buf.data();
        for (const auto& br : rs) {
          std::string_view ph = mp.format_part_header(br, p);
          r.out.push_back(OutChunk{ph.data(), ph.size(), -1, 0});
          r.out.push_back(piece(br.start, br.length()));
          p += ph.size();
        }
        std::string_view tr = mp.trailer();
        std::copy(tr.begin(), tr.end(), p);
        r.out.push_back(OutChunk{p, tr.size(), -1, 0});
        return http::Step::respond();
      }
    }
  }
  // nginx advertises ranges only on a full 200 where they were possible.
  resp.accept_ranges = r.loc->conf<StaticConf>().max_ranges != 0 && resp.status == 200;
  resp.content_length = int64_t(size);
  if (size > 0) r.out.push_back(piece(0, size));
  return http::Step::respond();
}

void set_precompressed_lookup(PrecompressedLookup lookup) {
  precompressed = lookup;
}

}  // namespace portico::static_files
