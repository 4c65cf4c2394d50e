// The rewrite module's script (nginx's ngx_http_rewrite_module): set, if, return, rewrite and
// break, run in the server rewrite and rewrite phases.
#include <sys/stat.h>
#include <unistd.h>

#include "core/strings.h"
#include "http/phase_internal.h"

namespace portico::http {

void assign_named(Request& r, const NamedCaptures& named) {
  for (const auto& [group, var] : named) {
    r.vars[size_t(var)].assign(r.captures.group(group));
    r.vars_set[size_t(var)] = 1;
  }
}

namespace {

bool eval_condition(Request& r, const IfCondition& c) {
  using K = IfCondition::Kind;
  std::string& lhs = r.scratch;
  lhs.clear();
  c.lhs.eval(r, lhs);
  switch (c.kind) {
    case K::kTrue:
      return !lhs.empty() && lhs != "0";
    case K::kEq:
    case K::kNe: {
      thread_local std::string rhs;  // reused: no allocation per evaluated `if`
      rhs.clear();
      c.rhs.eval(r, rhs);
      return (lhs == rhs) == (c.kind == K::kEq);
    }
    case K::kMatch:
    case K::kNotMatch: {
      Captures caps;
      bool m = c.regex->match(lhs, &caps);
      if (m && c.kind == K::kMatch) {
        // Captures must outlive the scratch string: keep a copy of the subject.
        r.captures = caps;
        r.captures_subject.assign(lhs);
        r.captures.subject = r.captures_subject;
        assign_named(r, c.named);
      }
      return m == (c.kind == K::kMatch);
    }
    default: {
      struct stat st;
      bool ok = ::stat(lhs.c_str(), &st) == 0;
      switch (c.kind) {
        case K::kFile:
          return ok && S_ISREG(st.st_mode);
        case K::kNotFile:
          return !(ok && S_ISREG(st.st_mode));
        case K::kDir:
          return ok && S_ISDIR(st.st_mode);
        case K::kNotDir:
          return !(ok && S_ISDIR(st.st_mode));
        case K::kExists:
          return ok;
        case K::kNotExists:
          return !ok;
        case K::kExec:
          return ok && ::access(lhs.c_str(), X_OK) == 0;
        case K::kNotExec:
          return !(ok && ::access(lhs.c_str(), X_OK) == 0);
        default:
          return false;
      }
    }
  }
}

}  // namespace

namespace {

// nginx's NGX_ESCAPE_ARGS set: controls, ' ', '#', '%', '&', '+', ';', '?', DEL and above.
bool escape_in_args(uint8_t c) {
  return c <= 0x20 || c >= 0x7f || c == '#' || c == '%' || c == '&' || c == '+' || c == ';' ||
         c == '?';
}

// A rewrite's replacement into `out`. As nginx's ngx_http_script_copy_capture_code: a capture
// after the replacement's '?' is escaped for the arguments when the request's URI was
// escaped or had a '+' ("/x/%25" gives $1 "/x/%", put back as "%25" in the args).
void eval_replacement(Request& r, const ComplexValue& v, bool internal, std::string& out) {
  const bool quoted = r.head.path.find_first_of("%+") != std::string_view::npos;
  if (!internal || !quoted || !v.has_captures()) {
    v.eval(r, out);
    return;
  }
  bool in_args = false;
  std::string tmp;
  for (const ComplexValue::Part& p : v.parts()) {
    if (p.kind == ComplexValue::Part::Kind::kLiteral) {
      out += p.literal;
      in_args = in_args || p.literal.find('?') != std::string::npos;
      continue;
    }
    if (p.kind != ComplexValue::Part::Kind::kCapture || !in_args) {
      ComplexValue::append_part(r, p, out);
      continue;
    }
    tmp.clear();
    ComplexValue::append_part(r, p, tmp);
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (char ch : tmp) {
      const uint8_t c = uint8_t(ch);
      if (!escape_in_args(c)) {
        out += ch;
        continue;
      }
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
}

}  // namespace

void split_uri_args(Request& r, std::string& value, bool keep_args) {
  auto q = value.find('?');
  if (q != std::string::npos) {
    std::string new_args = value.substr(q + 1);
    value.resize(q);
    if (keep_args && !r.args.empty()) {
      new_args += '&';
      new_args += r.args;
    }
    r.args = std::move(new_args);
  }
}

ScriptResult run_script(Request& r, const RewriteScript& script, Step* stop) {
  for (const RewriteOp& op : script) {
    switch (op.kind) {
      case RewriteOp::Kind::kBreak:
        return ScriptResult::kBreak;
      case RewriteOp::Kind::kSet: {
        std::string v;
        op.text.eval(r, v);
        if (op.sets_limit_rate) [[unlikely]] {
          if (auto rate = parse_size(v)) {  // nginx ignores a value that is not a size
            r.rate.rate = *rate;
            r.rate.rate_set = true;
          }
        }
        r.vars[size_t(op.var_index)] = std::move(v);
        r.vars_set[size_t(op.var_index)] = 1;
        break;
      }
      case RewriteOp::Kind::kReturn: {
        if (op.code == 444) {
          *stop = Step::close();
          return ScriptResult::kStop;
        }
        r.resp.status = op.code;  // $status inside the text is the code being returned
        if (r.err_status > 0 && !is_redirect_status(op.code) && (op.code < 400 || op.has_text)) {
          // nginx (ngx_http_send_response, then send_header): in an error_page's target, a
          // response `return` sends goes out with the error's status (a 405 page that says
          // `return 200 text` is a 405 with "text"); redirects and errors keep their own.
          std::string text;
          if (op.has_text) op.text.eval(r, text);
          respond_text(r, r.err_status, text);
          *stop = Step::respond();
          return ScriptResult::kStop;
        }
        if (op.has_text) {
          std::string text;
          op.text.eval(r, text);
          if (is_redirect_status(op.code)) {
            set_location(r, text);
          } else {
            respond_text(r, op.code, text);
            *stop = Step::respond();
            return ScriptResult::kStop;
          }
        }
        *stop = Step::status(op.code);
        return ScriptResult::kStop;
      }
      case RewriteOp::Kind::kRewrite: {
        Captures caps;
        if (!op.regex->match(r.uri, &caps)) {
          r.captures.clear();  // nginx: a failed rewrite match resets $1..$9
          break;
        }
        // The replacement sees the rewrite's own captures.
        r.captures_subject.assign(r.uri);
        r.captures = caps;
        r.captures.subject = r.captures_subject;
        assign_named(r, op.named);
        std::string value;
        eval_replacement(r, op.replacement,
                         !op.redirect_url && op.flag != RewriteOp::Flag::kRedirect &&
                             op.flag != RewriteOp::Flag::kPermanent,
                         value);
        if (op.redirect_url || op.flag == RewriteOp::Flag::kRedirect ||
            op.flag == RewriteOp::Flag::kPermanent) {
          if (op.keep_args && !r.args.empty()) {
            // nginx: the request's args follow the replacement's own ("?c=d&a=b").
            value += value.find('?') == std::string::npos ? '?' : '&';
            value += r.args;
          } else if (!op.keep_args && !value.empty() && value.back() == '?') {
            value.pop_back();
          }
          set_location(r, value);
          *stop = Step::status(op.flag == RewriteOp::Flag::kPermanent ? 301 : 302);
          return ScriptResult::kStop;
        }
        if (!op.keep_args) {
          if (!value.empty() && value.back() == '?') value.pop_back();
          auto q = value.find('?');
          if (q != std::string::npos) {
            r.args = value.substr(q + 1);
            value.resize(q);
          } else {
            r.args.clear();
          }
        } else {
          split_uri_args(r, value, true);
        }
        r.uri = std::move(value);
        r.uri_changed = true;
        if (op.flag == RewriteOp::Flag::kLast) return ScriptResult::kLast;
        if (op.flag == RewriteOp::Flag::kBreak) return ScriptResult::kBreak;
        break;
      }
      case RewriteOp::Kind::kIf: {
        if (!eval_condition(r, op.cond)) break;
        if (op.if_loc) r.loc = op.if_loc;
        ScriptResult res = run_script(r, *op.body, stop);
        if (res != ScriptResult::kContinue) return res;
        break;
      }
    }
  }
  return ScriptResult::kContinue;
}

}  // namespace portico::http
