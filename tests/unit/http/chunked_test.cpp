#include "http/chunked.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace portico::http {
namespace {

using namespace std::string_literals;

struct Decoded {
  std::string body;
  size_t consumed = 0;
  bool done = false;
  bool error = false;
};

// Decodes `in` in one call into a separate buffer.
Decoded decode_all(std::string_view in, ChunkedDecoder* dec = nullptr) {
  ChunkedDecoder local;
  if (dec == nullptr) dec = &local;
  std::vector<char> out(in.size() + 1);
  const ChunkedDecoder::Result r = dec->decode(in, out.data());
  EXPECT_LE(r.consumed, in.size());
  EXPECT_LE(r.data_len, r.consumed);
  return Decoded{std::string(out.data(), r.data_len), r.consumed, r.done, r.error};
}

// Decodes `in` in pieces of `step` bytes, handing on only the unconsumed rest of each piece
// (as a connection does), stopping at done or error.
Decoded decode_stepwise(std::string_view in, size_t step) {
  ChunkedDecoder dec;
  Decoded d;
  std::vector<char> out(step);
  size_t pos = 0;
  while (pos < in.size() && !d.done && !d.error) {
    const std::string_view piece = in.substr(pos, step);
    const ChunkedDecoder::Result r = dec.decode(piece, out.data());
    d.body.append(out.data(), r.data_len);
    d.consumed += r.consumed;
    d.done = r.done;
    d.error = r.error;
    pos += r.consumed;
    if (!r.done && !r.error) {
      EXPECT_EQ(r.consumed, piece.size());
    }
  }
  EXPECT_EQ(dec.total_body(), d.body.size());
  return d;
}

void expect_body(std::string_view in, std::string_view body, size_t trailing = 0) {
  for (size_t step : {size_t(0), size_t(1), size_t(2), size_t(3), size_t(7), in.size()}) {
    const Decoded d = step == 0 ? decode_all(in) : decode_stepwise(in, step);
    EXPECT_FALSE(d.error) << "step " << step << " " << in;
    EXPECT_TRUE(d.done) << "step " << step << " " << in;
    EXPECT_EQ(d.body, body) << "step " << step;
    EXPECT_EQ(d.consumed, in.size() - trailing) << "step " << step;
  }
}

void expect_error(std::string_view in) {
  for (size_t step : {size_t(0), size_t(1), size_t(5), in.size()}) {
    const Decoded d = step == 0 ? decode_all(in) : decode_stepwise(in, step);
    EXPECT_TRUE(d.error) << "step " << step << ": " << in;
    EXPECT_FALSE(d.done);
  }
}

TEST(HttpChunked, Simple) {
  expect_body("5\r\nhello\r\n0\r\n\r\n", "hello");
  expect_body("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world");
  expect_body("0\r\n\r\n", "");
  expect_body("a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij");
  expect_body("000005\r\nhello\r\n000\r\n\r\n", "hello");
  expect_body("1f\r\n" + std::string(31, 'x') + "\r\n0\r\n\r\n", std::string(31, 'x'));
  expect_body("3\r\n\r\n\r\r\n0\r\n\r\n", "\r\n\r");  // data may hold anything
  expect_body("3\r\n\0\0\0\r\n0\r\n\r\n"s, "\0\0\0"s);
}

TEST(HttpChunked, StopsAtTheNextRequest) {
  const std::string next = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
  expect_body("5\r\nhello\r\n0\r\n\r\n" + next, "hello", next.size());
  ChunkedDecoder dec;
  const std::string in = "2\r\nab\r\n0\r\nX-T: 1\r\n\r\nGET";
  std::vector<char> out(in.size());
  const auto r = dec.decode(in, out.data());
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.consumed, in.size() - 3);
  EXPECT_EQ(r.data_len, 2u);
  EXPECT_TRUE(dec.done());
  // Done is sticky and consumes nothing more.
  const auto again = dec.decode("1\r\na\r\n", out.data());
  EXPECT_TRUE(again.done);
  EXPECT_EQ(again.consumed, 0u);
  EXPECT_EQ(again.data_len, 0u);
}

TEST(HttpChunked, InPlace) {
  std::string buf = "4\r\nWiki\r\n5;x=y\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\nNEXT";
  ChunkedDecoder dec;
  const auto r = dec.decode(buf, buf.data());
  ASSERT_FALSE(r.error);
  ASSERT_TRUE(r.done);
  EXPECT_EQ(buf.substr(0, r.data_len), "Wikipedia in\r\n\r\nchunks.");
  EXPECT_EQ(buf.substr(r.consumed), "NEXT");
  EXPECT_EQ(dec.total_body(), 23u);
}

