#include "config/lexer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace portico::config {
namespace {

// Renders every statement of `text` on one line: words separated by '|', quoted words in
// <angle brackets>, then the terminator (";", "{", "}"), or "EOF", or "ERROR msg @line".
std::vector<std::string> lex_all(std::string_view text, Lexer::Mode mode = Lexer::Mode::kFile) {
  Lexer lexer(text, mode);
  std::vector<std::string> out;
  std::vector<Token> words;
  for (;;) {
    LexStatus status = lexer.next(&words);
    std::string s;
    for (const Token& w : words) {
      if (!s.empty()) s += '|';
      s += w.quoted ? "<" + w.text + ">" : w.text;
    }
    switch (status) {
      case LexStatus::kSemicolon:
        out.push_back(s + ";");
        break;
      case LexStatus::kBlockStart:
        out.push_back(s + "{");
        break;
      case LexStatus::kBlockEnd:
        out.push_back(s + "}");
        break;
      case LexStatus::kEof:
        out.push_back("EOF");
        return out;
      case LexStatus::kError:
        out.push_back("ERROR " + lexer.error() + " @" + std::to_string(lexer.error_line()));
        return out;
    }
  }
}

using V = std::vector<std::string>;

TEST(ConfigLexer, SimpleStatements) {
  EXPECT_EQ(lex_all("worker_processes 2;"), (V{"worker_processes|2;", "EOF"}));
  EXPECT_EQ(lex_all("events { worker_connections 10; }\n"),
            (V{"events{", "worker_connections|10;", "}", "EOF"}));
  EXPECT_EQ(lex_all(""), (V{"EOF"}));
  EXPECT_EQ(lex_all("  \t\r\n\n"), (V{"EOF"}));
  EXPECT_EQ(lex_all("a\tb\r\nc\n;d{}"), (V{"a|b|c;", "d{", "}", "EOF"}));
  EXPECT_EQ(lex_all("http{server{}}"), (V{"http{", "server{", "}", "}", "EOF"}));
}

TEST(ConfigLexer, Comments) {
  EXPECT_EQ(lex_all("# top\nfoo a#b; # tail\n#last"), (V{"foo|a#b;", "EOF"}));
  // '#' at the start of a word comments out the rest of the line, even ';'.
  EXPECT_EQ(lex_all("foo a #b;\nc;"), (V{"foo|a|c;", "EOF"}));
  EXPECT_EQ(lex_all("foo \"#x\";"), (V{"foo|<#x>;", "EOF"}));
}

TEST(ConfigLexer, Quotes) {
  EXPECT_EQ(lex_all("a \"b c\" 'd e' \"\" '';"), (V{"a|<b c>|<d e>|<>|<>;", "EOF"}));
  EXPECT_EQ(lex_all("a \"x;{}#\";"), (V{"a|<x;{}#>;", "EOF"}));
  EXPECT_EQ(lex_all("a \"it's\" 'say \"hi\"';"), (V{"a|<it's>|<say \"hi\">;", "EOF"}));
  EXPECT_EQ(lex_all("a \"multi\nline\";"), (V{"a|<multi\nline>;", "EOF"}));
  // A quote inside a word is an ordinary character.
  EXPECT_EQ(lex_all("a b\"c\";"), (V{"a|b\"c\";", "EOF"}));
  // The closing quote may be followed directly by ';' or '{'.
  EXPECT_EQ(lex_all("\"a\"\"b\";"), (V{"ERROR unexpected \"\"\" @1"}));
  EXPECT_EQ(lex_all("location \"/x\"{}"), (V{"location|</x>{", "}", "EOF"}));
  EXPECT_EQ(lex_all("\"name\" x;"), (V{"<name>|x;", "EOF"}));
}

TEST(ConfigLexer, QuoteMustBeFollowedBySpace) {
  EXPECT_EQ(lex_all("foo \"a\"b;"), (V{"ERROR unexpected \"b\" @1"}));
  EXPECT_EQ(lex_all("\n\nfoo 'a'#;"), (V{"ERROR unexpected \"#\" @3"}));
  EXPECT_EQ(lex_all("foo \"a\"}"), (V{"ERROR unexpected \"}\" @1"}));
}

TEST(ConfigLexer, ParenthesisAfterQuote) {
  EXPECT_EQ(lex_all("if ($a = \"\") { }"), (V{"if|($a|=|<>|){", "}", "EOF"}));
  EXPECT_EQ(lex_all("if ($a = 'x')x;"), (V{"if|($a|=|<x>|)x;", "EOF"}));
}

TEST(ConfigLexer, EscapesInQuotes) {
  Lexer lexer(R"(a "x\"y" 'x\'y' "\\" "\t\r\n" "\d\." 'a\"b';)");
  std::vector<Token> w;
  ASSERT_EQ(lexer.next(&w), LexStatus::kSemicolon);
  ASSERT_EQ(w.size(), 7u);
  EXPECT_EQ(w[1].text, "x\"y");
  EXPECT_EQ(w[2].text, "x'y");
  EXPECT_EQ(w[3].text, "\\");
  EXPECT_EQ(w[4].text, "\t\r\n");
  EXPECT_EQ(w[5].text, "\\d\\.");  // regex escapes survive
  EXPECT_EQ(w[6].text, "a\"b");
}

TEST(ConfigLexer, BackslashInWords) {
  // The escaped character never ends the word; only \" \' \\ \t \r \n are translated.
  EXPECT_EQ(lex_all("a b\\ c;"), (V{"a|b\\ c;", "EOF"}));
  EXPECT_EQ(lex_all("a b\\;c;"), (V{"a|b\\;c;", "EOF"}));
  EXPECT_EQ(lex_all("a \\\"x\\\";"), (V{"a|\"x\";", "EOF"}));
  EXPECT_EQ(lex_all("a x\\ty\\\\;"), (V{"a|x\ty\\;", "EOF"}));
  EXPECT_EQ(lex_all("a \\{;"), (V{"a|\\{;", "EOF"}));
  EXPECT_EQ(lex_all("a \\}x;"), (V{"a|\\}x;", "EOF"}));
}

TEST(ConfigLexer, VariableBraces) {
  EXPECT_EQ(lex_all("return 200 \"${a}b\";"), (V{"return|200|<${a}b>;", "EOF"}));
  EXPECT_EQ(lex_all("set $x ${a}b;"), (V{"set|$x|${a}b;", "EOF"}));
  EXPECT_EQ(lex_all("a x${b}y${c};"), (V{"a|x${b}y${c};", "EOF"}));
  // Only '{' directly after '$' is kept; otherwise '{' opens a block.
  EXPECT_EQ(lex_all("a $b{ }"), (V{"a|$b{", "}", "EOF"}));
  EXPECT_EQ(lex_all("a b{ }"), (V{"a|b{", "}", "EOF"}));
}

TEST(ConfigLexer, BracesInsideWords) {
  EXPECT_EQ(lex_all("a b}c;"), (V{"a|b}c;", "EOF"}));
  EXPECT_EQ(lex_all("a b};"), (V{"a|b};", "EOF"}));
}

TEST(ConfigLexer, UnexpectedCharacters) {
  EXPECT_EQ(lex_all(";"), (V{"ERROR unexpected \";\" @1"}));
  EXPECT_EQ(lex_all("a;\n ;"), (V{"a;", "ERROR unexpected \";\" @2"}));
  EXPECT_EQ(lex_all("\n{"), (V{"ERROR unexpected \"{\" @2"}));
  EXPECT_EQ(lex_all("a b\n}"), (V{"ERROR unexpected \"}\" @2"}));
}

TEST(ConfigLexer, UnexpectedEnd) {
  EXPECT_EQ(lex_all("a"), (V{"ERROR unexpected end of file, expecting \";\" or \"}\" @1"}));
  EXPECT_EQ(lex_all("a b\n"), (V{"ERROR unexpected end of file, expecting \";\" or \"}\" @2"}));
  EXPECT_EQ(lex_all("a \"b"), (V{"ERROR unexpected end of file, expecting \";\" or \"}\" @1"}));
  EXPECT_EQ(lex_all("a \\"), (V{"ERROR unexpected end of file, expecting \";\" or \"}\" @1"}));
  EXPECT_EQ(lex_all("\"a\"\n#"), (V{"ERROR unexpected end of file, expecting \";\" or \"}\" @2"}));
  EXPECT_EQ(lex_all("a;\n# only a comment"), (V{"a;", "EOF"}));
  EXPECT_EQ(lex_all("a", Lexer::Mode::kCommandLine),
            (V{"ERROR unexpected end of parameter, expecting \";\" @1"}));
  EXPECT_EQ(lex_all("daemon off; worker_processes 2;", Lexer::Mode::kCommandLine),
            (V{"daemon|off;", "worker_processes|2;", "EOF"}));
}

TEST(ConfigLexer, LineNumbers) {
  Lexer lexer("a\n\nb\n;\n  c {\n}\n\\\nd;");
  std::vector<Token> w;
  ASSERT_EQ(lexer.next(&w), LexStatus::kSemicolon);
  EXPECT_EQ(lexer.line(), 4);
  ASSERT_EQ(lexer.next(&w), LexStatus::kBlockStart);
  EXPECT_EQ(lexer.line(), 5);
  ASSERT_EQ(lexer.next(&w), LexStatus::kBlockEnd);
  EXPECT_EQ(lexer.line(), 6);
  ASSERT_EQ(lexer.next(&w), LexStatus::kSemicolon);  // an escaped LF still counts
  EXPECT_EQ(lexer.line(), 8);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].text, "\\\nd");
}

