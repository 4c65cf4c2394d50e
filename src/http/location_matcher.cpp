#include "http/location_matcher.h"

#include <algorithm>
#include <cstring>
#include <iterator>

namespace portico::http {

using Kind = LocationDef::Kind;

struct LocationMatcher::Loc {
  Kind kind;
  std::string name;  // pattern as written ("@x" for named), nginx's clcf->name
  const void* payload;
  bool auto_redirect;
  std::unique_ptr<Regex> regex;
  std::string file;
  int line;
  std::vector<Loc*> children;  // config order
  Level nested;

  bool exact() const { return kind == Kind::kExact; }
  bool named() const { return kind == Kind::kNamed; }
  bool is_regex() const { return kind == Kind::kRegex || kind == Kind::kRegexCaseless; }
  bool noregex() const { return kind == Kind::kPrefixNoRegex; }
  std::string where() const { return " in " + file + ":" + std::to_string(line); }
};

// A node of nginx's static location tree (ngx_http_location_tree_node_t): a binary search tree
// of the level's names with no name a prefix of another; `tree` holds the names that extend
// this one (their remaining part only).
struct LocationMatcher::Node {
  const Loc* exact = nullptr;
  const Loc* inclusive = nullptr;
  bool auto_redirect = false;
  std::string name;  // the part after the enclosing nodes' names
  int32_t left = -1, right = -1, tree = -1;
};

// nginx's ngx_http_location_queue_t while the tree is built.
struct LocationMatcher::QItem {
  std::string_view name;
  const Loc* exact = nullptr;
  const Loc* inclusive = nullptr;
  std::vector<QItem> list;
};

LocationMatcher::LocationMatcher() : top_(std::make_unique<Level>()) {}
LocationMatcher::~LocationMatcher() = default;
LocationMatcher::LocationMatcher(LocationMatcher&&) noexcept = default;
LocationMatcher& LocationMatcher::operator=(LocationMatcher&&) noexcept = default;

namespace {

// ngx_filename_cmp: bytes compared unsigned, except that '/' is the lowest character. The tree
// is sorted and searched with it, so that "/a/" sorts before "/a-a" and "/a-b" and a search for
// "/a" still passes the "/a/" node (auto_redirect) instead of falling off the tree.
int filename_cmp(const char* a, const char* b, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    unsigned char c1 = static_cast<unsigned char>(a[i]), c2 = static_cast<unsigned char>(b[i]);
    if (c1 == c2) continue;
    c1 = c1 == '/' ? 0 : c1;
    c2 = c2 == '/' ? 0 : c2;
    return int(c1) - int(c2);
  }
  return 0;
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  out += s;
  out += '"';
  return out;
}

// ngx_http_create_locations_list: moves the names that start with an inclusive location's
// name into its list, recursively. `items` is sorted.
template <typename Item>
void create_list(std::vector<Item>& items) {
  size_t i = 0;
  while (i + 1 < items.size()) {
    Item& q = items[i];
    if (q.inclusive == nullptr) {  // an exact-only name collects nothing
      ++i;
      continue;
    }
    size_t x = i + 1;
    while (x < items.size() && items[x].name.size() >= q.name.size() &&
           items[x].name.compare(0, q.name.size(), q.name) == 0)
      ++x;
    if (x > i + 1) {
      q.list.assign(std::make_move_iterator(items.begin() + std::ptrdiff_t(i + 1)),
                    std::make_move_iterator(items.begin() + std::ptrdiff_t(x)));
      items.erase(items.begin() + std::ptrdiff_t(i + 1), items.begin() + std::ptrdiff_t(x));
      create_list(q.list);
    }
    ++i;
  }
}

}  // namespace

Status LocationMatcher::build(std::vector<LocationDef> defs) {
  locs_.clear();
  nodes_.clear();
  top_ = std::make_unique<Level>();
  top_locs_.clear();
  named_.clear();

  Status st = parse_level(defs, nullptr, &top_locs_);
  if (st) st = init_level(top_locs_, true, top_.get());
  if (!st) {
    LocationMatcher empty;
    *this = std::move(empty);
    return st;
  }
  for (const Loc* loc : top_locs_)
    if (loc->named()) named_.emplace(loc->name, loc->payload);  // keeps the first
  return Status::ok();
}