TEST(HttpChunked, InPlaceAcrossReads) {
  const std::string in = "3\r\nabc\r\n4;e=1\r\ndefg\r\n0\r\nT: v\r\n\r\n";
  for (size_t cut = 0; cut <= in.size(); ++cut) {
    ChunkedDecoder dec;
    std::string first = in.substr(0, cut), second = in.substr(cut);
    const auto r1 = dec.decode(first, first.data());
    ASSERT_FALSE(r1.error) << cut;
    std::string body = first.substr(0, r1.data_len);
    if (!r1.done) {
      ASSERT_EQ(r1.consumed, first.size());
      const auto r2 = dec.decode(second, second.data());
      ASSERT_FALSE(r2.error) << cut;
      ASSERT_TRUE(r2.done) << cut;
      EXPECT_EQ(r2.consumed, second.size());
      body += second.substr(0, r2.data_len);
    }
    EXPECT_EQ(body, "abcdefg") << cut;
  }
}

TEST(HttpChunked, OneByteAtATimeIsIdentical) {
  const std::string in =
      "7;ext=\"quoted \\\" value\"\r\nchunk-1\r\n10 ; a ; b = c\r\n0123456789abcdef\r\n"
      "0;last\r\nX-Checksum: abc\r\nX-Other:\r\n\r\n";
  const Decoded whole = decode_all(in);
  ASSERT_FALSE(whole.error);
  ASSERT_TRUE(whole.done);
  EXPECT_EQ(whole.body, "chunk-10123456789abcdef");
  for (size_t step = 1; step <= in.size(); ++step) {
    const Decoded d = decode_stepwise(in, step);
    EXPECT_FALSE(d.error) << step;
    EXPECT_TRUE(d.done) << step;
    EXPECT_EQ(d.body, whole.body) << step;
    EXPECT_EQ(d.consumed, whole.consumed) << step;
  }
}

TEST(HttpChunked, Extensions) {
  for (const char* ext :
       {";a", ";a=b", ";a=\"b\"", ";a=\"\"", ";a=\"x;y=z\\\\\"", ";a;b;c=d", " ;a", "\t;a", "; a",
        ";a =b", ";a= b", ";a = b ;c", ";a=\"\xff\tq\"", ";!#$%&'*+-.^_`|~=~"}) {
    expect_body(std::string("3") + ext + "\r\nabc\r\n0" + ext + "\r\n\r\n", "abc");
  }
  for (const char* ext :
       {";", ";=b", "; ", ";a=", ";a= ", ";a=b c", ";a=\"b", ";a=\"b\"c", ";a=b;", ";a ", ";a=b ",
        ";a=\"\x01\"", ";a=(b)", "x", " ", "\t", ";a@b", ";a=\"\\\x01\""}) {
    expect_error(std::string("3") + ext + "\r\nabc\r\n0\r\n\r\n");
  }
}

TEST(HttpChunked, Trailers) {
  expect_body("1\r\nz\r\n0\r\nX-A: 1\r\nX-B:  two words \r\n\r\n", "z");
  expect_body("0\r\nEmpty:\r\n\r\n", "");
  expect_error("0\r\nX-A: 1\r\n folded\r\n\r\n");
  expect_error("0\r\n X-A: 1\r\n\r\n");
  expect_error("0\r\nX-A 1\r\n\r\n");
  expect_error("0\r\n: 1\r\n\r\n");
  expect_error("0\r\nX-A : 1\r\n\r\n");
  expect_error("0\r\nX-A: a\x01\r\n\r\n");
  expect_error("0\r\nX-A: a\rb\r\n\r\n");
  expect_error("0\r\nX-A: 1\n\r\n");
  expect_error("0\r\n\n");
  expect_error("0\r\n\rx");
}

TEST(HttpChunked, TrailerLimit) {
  // "X: " + value + CRLF + CRLF is the whole trailer section.
  const std::string exact = "0\r\nX: " + std::string(11, 'v') + "\r\n\r\n";  // 3 + 11 + 4 = 18
  ChunkedDecoder dec;
  dec.max_trailer_bytes = 18;
  Decoded d = decode_all(exact, &dec);
  EXPECT_TRUE(d.done);
  EXPECT_FALSE(d.error);
  ChunkedDecoder small;
  small.max_trailer_bytes = 17;
  d = decode_all(exact, &small);
  EXPECT_TRUE(d.error);
  // Endless trailers are cut off once the limit is passed, without waiting for a line end.
  ChunkedDecoder endless;
  d = decode_all("0\r\nX: " + std::string(9000, 'v'), &endless);
  EXPECT_TRUE(d.error);
  EXPECT_EQ(d.consumed, 3u + 8192u);
}

