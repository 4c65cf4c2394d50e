// Accept-Encoding as the compression module reads it: the weight a client gives each coding we
// can produce (RFC 9110 12.5.3, 12.4.2), and the choice among them.
//
// As nginx (ngx_http_gzip_accept_encoding, ngx_brotli): a coding counts only when the client
// names it ("*" does not enable compression), and "q=0" (or an invalid weight, which nginx
// reads as 0) refuses it. Pure functions, no allocation: a request's header is parsed where it
// lies.
#pragma once

#include <cstdint>
#include <string_view>

namespace portico::compress {

// The codings portico produces, in the server's order of preference at equal weight.
enum class Coding : uint8_t { kNone = 0, kBrotli, kZstd, kGzip };

// Weights in thousandths (q=0.5 is 500); -1: the client did not name the coding.
struct AcceptEncoding {
  int16_t br = -1;
  int16_t zstd = -1;
  int16_t gzip = -1;

  int16_t weight(Coding c) const {
    switch (c) {
      case Coding::kBrotli:
        return br;
      case Coding::kZstd:
        return zstd;
      case Coding::kGzip:
        return gzip;
      case Coding::kNone:
        break;
    }
    return -1;
  }
  bool accepts(Coding c) const { return weight(c) > 0; }
};

// Parses an Accept-Encoding value (the fields of several header lines joined by ',' are one
// list). Unknown codings and parameters other than q are skipped; the first mention of a
// coding counts.
AcceptEncoding parse_accept_encoding(std::string_view value);

// A qvalue ("1", "0.5", "0.250"): thousandths, or -1 when it is not a valid qvalue.
int parse_qvalue(std::string_view v);

// The best of the codings allowed (bit 1 << Coding) that the client accepts: the highest
// weight, then br > zstd > gzip. kNone when none is accepted.
Coding choose_coding(const AcceptEncoding& ae, unsigned allowed);

constexpr unsigned coding_bit(Coding c) {
  return 1u << unsigned(c);
}

// The Content-Encoding token of a coding ("br", "zstd", "gzip").
std::string_view coding_name(Coding c);

}  // namespace portico::compress
