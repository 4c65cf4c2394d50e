#include "auth/password.h"

#include <gtest/gtest.h>

#include <string>

#include "core/base64.h"
#include "http/basic_credentials.h"

namespace portico::auth {

namespace {
bool ok(std::string_view password, std::string_view stored) {
  return check_password(password, stored) == PasswordCheck::kMatch;
}
}  // namespace

// Expected values from `openssl passwd -apr1 -salt ...` and Apache's htpasswd.
TEST(Password, Apr1MatchesOpenssl) {
  EXPECT_EQ(apr1_crypt("password", "$apr1$salt$"), "$apr1$salt$Xxd1irWT9ycqoYxGFn4cb.");
  EXPECT_EQ(apr1_crypt("a much longer password than sixteen bytes", "$apr1$abcdefgh$zzz"),
            "$apr1$abcdefgh$Eqv4oIyMsS.tjfvQCJYY1/");
  EXPECT_EQ(apr1_crypt("", "$apr1$x"), "$apr1$x$tMwYqBfQwi3FYAr0aJc8M/");
  // At most 8 salt characters.
  EXPECT_EQ(apr1_crypt("password", "$apr1$abcdefghij$").substr(0, 15), "$apr1$abcdefgh$");
  EXPECT_TRUE(ok("password", "$apr1$salt$Xxd1irWT9ycqoYxGFn4cb."));
  EXPECT_FALSE(ok("Password", "$apr1$salt$Xxd1irWT9ycqoYxGFn4cb."));
  EXPECT_FALSE(ok("password", "$apr1$"));
}

TEST(Password, LibcryptSchemes) {
  EXPECT_TRUE(ok("password", "$1$salt$qJH7.N4xYta3aEG/dfqo/0"));
  EXPECT_TRUE(ok("password",
                 "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc."
                 "eoxqOmSuNp2xS0ktL3nh/"));
  EXPECT_TRUE(ok("password", "$5$saltsalt$gOjOtoMpVhru2uyjeJSEc/JaLQWOXMNmlOnj6T4AtC."));
  EXPECT_TRUE(ok("password", "$2y$05$LD0i8OpDamUpwjf4I3crfu51N/IlY3xzCpmbXi.gpTQXz2NqbvqMy"));
  EXPECT_TRUE(ok("password", "$y$j9T$saltsaltsalt$WJhblAc/BKcuw1LHqgcyvlsjC8J4ha9Wl82.5/aQSy8"));
  EXPECT_TRUE(ok("password", "sa3tHJ3/KuYvI"));  // DES, as crypt('password', 'sa')
  EXPECT_FALSE(ok("wrong", "$2y$05$LD0i8OpDamUpwjf4I3crfu51N/IlY3xzCpmbXi.gpTQXz2NqbvqMy"));
  EXPECT_FALSE(ok("wrong",
                  "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterL"
                  "p8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/"));
  // Settings no scheme accepts, and NULs, never match.
  EXPECT_FALSE(ok("password", "$1$"));
  EXPECT_FALSE(ok("password", ""));
  EXPECT_FALSE(ok("password", "!!"));
  EXPECT_FALSE(ok(std::string("pass\0word", 9), "$1$salt$qJH7.N4xYta3aEG/dfqo/0"));
}

TEST(Password, LdapSchemes) {
  EXPECT_TRUE(ok("password", "{PLAIN}password"));
  EXPECT_FALSE(ok("passwor", "{PLAIN}password"));
  EXPECT_TRUE(ok("password", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="));
  EXPECT_FALSE(ok("password", "{SHA}_____Mm5Pz8GgiULbPgzG37mj9g="));
  EXPECT_FALSE(ok("password", "{SHA}Zm9vCg=="));
  EXPECT_TRUE(ok("password", "{SSHA}yI6cZwQadOA1e+/f+T+H3eCQQhRzYWx0"));
  EXPECT_FALSE(ok("password", "{SSHA}_____wQadOA1e+/f+T+H3eCQQhRzYWx0"));
  EXPECT_FALSE(ok("password", "{SSHA}Zm9vCg=="));
  EXPECT_FALSE(ok("other", "{SSHA}yI6cZwQadOA1e+/f+T+H3eCQQhRzYWx0"));
}

TEST(UserFileScanner, FindsTheExactName) {
  const std::string file =
      "# comment: alice:nope\n"
      "\r\n"
      "\n"
      "alic:short\n"
      "alicee:long\n"
      "alice:secret:a comment\n"
      "alice:second\n";
  UserFileScanner s("alice");
  ASSERT_TRUE(s.feed(file));
  EXPECT_EQ(s.password(), "secret");
}

TEST(UserFileScanner, PiecesAndTheLastLine) {
  const std::string file = "bob:one\nalice:two";  // no newline at the end
  UserFileScanner s("alice");
  for (char c : file) ASSERT_FALSE(s.feed(std::string_view(&c, 1)));
  EXPECT_TRUE(s.finish());
  EXPECT_EQ(s.password(), "two");

  UserFileScanner crlf("bob");
  EXPECT_TRUE(crlf.feed("bob:three\r\n"));
  EXPECT_EQ(crlf.password(), "three");

  UserFileScanner missing("carol");
  EXPECT_FALSE(missing.feed(file));
  EXPECT_FALSE(missing.finish());
}

TEST(UserFileScanner, LongPasswordNeverMatches) {
  UserFileScanner s("u");
  const std::string pw(5000, 'x');
  ASSERT_TRUE(s.feed("u:{PLAIN}" + pw + "\n"));
  EXPECT_FALSE(ok(pw, s.password()));
}

TEST(BasicCredentials, Parse) {
  std::string user, password;
  std::string enc;
  base64_encode("alice:open:sesame", enc);
  ASSERT_TRUE(http::parse_basic_credentials("Basic " + enc, &user, &password));
  EXPECT_EQ(user, "alice");
  EXPECT_EQ(password, "open:sesame");
  EXPECT_TRUE(http::parse_basic_credentials("bAsIc    " + enc, &user, &password));
  EXPECT_FALSE(http::parse_basic_credentials("Bearer " + enc, &user, &password));
  EXPECT_FALSE(http::parse_basic_credentials("Basic", &user, &password));
  EXPECT_FALSE(http::parse_basic_credentials("Basic ", &user, &password));
  EXPECT_FALSE(http::parse_basic_credentials("Basic !!!!", &user, &password));
  enc.clear();
  base64_encode(":nouser", enc);
  EXPECT_FALSE(http::parse_basic_credentials("Basic " + enc, &user, &password));
  enc.clear();
  base64_encode("nocolon", enc);
  EXPECT_FALSE(http::parse_basic_credentials("Basic " + enc, &user, &password));
  // Unpadded base64 is accepted, as nginx.
  EXPECT_TRUE(http::parse_basic_credentials("Basic dTpw", &user, &password));
  EXPECT_TRUE(http::parse_basic_credentials("Basic dTpwdw", &user, &password));
  EXPECT_EQ(password, "pw");
}

TEST(Base64, RoundTrip) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    std::string enc, dec;
    base64_encode(s, enc);
    ASSERT_TRUE(base64_decode(enc, dec)) << enc;
    EXPECT_EQ(dec, s);
  }
  std::string enc;
  base64_encode("foobar", enc);
  EXPECT_EQ(enc, "Zm9vYmFy");
  enc.clear();
  base64_encode("fo", enc);
  EXPECT_EQ(enc, "Zm8=");
  std::string dec;
  EXPECT_FALSE(base64_decode("Z", dec));
  EXPECT_FALSE(base64_decode("Zm9v!", dec));
}

}  // namespace portico::auth