TEST(HttpChunked, Errors) {
  expect_error("g\r\nabc\r\n0\r\n\r\n");
  expect_error("\r\nabc\r\n0\r\n\r\n");  // empty size line
  expect_error("-1\r\na\r\n0\r\n\r\n");
  expect_error("+1\r\na\r\n0\r\n\r\n");
  expect_error("0x1\r\na\r\n0\r\n\r\n");
  expect_error("1 \r\na\r\n0\r\n\r\n");  // whitespace must lead to ';'
  expect_error(" 1\r\na\r\n0\r\n\r\n");
  expect_error("3\r\nabcd\r\n0\r\n\r\n");  // data longer than announced
  expect_error("3\r\nabc0\r\n\r\n");       // missing CRLF after data
  expect_error("3\r\nabc\n0\r\n\r\n");     // bare LF after data
  expect_error("3\nabc\r\n0\r\n\r\n");     // bare LF after size
  expect_error("3\rabc\r\n0\r\n\r\n");     // bare CR
  expect_error("3\r\nabc\r\r\n0\r\n\r\n");
  expect_error("3\0\r\nabc\r\n0\r\n\r\n"s);  // NUL
  expect_error("3;a=\0\r\nabc\r\n0\r\n\r\n"s);
  expect_error("0\r\n\r\r\n");               // bare CR in the final line
  expect_error("4000000000000000\r\n");      // 2^62
  expect_error("10000000000000000000\r\n");  // 2^76
  expect_error("ffffffffffffffffffffffffffffff\r\n");
}

TEST(HttpChunked, LargestSize) {
  ChunkedDecoder dec;
  std::vector<char> out(64);
  const auto r = dec.decode("3fffffffffffffff\r\nabc", out.data());  // 2^62 - 1
  EXPECT_FALSE(r.error);
  EXPECT_FALSE(r.done);
  EXPECT_EQ(r.data_len, 3u);
  EXPECT_EQ(dec.total_body(), 3u);
}

TEST(HttpChunked, SizeLineLimit) {
  ChunkedDecoder dec;
  dec.max_chunk_line = 10;
  Decoded d = decode_all("1;a=123456\r\nx\r\n0\r\n\r\n", &dec);  // exactly 10
  EXPECT_TRUE(d.done);
  EXPECT_EQ(d.body, "x");
  ChunkedDecoder over;
  over.max_chunk_line = 10;
  d = decode_all("1;a=1234567\r\nx\r\n0\r\n\r\n", &over);
  EXPECT_TRUE(d.error);
  ChunkedDecoder zeros;
  zeros.max_chunk_line = 10;
  d = decode_all("00000000001\r\nx\r\n0\r\n\r\n", &zeros);
  EXPECT_TRUE(d.error);
  // Default: an extension of 5000 bytes is too long, cut off before the line ends.
  ChunkedDecoder def;
  d = decode_all("1;a=" + std::string(5000, 'x'), &def);
  EXPECT_TRUE(d.error);
  EXPECT_EQ(d.consumed, 4096u);
}

TEST(HttpChunked, ErrorIsStickyAndResetClears) {
  ChunkedDecoder dec;
  std::vector<char> out(64);
  auto r = dec.decode("zz\r\n", out.data());
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.consumed, 0u);
  r = dec.decode("1\r\na\r\n0\r\n\r\n", out.data());
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.consumed, 0u);
  dec.reset();
  r = dec.decode("1\r\na\r\n0\r\n\r\n", out.data());
  EXPECT_FALSE(r.error);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.data_len, 1u);
  EXPECT_EQ(dec.total_body(), 1u);
  dec.reset();
  EXPECT_EQ(dec.total_body(), 0u);
  EXPECT_FALSE(dec.done());
}

TEST(HttpChunked, ErrorPosition) {
  ChunkedDecoder dec;
  std::vector<char> out(64);
  const auto r = dec.decode("2\r\nab\r\n3\r\nxyzQ", out.data());
  EXPECT_TRUE(r.error);
  EXPECT_EQ(r.consumed, 13u);  // at the 'Q'
  EXPECT_EQ(r.data_len, 5u);
  EXPECT_EQ(std::string(out.data(), 5), "abxyz");
}

TEST(HttpChunked, TotalBodyAcrossChunks) {
  ChunkedDecoder dec;
  std::vector<char> out(64);
  auto r = dec.decode("a\r\n01234", out.data());
  EXPECT_EQ(r.data_len, 5u);
  EXPECT_EQ(dec.total_body(), 5u);
  r = dec.decode("56789\r\n2\r\nab", out.data());
  EXPECT_EQ(r.data_len, 7u);
  EXPECT_EQ(dec.total_body(), 12u);
  EXPECT_FALSE(r.done);
}

}  // namespace
}  // namespace portico::http
