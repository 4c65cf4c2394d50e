// Chunked body decoder: a byte-at-a-time state machine for the framing (few bytes per chunk)
// and one memmove per piece of chunk data.
#include "http/chunked.h"

#include <array>
#include <cstring>

namespace portico::http {
namespace {

using CharTable = std::array<bool, 256>;

constexpr bool is_alnum(unsigned c) {
  return ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9');
}

// tchar (RFC 9110 5.6.2): extension names, token values, trailer field names.
constexpr CharTable kTchar = [] {
  CharTable t{};
  for (unsigned c = 0; c < 256; ++c) t[c] = is_alnum(c);
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<uint8_t>(c)] = true;
  return t;
}();

// qdtext (RFC 9110 5.6.4): HTAB, SP, VCHAR except '"' and '\', obs-text.
constexpr CharTable kQdtext = [] {
  CharTable t{};
  for (unsigned c = 0; c < 256; ++c) t[c] = (c >= 0x20 && c != 0x7f) || c == '\t';
  t['"'] = false;
  t['\\'] = false;
  return t;
}();

// field-value bytes and the second byte of a quoted-pair: HTAB, SP, VCHAR, obs-text.
constexpr CharTable kValueChar = [] {
  CharTable t{};
  for (unsigned c = 0; c < 256; ++c) t[c] = (c >= 0x20 && c != 0x7f) || c == '\t';
  return t;
}();

constexpr int hex_value(char ch) {
  const auto c = static_cast<uint8_t>(ch);
  if (c >= '0' && c <= '9') return c - '0';
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') return (c | 0x20) - 'a' + 10;
  return -1;
}

inline bool is_in(const CharTable& t, char c) {
  return t[static_cast<uint8_t>(c)];
}
inline bool is_ws(char c) {
  return c == ' ' || c == '\t';
}

// chunk-size must stay below 2^62: a size with this bit set before the next shift would not.
constexpr uint64_t kSizeShiftLimit = uint64_t(1) << 58;

}  // namespace

void ChunkedDecoder::reset() {
  state_ = State::kSizeStart;
  size_ = remaining_ = total_ = 0;
  line_len_ = trailer_len_ = 0;
}

bool ChunkedDecoder::size_line_byte() {
  return ++line_len_ <= max_chunk_line;
}