// The checks ngx_http_core_location makes while reading each block, in document order.
Status LocationMatcher::parse_level(std::vector<LocationDef>& defs, const Loc* parent,
                                    std::vector<Loc*>* out) {
  for (LocationDef& def : defs) {
    auto loc = std::make_unique<Loc>();
    loc->kind = def.kind;
    loc->name = std::move(def.pattern);
    loc->payload = def.payload;
    loc->auto_redirect = def.auto_redirect;
    loc->file = std::move(def.file);
    loc->line = def.line;

    if (loc->is_regex()) {
      std::string error;
      loc->regex = Regex::compile(loc->name, loc->kind == Kind::kRegexCaseless, &error);
      if (loc->regex == nullptr) return Status::error(error + loc->where());
    }

    if (parent != nullptr) {
      const std::string what = "location " + quoted(loc->name);
      if (parent->exact())
        return Status::error(what + " cannot be inside the exact location " + quoted(parent->name) +
                             loc->where());
      if (parent->named())
        return Status::error(what + " cannot be inside the named location " + quoted(parent->name) +
                             loc->where());
      if (loc->named())
        return Status::error("named " + what + " can be on the server level only" + loc->where());
      if (!loc->is_regex() && !std::string_view(loc->name).starts_with(parent->name))
        return Status::error(what + " is outside location " + quoted(parent->name) + loc->where());
    }

    Loc* raw = loc.get();
    locs_.push_back(std::move(loc));
    out->push_back(raw);
    if (Status st = parse_level(def.children, raw, &raw->children); !st) return st;
  }
  return Status::ok();
}

// ngx_http_init_locations + ngx_http_init_static_location_trees for one level: regexes keep
// config order; exact and prefix names are sorted, joined and arranged in nginx's tree.
// Static trees are built only below static locations (nginx splits regex locations off before
// building trees, so prefixes nested in a regex location are never searched).
Status LocationMatcher::init_level(const std::vector<Loc*>& locs, bool with_static, Level* level) {
  std::vector<Loc*> statics;
  for (Loc* loc : locs) {
    if (loc->is_regex()) {
      level->regexes.push_back(loc);
      if (Status st = init_level(loc->children, false, &loc->nested); !st) return st;
    } else if (!loc->named()) {
      statics.push_back(loc);
    }
  }
  if (!with_static) return Status::ok();

  // ngx_http_cmp_locations: by name (a prefix first), an exact name before the same prefix
  // one; otherwise config order (ngx_queue_sort is a stable insertion sort).
  std::stable_sort(statics.begin(), statics.end(), [](const Loc* a, const Loc* b) {
    const size_t n = std::min(a->name.size(), b->name.size());
    if (int rc = filename_cmp(a->name.data(), b->name.data(), n); rc != 0) return rc < 0;
    if (a->name.size() != b->name.size()) return a->name.size() < b->name.size();
    return a->exact() && !b->exact();
  });

  for (Loc* loc : statics)
    if (Status st = init_level(loc->children, true, &loc->nested); !st) return st;

  // ngx_http_join_exact_locations.
  std::vector<QItem> items;
  items.reserve(statics.size());
  for (const Loc* loc : statics) {
    QItem q;
    q.name = loc->name;
    (loc->exact() ? q.exact : q.inclusive) = loc;
    if (!items.empty() && items.back().name == q.name) {
      QItem& prev = items.back();
      if ((prev.exact && q.exact) || (prev.inclusive && q.inclusive))
        return Status::error("duplicate location " + quoted(loc->name) + loc->where());
      prev.inclusive = q.inclusive;
      continue;
    }
    items.push_back(std::move(q));
  }

  create_list(items);
  if (!items.empty()) level->root = create_tree(items, 0, items.size(), 0);
  return Status::ok();
}

