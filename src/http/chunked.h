// Incremental decoder for the chunked transfer coding of a request body (RFC 9112 7.1).
//
// The body arrives in pieces across reads; decode() takes whatever bytes are there, writes the
// chunk data out and remembers where it is in the framing, so a piece may end anywhere (in a
// size, an extension, a CRLF, data or a trailer). It can decode in place (out == in): data is
// only ever moved towards the front.
//
// Strict, never guessing the framing: lines end in CRLF (a bare LF or bare CR is an error, unlike
// in the request head, because a chunked body read differently by two hops is request
// smuggling); chunk-size is 1*HEXDIG below 2^62; extensions must follow the RFC grammar
// (";" name ["=" token / quoted-string], with optional whitespace around ";" and "=") and are
// ignored; trailer fields must be well-formed field lines and are discarded, at most
// max_trailer_bytes of them.
//
// Owned by the connection reading the body (one worker thread). Body size limits
// (client_max_body_size) are the caller's: check total_body() after each decode().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace portico::http {

class ChunkedDecoder {
 public:
  struct Result {
    size_t consumed;  // input bytes used; all of `in` unless done or error
    size_t data_len;  // body bytes written to `out`
    bool done;        // the last chunk and the trailer section have ended
    bool error;       // malformed: answer 400 and close
  };

  // Decodes from `in`, writing body bytes to `out`. `out` may alias `in` (in-place decoding);
  // REQUIRES: out has room for in.size() bytes.
  // Once done, bytes after the final CRLF are not consumed: they are the next pipelined request.
  // After done or error, further calls consume nothing and report the same state.
  Result decode(std::string_view in, char* out);

  // Body bytes decoded so far.
  uint64_t total_body() const { return total_; }
  bool done() const { return state_ == State::kDone; }
  // Ready for a new body; keeps the limits.
  void reset();

  size_t max_trailer_bytes = 8192;  // the whole trailer section, CRLFs included
  size_t max_chunk_line = 4096;     // chunk-size line with extensions, CRLF excluded

 private:
  enum class State : uint8_t {
    kSizeStart,      // expecting the first hex digit of a chunk-size
    kSize,           // in the hex digits
    kExtBws,         // BWS after the size or an extension, before ';' or CR
    kExtNameStart,   // after ';' (and BWS): expecting the extension name
    kExtName,        // in the name
    kExtAfterName,   // BWS after the name: '=', ';' or CR
    kExtValueStart,  // after '=' (and BWS): token or quoted-string
    kExtToken,       // in a token value
    kExtQuoted,      // in a quoted-string
    kExtQuotedPair,  // after '\' in a quoted-string
    kExtAfterValue,  // after the closing quote: ';', BWS or CR
    kSizeLf,         // CR seen at the end of the size line
    kData,           // in chunk data, remaining_ bytes left
    kDataCr,         // expecting CR after data
    kDataLf,         // expecting LF after data
    kTrailerStart,   // at the start of a trailer line (or the final CRLF)
    kTrailerName,    // in a trailer field name
    kTrailerValue,   // in a trailer field value
    kTrailerLf,      // CR seen at the end of a trailer line
    kFinalLf,        // CR seen on the empty line that ends the trailer section
    kDone,
    kError,
  };

  bool size_line_byte();  // counts a byte of the size line; false when over max_chunk_line

  State state_ = State::kSizeStart;
  uint64_t size_ = 0;       // chunk-size being read
  uint64_t remaining_ = 0;  // data bytes left in the current chunk
  uint64_t total_ = 0;
  size_t line_len_ = 0;     // bytes of the current size line
  size_t trailer_len_ = 0;  // bytes of the trailer section so far
};

}  // namespace portico::http
