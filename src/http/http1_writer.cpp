#include "http/http1_writer.h"

#include <sys/uio.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/http_date.h"
#include "core/time_cache.h"
#include "http/handler.h"
#include "http/phases.h"

namespace portico::http {

namespace {

constexpr size_t kMaxDataPieces = 16;  // memory pieces gathered into one sendmsg
// The largest chunk we frame. A whole spool file range as one chunk would be valid HTTP, but
// clients buffer a chunk before they hand it on; nginx's chunks are a buffer each (4-64 KiB).
constexpr uint64_t kMaxChunk = 256 * 1024;
constexpr char kChunkEnd[] = "\r\n";
constexpr char kLastChunk[] = "0\r\n\r\n";
constexpr char kChunkEndAndLast[] = "\r\n0\r\n\r\n";

void append_number(std::string& h, long long v) {
  char num[24];
  h.append(num, size_t(snprintf(num, sizeof num, "%lld", v)));
}

}  // namespace

void serialize_http1_head(Request& r, bool chunked, std::string& h) {
  Response& resp = r.resp;
  h += "HTTP/1.1 ";
  if (!resp.status_line.empty()) {
    h += resp.status_line;
  } else {
    append_number(h, resp.status);
    h += ' ';
    h += status_reason(resp.status);
  }
  if (!resp.omit_server) {
    h += "\r\nServer: ";
    h += (r.loc && !r.loc->server_tokens) ? "portico" : "portico/" PORTICO_VERSION;
  }
  if (!resp.omit_date) {
    h += "\r\nDate: ";
    h += TimeCache::local().http_date();
  }
  if (!resp.content_type.empty()) {
    h += "\r\nContent-Type: ";
    h += resp.content_type;
  }
  if (resp.content_length >= 0) {
    h += "\r\nContent-Length: ";
    append_number(h, (long long)resp.content_length);
  }
  if (resp.last_modified >= 0) {
    char date[40];
    h += "\r\nLast-Modified: ";
    h += format_http_date(resp.last_modified, date);
  }
  if (!resp.location.empty()) {
    h += "\r\nLocation: ";
    h += resp.location;
  }
  if (chunked) h += "\r\nTransfer-Encoding: chunked";
  if (resp.upgrade) {
    h += "\r\nConnection: upgrade";
  } else {
    h += resp.keep_alive ? "\r\nConnection: keep-alive" : "\r\nConnection: close";
    if (resp.keep_alive && r.loc && r.loc->keepalive_header >= 0) {
      h += "\r\nKeep-Alive: timeout=";
      append_number(h, (long long)r.loc->keepalive_header);
    }
  }
  if (!resp.etag.empty()) {
    h += "\r\nETag: ";
    h += resp.etag;
  }
  if (!resp.content_range.empty()) {
    h += "\r\nContent-Range: ";
    h += resp.content_range;
  }
  if (resp.accept_ranges) h += "\r\nAccept-Ranges: bytes";
  // The upstream's fields, then the ones portico's filters added (add_header, expires, Vary...),
  // in nginx's order: the filters append to what the upstream sent.
  for (const Header& f : resp.fields) {
    h += "\r\n";
    h += f.name;
    h += ": ";
    h += f.value;
  }
  for (size_t i = 0; i < resp.header_count; ++i) {
    h += "\r\n";
    h += resp.headers[i].name;
    h += ": ";
    h += resp.headers[i].value;
  }
  h += "\r\n\r\n";
}

void Http1Writer::start(Request& r) {
  Response& resp = r.resp;
  if (resp.status == 0) resp.status = 200;
  // A body whose length nobody knows: chunked to an HTTP/1.1 client, else it ends with the
  // connection.
  // add_trailer: trailers need chunked framing, so a known length is dropped (nginx too).
  const bool can_chunk = r.head.version_minor == 1 && (!r.loc || r.loc->chunked_transfer_encoding);
  chunked_ = false;
  trailers_ = false;
  if (!resp.header_only && !resp.upgrade) {
    if (resp.expect_trailers && can_chunk) {
      chunked_ = trailers_ = true;
      resp.content_length = -1;
    } else if (resp.content_length < 0) {
      if (can_chunk)
        chunked_ = true;
      else
        resp.keep_alive = false;
    }
  }
  resp.chunked = chunked_;
  r.head_buf.clear();
  serialize_http1_head(r, chunked_, r.head_buf);
  resp.fields.clear();  // they pointed into the producer's buffers
  if (resp.header_only) r.out.clear();
  head_off_ = 0;
  head_len_ = uint32_t(r.head_buf.size());
  chunk_left_ = 0;
  frame_off_ = frame_len_ = 0;
  tail_off_ = tail_len_ = 0;
  ended_ = false;
  file_error_ = 0;
}

void Http1Writer::add_frame(const char* data, size_t n) {
  if (frame_off_ == frame_len_) frame_off_ = frame_len_ = 0;
  assert(frame_len_ + n <= sizeof frame_);
  std::memcpy(frame_ + frame_len_, data, n);
  frame_len_ = uint8_t(frame_len_ + n);
}

// A chunk starts with this write: its size line joins the framing owed before the data. It
// covers the memory pieces one sendmsg takes, or the file range, at most kMaxChunk.
void Http1Writer::open_chunk(std::span<const OutChunk> body, size_t idx, size_t off) {
  uint64_t size = 0;
  if (body[idx].fd >= 0) {
    size = body[idx].len - off;
  } else {
    for (size_t i = idx, n = 0; i < body.size() && n < kMaxDataPieces && body[i].fd < 0; ++i) {
      size += body[i].len - (i == idx ? off : 0);
      n += body[i].len > 0;
    }
  }
  size = std::min(size, kMaxChunk);
  char line[24];
  add_frame(line, size_t(snprintf(line, sizeof line, "%llx\r\n", (unsigned long long)size)));
  chunk_left_ = size;
}

// A file range with sendfile; nothing of the head or framing is pending. `final`: these are
// the body's last bytes.
IoResult Http1Writer::send_file(Request& r, Transport& t, const OutChunk& file, size_t off,
                                size_t len, bool final) {
  IoResult w = t.sendfile(file.fd, file.offset + off_t(off), len);
  if (w.eof()) file_error_ = 0;
  if (!w.progress()) return w;
  const size_t n = w.bytes();
  r.bytes_sent += n;
  r.body_bytes_sent += n;
  if (chunked_) {
    chunk_left_ -= n;
    if (chunk_left_ == 0) add_frame(kChunkEnd, 2);
  }
  if (final && n == len) end_body(r);
  return IoResult::moved(n);
}

void Http1Writer::end_body(Request& r) {
  if (ended_) return;
  assert(chunk_left_ == 0);  // a chunk whose size went out is owed its data first
  if (trailers_) {
    build_tail(r, false);
  } else if (chunked_) {
    add_frame(kLastChunk, sizeof kLastChunk - 1);
  }
  ended_ = true;
}

// The last chunk with add_trailer's fields into r.tail_buf (after the CRLF that ends the
// data chunk before it when `crlf`): "0\r\nName: value\r\n\r\n". The values are taken now,
// when the body has ended.
const std::string& Http1Writer::build_tail(Request& r, bool crlf) {
  collect_trailers(r);
  std::string& t = r.tail_buf;
  t.clear();
  if (crlf) t += kChunkEnd;
  t += "0\r\n";
  for (size_t i = 0; i < r.resp.trailer_count; ++i) {
    t += r.resp.trailers[i].name;
    t += ": ";
    t += r.resp.trailers[i].value;
    t += "\r\n";
  }
  t += "\r\n";
  tail_off_ = 0;
  tail_len_ = uint32_t(t.size());
  return t;
}

IoResult Http1Writer::write(Request& r, Transport& t, std::span<const OutChunk> body, size_t skip,
                            bool last, bool use_sendfile) {
  // The first body byte not yet taken, and how many remain.
  size_t idx = 0, off = skip;
  while (idx < body.size() && off >= body[idx].len) off -= body[idx++].len;
  uint64_t remaining = 0;
  for (size_t i = idx; i < body.size(); ++i) remaining += body[i].len;
  remaining -= off;
  if (last && remaining == 0) end_body(r);
  if (ended_ && remaining > 0) remaining = 0;  // nothing may follow the end (REQUIRES)

  if (chunked_ && chunk_left_ == 0 && remaining > 0) open_chunk(body, idx, off);

  struct iovec iov[2 + kMaxDataPieces + 1];
  size_t cnt = 0;
  const size_t head_part = head_len_ - head_off_;
  if (head_part) iov[cnt++] = {r.head_buf.data() + head_off_, head_part};
  const size_t frame_part = size_t(frame_len_ - frame_off_);
  if (frame_part) iov[cnt++] = {frame_ + frame_off_, frame_part};
  const size_t tail_part = tail_len_ - tail_off_;  // only once the body has ended
  if (tail_part) iov[cnt++] = {r.tail_buf.data() + tail_off_, tail_part};
  const size_t prefix = head_part + frame_part + tail_part;

  // Body data for this call: memory pieces, or one file range (alone, with sendfile).
  char tmp[16384];
  uint64_t budget = chunked_ ? chunk_left_ : remaining;
  size_t planned = 0;
  const OutChunk* file = nullptr;
  size_t file_off = 0, file_len = 0;
  for (size_t i = idx, pieces = 0; i < body.size() && budget > 0; ++i) {
    const OutChunk& c = body[i];
    const size_t o = i == idx ? off : 0;
    const size_t n = size_t(std::min<uint64_t>(c.len - o, budget));
    if (n == 0) continue;
    if (c.fd >= 0) {
      if (planned > 0) break;  // in the next call
      if (!use_sendfile) {
        ssize_t got = ::pread(c.fd, tmp, std::min(n, sizeof tmp), c.offset + off_t(o));
        if (got <= 0) {
          file_error_ = got < 0 ? errno : 0;
          return IoResult::ended();
        }
        iov[cnt++] = {tmp, size_t(got)};
        planned = size_t(got);
      } else if (prefix == 0) {
        file = &c;
        file_off = o;
        file_len = n;
      }
      break;
    }
    if (pieces == kMaxDataPieces) break;
    iov[cnt++] = {const_cast<char*>(c.data) + o, n};
    planned += n;
    budget -= n;
    ++pieces;
  }

  if (file) return send_file(r, t, *file, file_off, file_len, last && file_len == remaining);

  // What follows the data if all of it goes: the chunk's CRLF, the end of the body.
  const bool completes = planned > 0 && planned == remaining && last;
  const char* suffix = nullptr;
  size_t suffix_len = 0;
  bool suffix_is_tail = false;
  if (chunked_ && planned > 0 && planned == chunk_left_) {
    if (completes && trailers_) {
      const std::string& t = build_tail(r, true);
      tail_len_ = 0;  // owed only if this write does not take it all (below)
      suffix = t.data();
      suffix_len = t.size();
      suffix_is_tail = true;
    } else {
      suffix = completes ? kChunkEndAndLast : kChunkEnd;
      suffix_len = completes ? sizeof kChunkEndAndLast - 1 : 2;
    }
    iov[cnt++] = {const_cast<char*>(suffix), suffix_len};
  }
  if (cnt == 0) return IoResult::moved(0);  // nothing owed, nothing given

  // More follows at once (a file range after these bytes): let the kernel coalesce.
  const bool more = planned < remaining;
  IoResult w = t.writev(iov, cnt, more);
  if (!w.progress()) return w;
  size_t left = w.bytes();
  r.bytes_sent += left;
  const size_t head_taken = std::min(left, head_part);
  head_off_ += uint32_t(head_taken);
  left -= head_taken;
  r.body_bytes_sent += w.bytes() - head_taken;
  const size_t frame_taken = std::min(left, frame_part);
  frame_off_ = uint8_t(frame_off_ + frame_taken);
  left -= frame_taken;
  const size_t tail_taken = std::min(left, tail_part);
  tail_off_ += uint32_t(tail_taken);
  left -= tail_taken;
  const size_t data_taken = std::min(left, planned);
  left -= data_taken;
  if (chunked_) chunk_left_ -= data_taken;
  if (data_taken == planned && planned > 0) {
    if (suffix_is_tail) {
      if (left < suffix_len) {
        tail_off_ = uint32_t(left);
        tail_len_ = uint32_t(suffix_len);
      }
      ended_ = true;
    } else if (suffix) {
      if (left < suffix_len) add_frame(suffix + left, suffix_len - left);
      if (completes) ended_ = true;
    } else if (completes) {
      ended_ = true;  // Content-Length or until-close: the last byte is the end
    }
  }
  return IoResult::moved(data_taken);
}

}  // namespace portico::http
