// libFuzzer harness for the configuration lexer, parser, registry validation and dump.
// Arbitrary bytes must never crash, hang or recurse without bound. Includes are not expanded
// (the input must not reach the file system). Corpus: tests/fuzz/corpus/config_parser/.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/dump.h"
#include "config/parser.h"
#include "config/registry.h"

namespace {

using namespace portico::config;

const Registry& registry() {
  static const Registry* r = [] {
    auto* reg = new Registry;
    reg->add({
        {.name = "worker_processes",
         .contexts = kMain,
         .min_args = 1,
         .max_args = 1,
         .unique = true},
        {.name = "events",
         .contexts = kMain,
         .block = BlockKind::kBlock,
         .block_context = kEvents,
         .unique = true},
        {.name = "worker_connections", .contexts = kEvents, .min_args = 1, .max_args = 1},
        {.name = "http", .contexts = kMain, .block = BlockKind::kBlock, .block_context = kHttp},
        {.name = "server", .contexts = kHttp, .block = BlockKind::kBlock, .block_context = kServer},
        {.name = "server", .contexts = kUpstream, .min_args = 1, .max_args = kAnyArgs},
        {.name = "upstream",
         .contexts = kHttp,
         .min_args = 1,
         .max_args = 1,
         .block = BlockKind::kBlock,
         .block_context = kUpstream},
        {.name = "listen", .contexts = kServer, .min_args = 1, .max_args = kAnyArgs},
        {.name = "location",
         .contexts = kServer | kLocation,
         .min_args = 1,
         .max_args = 2,
         .block = BlockKind::kBlock,
         .block_context = kLocation},
        {.name = "if",
         .contexts = kServer | kLocation,
         .min_args = 1,
         .max_args = kAnyArgs,
         .block = BlockKind::kBlock,
         .block_context = kIfBlockContext},
        {.name = "root",
         .contexts = kHttp | kServer | kLocation | kLocationIf,
         .min_args = 1,
         .max_args = 1,
         .unique = true},
        {.name = "return",
         .contexts = kServer | kServerIf | kLocation | kLocationIf,
         .min_args = 1,
         .max_args = 2},
        {.name = "types",
         .contexts = kHttp | kServer | kLocation,
         .block = BlockKind::kFreeform,
         .block_context = kTypes},
        {.name = "map",
         .contexts = kHttp,
         .min_args = 2,
         .max_args = 2,
         .block = BlockKind::kFreeform,
         .block_context = kMap},
        {.name = "include", .contexts = kAnyContext, .min_args = 1, .max_args = 1},
    });
    return reg;
  }();
  return *r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ParseOptions opts;
  opts.expand_includes = false;

  ParseResult result;
  parse_string(text, "/fuzz.conf", opts, result);
  for (const ConfigError& e : result.errors) (void)e.to_string();
  for (const ConfigError& e : registry().validate(result.directives)) (void)e.to_string();
  (void)dump(result.files);

  ParseResult g;
  parse_command_line(text, opts, g);
  for (const ConfigError& e : registry().validate(g.directives)) (void)e.to_string();
  return 0;
}
