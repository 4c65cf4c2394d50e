#include "http2/response_head.h"

#include <cstdio>

#include "core/http_date.h"
#include "core/time_cache.h"
#include "http/handler.h"
#include "http/phases.h"

namespace portico::http2 {

namespace {

struct Span {
  size_t name_off, name_len, value_off, value_len;
};

class Fields {
 public:
  Fields(std::string& store, std::vector<Span>& spans) : s_(store), spans_(spans) {
    s_.clear();
    spans_.clear();
  }
  void add(std::string_view name, std::string_view value) {
    if (connection_specific(name)) return;
    Span sp{s_.size(), name.size(), 0, value.size()};
    for (char c : name) s_ += (c >= 'A' && c <= 'Z') ? char(c + 32) : c;
    sp.value_off = s_.size();
    s_ += value;
    spans_.push_back(sp);
  }

 private:
  static bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
      char c = a[i];
      if (c >= 'A' && c <= 'Z') c = char(c + 32);
      if (c != b[i]) return false;
    }
    return true;
  }
  static bool connection_specific(std::string_view n) {
    return iequals(n, "connection") || iequals(n, "keep-alive") || iequals(n, "proxy-connection") ||
           iequals(n, "transfer-encoding") || iequals(n, "upgrade");
  }
  std::string& s_;
  std::vector<Span>& spans_;
};

}  // namespace

void build_response_fields(http::Request& r, std::string& store, std::vector<nghttp2_nv>& nva) {
  thread_local std::vector<Span> spans;
  http::Response& resp = r.resp;
  Fields f(store, spans);
  char num[24];
  f.add(":status", std::string_view(num, size_t(snprintf(num, sizeof num, "%d", resp.status))));
  if (!resp.omit_server)
    f.add("server", (r.loc && !r.loc->server_tokens) ? "portico" : "portico/" PORTICO_VERSION);
  if (!resp.omit_date) f.add("date", TimeCache::local().http_date());
  if (!resp.content_type.empty()) f.add("content-type", resp.content_type);
  if (resp.content_length >= 0)
    f.add("content-length",
          std::string_view(
              num, size_t(snprintf(num, sizeof num, "%lld", (long long)resp.content_length))));
  if (resp.last_modified >= 0) {
    char date[40];
    f.add("last-modified", format_http_date(resp.last_modified, date));
  }
  if (!resp.location.empty()) f.add("location", resp.location);
  if (!resp.etag.empty()) f.add("etag", resp.etag);
  if (!resp.content_range.empty()) f.add("content-range", resp.content_range);
  if (resp.accept_ranges) f.add("accept-ranges", "bytes");
  for (const http::Header& h : resp.fields) f.add(h.name, h.value);  // the upstream's, then
  for (size_t i = 0; i < resp.header_count; ++i) f.add(resp.headers[i].name, resp.headers[i].value);
  resp.fields.clear();  // views into the producer's buffers: valid until the head is built
  nva.clear();
  for (const Span& sp : spans) {
    nghttp2_nv nv;
    nv.name = reinterpret_cast<uint8_t*>(store.data() + sp.name_off);
    nv.namelen = sp.name_len;
    nv.value = reinterpret_cast<uint8_t*>(store.data() + sp.value_off);
    nv.valuelen = sp.value_len;
    nv.flags = NGHTTP2_NV_FLAG_NONE;
    nva.push_back(nv);
  }
}

}  // namespace portico::http2
