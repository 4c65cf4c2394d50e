#include "http/request.h"

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
  trailer_count = 0;
  expect_trailers = false;
  header_only = false;
  chunked = false;
  keep_alive = true;
  accept_ranges = false;
  upgrade = false;
  omit_server = false;
  omit_date = false;
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

}  // namespace portico::http
