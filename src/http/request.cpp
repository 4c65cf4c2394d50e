#include "http/request.h"

#include <algorithm>

#include "core/limit_zone.h"
#include "http/body_filter.h"
#include "http/connection.h"

namespace portico::http {

void Response::add(std::string_view name, std::string_view value) {
  if (header_count == headers.size()) headers.emplace_back();
  headers[header_count].name.assign(name);
  headers[header_count].value.assign(value);
  ++header_count;
}

void Response::add_trailer(std::string_view name, std::string_view value) {
  if (trailer_count == trailers.size()) trailers.emplace_back();
  trailers[trailer_count].name.assign(name);
  trailers[trailer_count].value.assign(value);
  ++trailer_count;
}

void Response::clear() {
  status = 0;
  status_line = {};
  content_type = {};
  content_type_buf.clear();
  content_length = -1;
  last_modified = -1;
  etag.clear();
  location.clear();
  content_range.clear();
  header_count = 0;  // keep the strings' capacity
  fields.clear();
  field_value_count = 0;
  trailer_count = 0;
  expect_trailers = false;
  header_only = false;
  chunked = false;
  keep_alive = true;
  accept_ranges = false;
  upgrade = false;
  omit_server = false;
  omit_date = false;
  content_type_kept = false;
}

std::string& Response::next_field_value() {
  if (field_value_count == field_values.size()) field_values.emplace_back();
  std::string& v = field_values[field_value_count++];
  v.clear();
  return v;
}

const SockAddr& Request::client_addr() const {
  return realip_set ? realip_addr : conn->peer();
}

void Request::reset() {
  for (std::atomic<uint64_t>* hold : conn_holds) LimitConnTable::release(hold);
  conn_holds.clear();
  limit_req_status = limit_conn_status = 0;
  resume_preaccess = false;
  delay_ms = 0;
  conn = nullptr;
  http = nullptr;
  server = nullptr;
  loc = nullptr;
  head.clear();
  body.reset();
  rate.clear();
  uri.clear();
  args.clear();
  host.clear();
  method_name = {};
  captures.clear();
  captures_subject.clear();
  vars.clear();
  vars_set.clear();
  filename.clear();
  add_uri_to_alias = false;
  scratch.clear();
  body_buf.clear();
  out.clear();
  head_buf.clear();
  tail_buf.clear();
  if (filter) filter->release();
  filter = nullptr;
  multipart_buf.clear();
  resp.clear();
  upstream.clear();
  realip_set = false;
  addr_vars_early = 0;
  start = {};
  start_ms = 0;
  release_file();
  bytes_sent = body_bytes_sent = request_length = header_bytes = 0;
  err_status = 0;
  redirects = 0;
  uri_changed = error_page_done = is_internal = log_done = pipelined = false;
}

namespace {
uint32_t clamp_ms(uint64_t v) {
  return v == UINT64_MAX ? UpstreamAttempt::kNone
                         : uint32_t(std::min<uint64_t>(v, UpstreamAttempt::kNone - 1));
}
}  // namespace

UpstreamAttempt UpstreamVars::current() const {
  UpstreamAttempt a;
  a.status = cur_status;
  a.timed = true;
  a.response_ms = UpstreamAttempt::kNone;
  a.connect_ms = clamp_ms(cur_connect_ms);
  a.header_ms = clamp_ms(cur_header_ms);
  a.bytes_received = bytes_received;
  a.bytes_sent = bytes_sent;
  // The body as read: what came after the heads, once a final head did (nginx counts the
  // bytes its pipe read, framing included).
  a.response_length = head_complete ? bytes_received - head_bytes : 0;
  return a;
}

void UpstreamVars::keep_head(std::string_view raw, const std::vector<Header>& in) {
  head_raw.assign(raw);
  fields.clear();
  const char* base = raw.data();
  auto within = [&](std::string_view v) {
    return v.empty() || (v.data() >= base && v.data() + v.size() <= base + raw.size());
  };
  auto rebase = [&](std::string_view v) {
    return v.empty() ? std::string_view()
                     : std::string_view(head_raw.data() + (v.data() - base), v.size());
  };
  for (const Header& h : in) {
    // Every field lies within the head it was parsed from; anything else is left out.
    if (!within(h.name) || !within(h.value)) continue;
    fields.push_back({rebase(h.name), rebase(h.value)});
  }
}

void UpstreamVars::begin_attempt() {
  in_attempt = true;
  head_complete = false;
  cur_status = 0;
  cur_connect_ms = cur_header_ms = UINT64_MAX;
  bytes_received = bytes_sent = head_bytes = 0;
}

void UpstreamVars::end_attempt(int status, uint64_t response_ms) {
  UpstreamAttempt& a = attempts.emplace_back(current());
  a.status = status;
  a.response_ms = clamp_ms(response_ms);
  in_attempt = false;
  head_complete = false;
  bytes_received = bytes_sent = head_bytes = 0;
}

}  // namespace portico::http
