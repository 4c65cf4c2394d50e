// Lexer: splits nginx configuration text into statements, exactly as nginx's
// ngx_conf_read_token() (src/core/ngx_conf_file.c) does, including its error messages.
//
//  - Words are separated by SP, HTAB, CR, LF. ';' ends a statement, '{' opens a block, '}'
//    closes one (only where a word could start; inside a word they are ordinary except that
//    ';' and '{' end it).
//  - '#' at the start of a word starts a comment to end of line; inside a word it is literal.
//  - "..." and '...' quote a word; the closing quote must be followed by whitespace, ';', '{' or
//    ')' (a ')' starts a new word, for `if ($a = "")`), else `unexpected "x"`.
//  - A backslash makes the next character ordinary; in the word's value `\"` `\'` `\\` lose
//    the backslash and `\t` `\r` `\n` become TAB, CR, LF; any other `\x` stays as is (regexes).
//  - After '$', a '{' does not end the word: `${var}` is kept whole.
//  - nginx reads files through a 4096-byte buffer and fails with "too long parameter ..." when
//    one parameter fills it; this lexer reproduces that window so errors match byte for byte.
//
// A Lexer borrows its text (which must outlive it) and is used by one thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace portico::config {

struct Token {
  std::string text;     // unescaped value, without the quotes
  bool quoted = false;  // written as "..." or '...'
};

enum class LexStatus {
  kSemicolon,   // words... ';'
  kBlockStart,  // words... '{'    (words is never empty)
  kBlockEnd,    // '}'             (words is empty)
  kEof,         // end of input at a statement boundary (words is empty)
  kError,       // see error() and error_line()
};

class Lexer {
 public:
  enum class Mode {
    kFile,         // a file (or a string treated as one)
    kCommandLine,  // -g text: no read buffer, "unexpected end of parameter" at the end
  };

  static constexpr size_t kBufferSize = 4096;  // nginx's NGX_CONF_BUFFER

  explicit Lexer(std::string_view text, Mode mode = Mode::kFile);

  // Reads the next statement into *words (cleared first). After kError or kEof, further calls
  // return the same status again.
  LexStatus next(std::vector<Token>* words);

  // nginx's current line: 1 + the number of LFs consumed so far. After kSemicolon or
  // kBlockStart this is the line of the ';' or '{'.
  int line() const { return line_; }
  // After kError: the message (without location) and the line nginx reports it at.
  const std::string& error() const { return error_; }
  int error_line() const { return error_line_; }

 private:
  LexStatus fail(std::string message, int line);
  // Called when the read window is exhausted at pos_ < text_.size(); returns false (and sets
  // the error) when nginx would report "too long parameter".
  bool refill(size_t start, int start_line, bool d_quoted, bool s_quoted);

  std::string_view text_;
  bool command_line_;
  size_t pos_ = 0;
  size_t window_end_;  // nginx's b->last, as an offset into text_
  int line_ = 1;
  LexStatus sticky_ = LexStatus::kSemicolon;  // kError/kEof once reached
  std::string error_;
  int error_line_ = 0;
};

}  // namespace portico::config
