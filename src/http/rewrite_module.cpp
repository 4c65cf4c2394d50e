// The rewrite module's directives (nginx's ngx_http_rewrite_module): return, rewrite, set,
// break and if, compiled into the level's RewriteScript in file order. The script runs in the
// server-rewrite and rewrite phases (run by http/rewrite.cpp).
#include <fmt/format.h>

#include "core/strings.h"
#include "http/http_modules.h"
#include "http/level.h"

namespace portico::http {

using config::BlockKind;
using config::Directive;
using namespace config;  // context constants

NamedCaptures named_captures_of(const Regex& re, VariableTable& vars);

namespace {

constexpr uint32_t kRewriteCtx = kServer | kLocation | kServerIf | kLocationIf;

bool parse_if(Level& lv, const Directive& d, IfCondition& c) {
  // nginx tokenises "($a = b)" as "($a", "=", "b)": strip the parentheses.
  std::vector<std::string> args = d.args;
  if (args.empty() || args.front().empty() || args.front()[0] != '(' || args.back().empty() ||
      args.back().back() != ')') {
    lv.error(d, fmt::format("invalid condition \"{}\"", args.empty() ? "" : args[0]));
    return false;
  }
  args.front().erase(0, 1);
  args.back().pop_back();
  if (args.front().empty()) args.erase(args.begin());
  if (!args.empty() && args.back().empty()) args.pop_back();
  using K = IfCondition::Kind;
  if (args.size() == 1) {
    if (args[0].empty() || args[0][0] != '$') {
      lv.error(d, fmt::format("invalid condition \"{}\"", args[0]));
      return false;
    }
    c.kind = K::kTrue;
    return lv.value(d, args[0], &c.lhs);
  }
  if (args.size() == 2) {
    const std::string& op = args[0];
    static const std::pair<const char*, K> kOps[] = {
        {"-f", K::kFile},   {"!-f", K::kNotFile},   {"-d", K::kDir},  {"!-d", K::kNotDir},
        {"-e", K::kExists}, {"!-e", K::kNotExists}, {"-x", K::kExec}, {"!-x", K::kNotExec}};
    for (const auto& [name, kind] : kOps) {
      if (op == name) {
        c.kind = kind;
        return lv.value(d, args[1], &c.lhs);
      }
    }
    lv.error(d, fmt::format("invalid condition \"{}\"", op));
    return false;
  }
  if (args.size() == 3) {
    if (args[0].empty() || args[0][0] != '$') {
      lv.error(d, fmt::format("invalid condition \"{}\"", args[0]));
      return false;
    }
    if (!lv.value(d, args[0], &c.lhs)) return false;
    const std::string& op = args[1];
    if (op == "=" || op == "!=") {
      c.kind = op == "=" ? K::kEq : K::kNe;
      return lv.value(d, args[2], &c.rhs);
    }
    if (op == "~" || op == "~*" || op == "!~" || op == "!~*") {
      c.kind = op[0] == '!' ? K::kNotMatch : K::kMatch;
      std::string e;
      c.regex = Regex::compile(args[2], op.back() == '*', &e);
      if (!c.regex) {
        lv.error(d, e);
        return false;
      }
      c.named = named_captures_of(*c.regex, lv.vars());
      return true;
    }
    lv.error(d, fmt::format("unexpected \"{}\" in condition", op));
    return false;
  }
  lv.error(d, "invalid condition");
  return false;
}

// return, rewrite, set, break and if: statements of the level's script, in file order.
void add_rewrite_op(Level& lv, const Directive& d) {
  RewriteScript& script = *lv.script;
  const auto& a = d.args;
  RewriteOp op{};
  if (d.name == "break") {
    op.kind = RewriteOp::Kind::kBreak;
  } else if (d.name == "set") {
    op.kind = RewriteOp::Kind::kSet;
    if (a[0].size() < 2 || a[0][0] != '$') {
      lv.error(d, fmt::format("invalid variable name \"{}\"", a[0]));
      return;
    }
    op.var_index = lv.vars().user_index(std::string_view(a[0]).substr(1));
    op.sets_limit_rate = a[0] == "$limit_rate";
    if (!lv.value(d, a[1], &op.text)) return;
  } else if (d.name == "return") {
    op.kind = RewriteOp::Kind::kReturn;
    if (a.size() == 1 && (a[0].rfind("http://", 0) == 0 || a[0].rfind("https://", 0) == 0 ||
                          a[0].rfind("$scheme", 0) == 0)) {
      op.code = 302;
      op.has_text = true;
      if (!lv.value(d, a[0], &op.text)) return;
    } else {
      auto v = parse_uint(a[0]);
      if (!v || *v > 999) {
        lv.error(d, fmt::format("invalid return code \"{}\"", a[0]));
        return;
      }
      op.code = int(*v);
      if (a.size() == 2) {
        op.has_text = true;
        if (!lv.value(d, a[1], &op.text)) return;
      }
    }
  } else if (d.name == "rewrite") {
    op.kind = RewriteOp::Kind::kRewrite;
    std::string e;
    op.regex = Regex::compile(a[0], false, &e);
    if (!op.regex) {
      lv.error(d, e);
      return;
    }
    op.named = named_captures_of(*op.regex, lv.vars());
    std::string repl = a[1];
    op.redirect_url = repl.rfind("http://", 0) == 0 || repl.rfind("https://", 0) == 0 ||
                      repl.rfind("$scheme", 0) == 0;
    if (!repl.empty() && repl.back() == '?') {
      op.keep_args = false;
      repl.pop_back();
    }
    if (!lv.value(d, repl, &op.replacement)) return;
    if (a.size() == 3) {
      if (a[2] == "last")
        op.flag = RewriteOp::Flag::kLast;
      else if (a[2] == "break")
        op.flag = RewriteOp::Flag::kBreak;
      else if (a[2] == "redirect")
        op.flag = RewriteOp::Flag::kRedirect;
      else if (a[2] == "permanent")
        op.flag = RewriteOp::Flag::kPermanent;
      else {
        lv.error(d, fmt::format("invalid parameter \"{}\"", a[2]));
        return;
      }
    }
  } else if (d.name == "if") {
    op.kind = RewriteOp::Kind::kIf;
    if (!parse_if(lv, d, op.cond)) return;
    // The if block is a level of its own that starts from the complete enclosing level.
    op.body = std::make_unique<RewriteScript>();
    uint32_t child = (lv.context & (kServer | kServerIf)) ? kServerIf : kLocationIf;
    const LocationConf* if_loc = lv.host().build_if_level(d, lv.loc, child, *op.body);
    if (child == kLocationIf) op.if_loc = if_loc;
  }
  script.push_back(std::move(op));
}

const Command kCommands[] = {
    {{"return", kRewriteCtx, 1, 2, BlockKind::kNone, 0, false}, add_rewrite_op, When::kScript},
    {{"rewrite", kRewriteCtx, 2, 3, BlockKind::kNone, 0, false}, add_rewrite_op, When::kScript},
    {{"set", kRewriteCtx, 2, 2, BlockKind::kNone, 0, false}, add_rewrite_op, When::kScript},
    {{"break", kRewriteCtx, 0, 0, BlockKind::kNone, 0, false}, add_rewrite_op, When::kScript},
    {{"if", kServer | kLocation, 1, kAnyArgs, BlockKind::kBlock, kIfBlockContext, false},
     add_rewrite_op,
     When::kScript},
};

}  // namespace

Module rewrite_module = {.name = "rewrite", .commands = kCommands};

}  // namespace portico::http
