// Registry: the table of every directive portico knows, and the generic validation pass over
// a parsed tree (config/parser.h) that checks what nginx's ngx_conf_handler() checks: known
// name, allowed context, ';' versus block, argument count, and duplicates of directives that
// may appear once per block. Values are checked later, by the code that builds the Snapshot.
//
// Each subsystem registers its directives at startup from its directives.cpp, e.g.
//
//   registry.add({
//       {.name = "server", .contexts = kHttp, .block = BlockKind::kBlock,
//        .block_context = kServer},
//       {.name = "server", .contexts = kUpstream, .min_args = 1, .max_args = kAnyArgs},
//       {.name = "if", .contexts = kServer | kLocation, .min_args = 1, .max_args = kAnyArgs,
//        .block = BlockKind::kBlock, .block_context = kIfBlockContext},
//       {.name = "types", .contexts = kHttp | kServer | kLocation,
//        .block = BlockKind::kFreeform, .block_context = kTypes},
//       {.name = "root", .contexts = kHttp | kServer | kLocation | kLocationIf,
//        .min_args = 1, .max_args = 1, .unique = true},
//   });
//
// The same name may be registered several times for disjoint contexts (nginx has `server`,
// `listen`, `upstream`, `proxy_pass` ... in both http and stream); the spec whose contexts
// contain the current one applies. Built once on the control thread, then read-only: const
// methods may be called from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/ast.h"

namespace portico::config {

// Contexts, one bit each (nginx's NGX_MAIN_CONF, NGX_HTTP_SRV_CONF, ...). Free bits are left
// for more (mail, geo, ...); bit 31 is reserved for kIfBlockContext.
inline constexpr uint32_t kMain = 1u << 0;
inline constexpr uint32_t kEvents = 1u << 1;
inline constexpr uint32_t kHttp = 1u << 2;
inline constexpr uint32_t kServer = 1u << 3;
inline constexpr uint32_t kLocation = 1u << 4;
inline constexpr uint32_t kServerIf = 1u << 5;    // `if` inside server
inline constexpr uint32_t kLocationIf = 1u << 6;  // `if` inside location
inline constexpr uint32_t kLimitExcept = 1u << 7;
inline constexpr uint32_t kUpstream = 1u << 8;
inline constexpr uint32_t kStream = 1u << 12;
inline constexpr uint32_t kStreamServer = 1u << 13;
inline constexpr uint32_t kStreamUpstream = 1u << 14;
inline constexpr uint32_t kTypes = 1u << 20;  // children of freeform blocks, for the builder
inline constexpr uint32_t kMap = 1u << 21;
inline constexpr uint32_t kAnyContext = (1u << 31) - 1;  // e.g. a directive valid everywhere

// block_context value meaning "derived from where the block stands", as nginx's `if`:
// in kServer (or kServerIf) children get kServerIf, in kLocation (or kLocationIf) kLocationIf,
// elsewhere the parent's context.
inline constexpr uint32_t kIfBlockContext = 1u << 31;

// max_args value for "no upper bound" (nginx's NGX_CONF_1MORE, NGX_CONF_ANY).
inline constexpr int kAnyArgs = std::numeric_limits<int>::max();

enum class BlockKind : uint8_t {
  kNone,      // `name args;`
  kBlock,     // `name args { directives }`: children are validated in block_context
  kFreeform,  // `name args { data }` (types, map, geo, split_clients, match): children are
              // statements of data, parsed but not looked up; a nested '{' is an error
};

struct DirectiveSpec {
  std::string_view name;
  uint32_t contexts = 0;  // where it may appear: an OR of the constants above
  int min_args = 0;       // arguments after the name
  int max_args = 0;       // kAnyArgs: no limit
  BlockKind block = BlockKind::kNone;
  uint32_t block_context = 0;  // context of the children (kBlock, kFreeform), or kIfBlockContext
  bool unique = false;         // at most once per block: `"X" directive is duplicate`
};

// The context the children of a block directive standing in `parent` get.
uint32_t child_context(const DirectiveSpec& spec, uint32_t parent);

class Registry {
 public:
  // Registers one directive, or many. A spec must be well-formed (non-empty name and contexts,
  // 0 <= min_args <= max_args, a block_context for block kinds) and must not share a context
  // with another spec of the same name: both are programming errors and abort with a message.
  // The name is copied; the spec passed need not outlive the registry.
  void add(const DirectiveSpec& spec);
  void add(std::initializer_list<DirectiveSpec> specs);
  void add(std::span<const DirectiveSpec> specs);

  // The spec for `name` allowed in `context` (one context bit), or null. The pointer stays
  // valid until the next add().
  const DirectiveSpec* find(std::string_view name, uint32_t context) const;
  // Whether any spec has this name (the difference between "unknown directive" and "not
  // allowed here").
  bool known(std::string_view name) const;
  size_t size() const { return count_; }

  // Checks a tree whose top level is in `context` and returns every error found, in file
  // order (empty: valid). Messages are nginx's:
  //   unknown directive "X" / "X" directive is not allowed here /
  //   directive "X" is not terminated by ";" / directive "X" has no opening "{" /
  //   invalid number of arguments in "X" directive / "X" directive is duplicate /
  //   unexpected "{" (a block inside a freeform block).
  // Children of an unknown, misplaced or wrongly terminated directive are not checked; those
  // of a directive with a wrong argument count are. `include` must have been expanded by the
  // parser; it is not a registered directive.
  std::vector<ConfigError> validate(const std::vector<Directive>& directives,
                                    uint32_t context = kMain) const;

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  void validate_block(const std::vector<Directive>& block, uint32_t context,
                      std::vector<ConfigError>& errors) const;

  // Keyed by name; each spec's name points at its key.
  std::unordered_map<std::string, std::vector<DirectiveSpec>, Hash, std::equal_to<>> specs_;
  size_t count_ = 0;
};

}  // namespace portico::config
