// A line-by-line port of ngx_conf_read_token() (nginx 1.22, src/core/ngx_conf_file.c). The
// flags keep nginx's names so the two can be compared; do not "simplify" the state machine,
// its corner cases (a '#' inside a word, ')' after a quote, '${') are relied on by configs.
#include "config/lexer.h"

#include <fmt/format.h>

#include <limits>
#include <utility>

namespace portico::config {

namespace {

bool is_space(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

// nginx's copy loop: `\"` `\'` `\\` drop the backslash, `\t` `\r` `\n` translate, any other
// backslash is kept.
std::string unescape(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  size_t i = 0;
  while (i < raw.size()) {
    if (raw[i] == '\\' && i + 1 < raw.size()) {
      switch (raw[i + 1]) {
        case '"':
        case '\'':
        case '\\':
          ++i;
          break;
        case 't':
          out += '\t';
          i += 2;
          continue;
        case 'r':
          out += '\r';
          i += 2;
          continue;
        case 'n':
          out += '\n';
          i += 2;
          continue;
        default:
          break;
      }
    }
    out += raw[i++];
  }
  return out;
}

}  // namespace

Lexer::Lexer(std::string_view text, Mode mode)
    : text_(text),
      command_line_(mode == Mode::kCommandLine),
      // A file starts with an empty buffer; -g text is one buffer holding everything.
      window_end_(command_line_ ? std::numeric_limits<size_t>::max() : 0) {}

LexStatus Lexer::fail(std::string message, int line) {
  error_ = std::move(message);
  error_line_ = line;
  sticky_ = LexStatus::kError;
  return LexStatus::kError;
}

bool Lexer::refill(size_t start, int start_line, bool d_quoted, bool s_quoted) {
  // nginx moves [start, pos) to the front of its buffer and fills the rest from the file; a
  // parameter that already fills the whole buffer cannot grow.
  if (pos_ - start == kBufferSize) {
    if (d_quoted || s_quoted) {
      fail(fmt::format("too long parameter, probably missing terminating \"{}\" character",
                       d_quoted ? '"' : '\''),
           start_line);
    } else {
      fail(fmt::format("too long parameter \"{}...\" started", text_.substr(start, 10)),
           start_line);
    }
    return false;
  }
  window_end_ = start + kBufferSize;
  return true;
}

LexStatus Lexer::next(std::vector<Token>* words) {
  words->clear();
  if (sticky_ != LexStatus::kSemicolon) return sticky_;

  bool found = false, need_space = false, last_space = true, sharp_comment = false;
  bool variable = false, quoted = false, s_quoted = false, d_quoted = false;
  bool word_quoted = false;
  size_t start = pos_;
  int start_line = line_;

  for (;;) {
    if (pos_ >= text_.size() || pos_ >= window_end_) {
      if (pos_ >= text_.size()) {
        if (!words->empty() || !last_space) {
          return fail(command_line_ ? "unexpected end of parameter, expecting \";\""
                                    : "unexpected end of file, expecting \";\" or \"}\"",
                      line_);
        }
        sticky_ = LexStatus::kEof;
        return LexStatus::kEof;
      }
      if (!refill(start, start_line, d_quoted, s_quoted)) return LexStatus::kError;
    }

    const char ch = text_[pos_++];

    if (ch == '\n') {
      ++line_;
      sharp_comment = false;
    }
    if (sharp_comment) continue;
    if (quoted) {
      quoted = false;
      continue;
    }

    if (need_space) {
      if (is_space(ch)) {
        last_space = true;
        need_space = false;
        continue;
      }
      if (ch == ';') return LexStatus::kSemicolon;
      if (ch == '{') return LexStatus::kBlockStart;
      if (ch != ')') return fail(fmt::format("unexpected \"{}\"", ch), line_);
      // `if ($a = "")`: the ')' begins the next word.
      last_space = true;
      need_space = false;
    }

    if (last_space) {
      start = pos_ - 1;
      start_line = line_;
      if (is_space(ch)) continue;

      word_quoted = false;
      switch (ch) {
        case ';':
        case '{':
          if (words->empty()) return fail(fmt::format("unexpected \"{}\"", ch), line_);
          return ch == '{' ? LexStatus::kBlockStart : LexStatus::kSemicolon;
        case '}':
          if (!words->empty()) return fail("unexpected \"}\"", line_);
          return LexStatus::kBlockEnd;
        case '#':
          sharp_comment = true;
          continue;
        case '\\':
          quoted = true;
          last_space = false;
          continue;
        case '"':
          ++start;
          d_quoted = true;
          word_quoted = true;
          last_space = false;
          continue;
        case '\'':
          ++start;
          s_quoted = true;
          word_quoted = true;
          last_space = false;
          continue;
        case '$':
          variable = true;
          last_space = false;
          continue;
        default:
          last_space = false;
      }
      continue;
    }

    if (ch == '{' && variable) continue;
    variable = false;
    if (ch == '\\') {
      quoted = true;
      continue;
    }
    if (ch == '$') {
      variable = true;
      continue;
    }

    if (d_quoted) {
      if (ch == '"') {
        d_quoted = false;
        need_space = true;
        found = true;
      }
    } else if (s_quoted) {
      if (ch == '\'') {
        s_quoted = false;
        need_space = true;
        found = true;
      }
    } else if (is_space(ch) || ch == ';' || ch == '{') {
      last_space = true;
      found = true;
    }

    if (found) {
      words->push_back(Token{unescape(text_.substr(start, pos_ - 1 - start)), word_quoted});
      if (ch == ';') return LexStatus::kSemicolon;
      if (ch == '{') return LexStatus::kBlockStart;
      found = false;
    }
  }
}

}  // namespace portico::config