ChunkedDecoder::Result ChunkedDecoder::decode(std::string_view in, char* out) {
  if (state_ == State::kDone) return {0, 0, true, false};
  if (state_ == State::kError) return {0, 0, false, true};

  const char* const src = in.data();
  const size_t n = in.size();
  size_t i = 0;  // next input byte
  size_t w = 0;  // next output byte; w <= i always, so in-place moves only go backwards
  const auto fail = [&] {
    state_ = State::kError;
    return Result{i, w, false, true};
  };

  while (i < n) {
    if (state_ == State::kData) {
      size_t take = n - i;
      if (take > remaining_) take = size_t(remaining_);
      if (out + w != src + i) std::memmove(out + w, src + i, take);
      i += take;
      w += take;
      remaining_ -= take;
      total_ += take;
      if (remaining_ == 0) state_ = State::kDataCr;
      continue;
    }

    const char c = src[i];
    switch (state_) {
      case State::kSizeStart: {
        const int d = hex_value(c);
        if (d < 0) return fail();
        size_ = uint64_t(d);
        line_len_ = 0;
        if (!size_line_byte()) return fail();
        state_ = State::kSize;
        break;
      }
      case State::kSize: {
        if (c == '\r') {
          state_ = State::kSizeLf;
          break;
        }
        if (!size_line_byte()) return fail();
        const int d = hex_value(c);
        if (d >= 0) {
          if (size_ >= kSizeShiftLimit) return fail();
          size_ = size_ << 4 | uint64_t(d);
        } else if (c == ';') {
          state_ = State::kExtNameStart;
        } else if (is_ws(c)) {
          state_ = State::kExtBws;
        } else {
          return fail();
        }
        break;
      }
      case State::kExtBws:  // BWS ";": whitespace must lead to another extension
        if (!size_line_byte()) return fail();
        if (c == ';')
          state_ = State::kExtNameStart;
        else if (!is_ws(c))
          return fail();
        break;
      case State::kExtNameStart:
        if (!size_line_byte()) return fail();
        if (is_in(kTchar, c))
          state_ = State::kExtName;
        else if (!is_ws(c))
          return fail();
        break;
      case State::kExtName:
        if (c == '\r') {
          state_ = State::kSizeLf;
          break;
        }
        if (!size_line_byte()) return fail();
        if (c == '=')
          state_ = State::kExtValueStart;
        else if (c == ';')
          state_ = State::kExtNameStart;
        else if (is_ws(c))
          state_ = State::kExtAfterName;
        else if (!is_in(kTchar, c))
          return fail();
        break;
      case State::kExtToken:
      case State::kExtAfterValue:
        if (c == '\r') {
          state_ = State::kSizeLf;
          break;
        }
        if (!size_line_byte()) return fail();
        if (c == ';')
          state_ = State::kExtNameStart;
        else if (is_ws(c))
          state_ = State::kExtBws;
        else if (state_ != State::kExtToken || !is_in(kTchar, c))
          return fail();
        break;
      case State::kExtAfterName:
        if (!size_line_byte()) return fail();
        if (c == '=')
          state_ = State::kExtValueStart;
        else if (c == ';')
          state_ = State::kExtNameStart;
        else if (!is_ws(c))
          return fail();
        break;
      case State::kExtValueStart:
        if (!size_line_byte()) return fail();
        if (c == '"')
          state_ = State::kExtQuoted;
        else if (is_in(kTchar, c))
          state_ = State::kExtToken;
        else if (!is_ws(c))
          return fail();
        break;
      case State::kExtQuoted:
        if (!size_line_byte()) return fail();
        if (c == '"')
          state_ = State::kExtAfterValue;
        else if (c == '\\')
          state_ = State::kExtQuotedPair;
        else if (!is_in(kQdtext, c))
          return fail();
        break;
      case State::kExtQuotedPair:
        if (!size_line_byte()) return fail();
        if (!is_in(kValueChar, c)) return fail();
        state_ = State::kExtQuoted;
        break;
      case State::kSizeLf:
        if (c != '\n') return fail();
        if (size_ == 0) {
          trailer_len_ = 0;
          state_ = State::kTrailerStart;
        } else {
          remaining_ = size_;
          state_ = State::kData;
        }
        break;
      case State::kDataCr:
        if (c != '\r') return fail();
        state_ = State::kDataLf;
        break;
      case State::kDataLf:
        if (c != '\n') return fail();
        state_ = State::kSizeStart;
        break;
      case State::kTrailerStart:
      case State::kTrailerName:
      case State::kTrailerValue:
      case State::kTrailerLf:
      case State::kFinalLf:
        if (++trailer_len_ > max_trailer_bytes) return fail();
        switch (state_) {
          case State::kTrailerStart:  // a field line (never obs-fold) or the final CRLF
            if (c == '\r')
              state_ = State::kFinalLf;
            else if (is_in(kTchar, c))
              state_ = State::kTrailerName;
            else
              return fail();
            break;
          case State::kTrailerName:
            if (c == ':')
              state_ = State::kTrailerValue;
            else if (!is_in(kTchar, c))
              return fail();
            break;
          case State::kTrailerValue:
            if (c == '\r')
              state_ = State::kTrailerLf;
            else if (!is_in(kValueChar, c))
              return fail();
            break;
          case State::kTrailerLf:
            if (c != '\n') return fail();
            state_ = State::kTrailerStart;
            break;
          default:  // kFinalLf
            if (c != '\n') return fail();
            state_ = State::kDone;
            return {i + 1, w, true, false};
        }
        break;
      case State::kData:
      case State::kDone:
      case State::kError:
        break;  // handled above
    }
    ++i;
  }
  return {i, w, false, false};
}

}  // namespace portico::http