TEST(ConfigLexer, ErrorsAreSticky) {
  Lexer lexer("a \"b\"c; d;");
  std::vector<Token> w;
  EXPECT_EQ(lexer.next(&w), LexStatus::kError);
  EXPECT_EQ(lexer.next(&w), LexStatus::kError);
  EXPECT_EQ(lexer.error(), "unexpected \"c\"");
  Lexer done("a;");
  EXPECT_EQ(done.next(&w), LexStatus::kSemicolon);
  EXPECT_EQ(done.next(&w), LexStatus::kEof);
  EXPECT_EQ(done.next(&w), LexStatus::kEof);
}

// nginx 1.22 reads through a 4096-byte buffer; these expectations were checked against it.
TEST(ConfigLexer, TooLongParameter) {
  EXPECT_EQ(lex_all("a \"" + std::string(5000, 'x') + "\";"),
            (V{"ERROR too long parameter, probably missing terminating \"\"\" character @1"}));
  EXPECT_EQ(lex_all("a\n\n '" + std::string(5000, 'x') + "';"),
            (V{"ERROR too long parameter, probably missing terminating \"'\" character @3"}));
  std::string word;
  for (int i = 0; i < 400; ++i) word += "abcdefghijklmn";
  EXPECT_EQ(lex_all("a " + word + ";"),
            (V{"ERROR too long parameter \"abcdefghij...\" started @1"}));
  // A comment is one "parameter" to nginx's buffer too.
  EXPECT_EQ(lex_all(std::string(5000, '#') + "\nfoo;"),
            (V{"ERROR too long parameter \"##########...\" started @1"}));
  // Whitespace and many short words are fine.
  EXPECT_EQ(lex_all(std::string(5000, ' ') + "\nfoo;"), (V{"foo;", "EOF"}));
  std::string many = "a";
  for (int i = 0; i < 2000; ++i) many += " bc";
  EXPECT_EQ(lex_all(many + ";").size(), 2u);
  // The buffer is only refilled when more input remains: a long word cut by the end of the
  // input is "unexpected end of file" below 4096 bytes, "too long" above.
  EXPECT_EQ(lex_all("a " + std::string(4000, 'x')),
            (V{"ERROR unexpected end of file, expecting \";\" or \"}\" @1"}));
  EXPECT_EQ(lex_all("a " + std::string(5000, 'x')),
            (V{"ERROR too long parameter \"xxxxxxxxxx...\" started @1"}));
  // The longest word that fits: 4095 bytes plus its terminator in the first buffer.
  EXPECT_EQ(lex_all(std::string(4095, 'x') + "; b;").size(), 3u);
  // -g text is one buffer: no limit.
  EXPECT_EQ(lex_all("a " + std::string(5000, 'x') + ";", Lexer::Mode::kCommandLine).size(), 2u);
}

}  // namespace
}  // namespace portico::config
