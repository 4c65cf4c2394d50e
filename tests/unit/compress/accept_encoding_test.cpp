#include "compress/accept_encoding.h"

#include <gtest/gtest.h>

namespace portico::compress {
namespace {

TEST(AcceptEncoding, Weights) {
  AcceptEncoding a = parse_accept_encoding("gzip, deflate, br");
  EXPECT_EQ(a.gzip, 1000);
  EXPECT_EQ(a.br, 1000);
  EXPECT_EQ(a.zstd, -1);
  a = parse_accept_encoding("gzip;q=0.5, br; q=0.25 ,zstd;Q=1.0");
  EXPECT_EQ(a.gzip, 500);
  EXPECT_EQ(a.br, 250);
  EXPECT_EQ(a.zstd, 1000);
}

TEST(AcceptEncoding, ZeroRefuses) {
  for (const char* v : {"gzip;q=0", "gzip;q=0.0", "gzip; q=0.000", "gzip;q=bad", "gzip;q=1.5",
                        "gzip;q=0.0001", "gzip;q=", "identity", "*", "x-gzip", "gzipx", ""}) {
    SCOPED_TRACE(v);
    EXPECT_FALSE(parse_accept_encoding(v).accepts(Coding::kGzip));
  }
}

TEST(AcceptEncoding, Accepts) {
  for (const char* v : {"gzip", "GZip", " gzip ", "gzip;q=0.001", "deflate,gzip", "gzip;level=1",
                        "br;q=0, gzip;q=1", "gzip;foo;q=1"}) {
    SCOPED_TRACE(v);
    EXPECT_TRUE(parse_accept_encoding(v).accepts(Coding::kGzip));
  }
}

TEST(AcceptEncoding, FirstMentionCounts) {
  AcceptEncoding a = parse_accept_encoding("gzip;q=0, gzip");
  EXPECT_EQ(a.gzip, 0);
}

TEST(AcceptEncoding, QValue) {
  EXPECT_EQ(parse_qvalue("1"), 1000);
  EXPECT_EQ(parse_qvalue("1.000"), 1000);
  EXPECT_EQ(parse_qvalue("0.5"), 500);
  EXPECT_EQ(parse_qvalue("0.123"), 123);
  EXPECT_EQ(parse_qvalue("1.001"), -1);
  EXPECT_EQ(parse_qvalue("2"), -1);
  EXPECT_EQ(parse_qvalue(".5"), -1);
  EXPECT_EQ(parse_qvalue("0.1234"), -1);
  EXPECT_EQ(parse_qvalue(""), -1);
}

TEST(AcceptEncoding, Choice) {
  const unsigned all =
      coding_bit(Coding::kGzip) | coding_bit(Coding::kBrotli) | coding_bit(Coding::kZstd);
  EXPECT_EQ(choose_coding(parse_accept_encoding("gzip, br, zstd"), all), Coding::kBrotli);
  EXPECT_EQ(choose_coding(parse_accept_encoding("gzip, zstd"), all), Coding::kZstd);
  EXPECT_EQ(choose_coding(parse_accept_encoding("br;q=0.5, gzip"), all), Coding::kGzip);
  EXPECT_EQ(choose_coding(parse_accept_encoding("br;q=0.5, gzip;q=0.4"), all), Coding::kBrotli);
  EXPECT_EQ(choose_coding(parse_accept_encoding("br, gzip"), coding_bit(Coding::kGzip)),
            Coding::kGzip);
  EXPECT_EQ(choose_coding(parse_accept_encoding("br;q=0"), all), Coding::kNone);
  EXPECT_EQ(choose_coding(parse_accept_encoding(""), all), Coding::kNone);
  EXPECT_EQ(choose_coding(parse_accept_encoding("gzip"), 0), Coding::kNone);
}

}  // namespace
}  // namespace portico::compress