// ngx_http_create_locations_tree: the middle item is the root, as ngx_queue_middle() picks it.
int32_t LocationMatcher::create_tree(std::vector<QItem>& items, size_t begin, size_t end,
                                     size_t prefix) {
  const size_t mid = begin + (end - begin) / 2;
  QItem& q = items[mid];
  const int32_t index = int32_t(nodes_.size());
  nodes_.emplace_back();
  {
    Node& node = nodes_.back();
    node.exact = q.exact;
    node.inclusive = q.inclusive;
    node.auto_redirect = (q.exact != nullptr && q.exact->auto_redirect) ||
                         (q.inclusive != nullptr && q.inclusive->auto_redirect);
    node.name = std::string(q.name.substr(prefix));
  }
  // nodes_ may reallocate below: store children through the index.
  const int32_t left = mid > begin ? create_tree(items, begin, mid, prefix) : -1;
  const int32_t right = mid + 1 < end ? create_tree(items, mid + 1, end, prefix) : -1;
  const int32_t tree = q.list.empty() ? -1 : create_tree(q.list, 0, q.list.size(), q.name.size());
  nodes_[size_t(index)].left = left;
  nodes_[size_t(index)].right = right;
  nodes_[size_t(index)].tree = tree;
  return index;
}

LocationMatch LocationMatcher::lookup(std::string_view uri, Captures* caps) const {
  const Loc* cur = nullptr;
  Rc rc = find_location(*top_, uri, &cur, caps);
  LocationMatch m;
  if (cur == nullptr) return m;
  m.payload = cur->payload;
  m.regex = cur->regex.get();
  m.redirect_slash = rc == Rc::kDone;
  return m;
}

const void* LocationMatcher::find_named(std::string_view name) const {
  auto it = named_.find(name);
  return it == named_.end() ? nullptr : it->second;
}

// ngx_http_core_find_location. *cur is the location chosen so far (nginx's r->loc_conf).
LocationMatcher::Rc LocationMatcher::find_location(const Level& level, std::string_view uri,
                                                   const Loc** cur, Captures* caps) const {
  bool noregex = false;
  Rc rc = find_static(level.root, uri, cur);
  if (rc == Rc::kAgain) {
    noregex = (*cur)->noregex();
    rc = find_location((*cur)->nested, uri, cur, caps);  // nested locations
  }
  if (rc == Rc::kOk || rc == Rc::kDone) return rc;

  if (!noregex) {
    for (const Loc* loc : level.regexes) {
      if (!loc->regex->match(uri, caps)) continue;
      *cur = loc;
      find_location(loc->nested, uri, cur, caps);  // regexes nested in it
      return Rc::kOk;
    }
  }
  return rc;
}

// ngx_http_core_find_static_location: kOk for an exact match, kAgain for the longest prefix,
// kDone for an auto_redirect node one '/' longer than the uri, kDeclined for none.
LocationMatcher::Rc LocationMatcher::find_static(int32_t index, std::string_view uri,
                                                 const Loc** cur) const {
  Rc rv = Rc::kDeclined;
  size_t off = 0, len = uri.size();
  while (index >= 0) {
    const Node& node = nodes_[size_t(index)];
    const size_t node_len = node.name.size();
    const size_t n = std::min(len, node_len);
    const int rc = filename_cmp(uri.data() + off, node.name.data(), n);
    if (rc != 0) {
      index = rc < 0 ? node.left : node.right;
      continue;
    }
    if (len > node_len) {
      if (node.inclusive != nullptr) {
        *cur = node.inclusive;
        rv = Rc::kAgain;
        index = node.tree;
        off += node_len;
        len -= node_len;
        continue;
      }
      index = node.right;  // exact only
      continue;
    }
    if (len == node_len) {
      if (node.exact != nullptr) {
        *cur = node.exact;
        return Rc::kOk;
      }
      *cur = node.inclusive;
      return Rc::kAgain;
    }
    // len < node_len
    if (len + 1 == node_len && node.auto_redirect) {
      *cur = node.exact != nullptr ? node.exact : node.inclusive;
      rv = Rc::kDone;
    }
    index = node.left;
  }
  return rv;
}

}  // namespace portico::http
