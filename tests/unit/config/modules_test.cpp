#include "config/modules.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "server/loader.h"

namespace portico::config {
namespace {

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

bool has(const std::string& args, const std::string& word) {
  for (const auto& w : words(args))
    if (w == word) return true;
  return false;
}

TEST(Modules, NothingRegisteredIsEveryDefaultModuleWithout) {
  Registry r;
  const std::string args = module_arguments(r);
  EXPECT_EQ(args.find("--with-"), std::string::npos) << args;
  for (const NginxModule& m : nginx_modules())
    EXPECT_EQ(has(args, "--without-" + std::string(m.name)), m.default_on) << m.name;
}

TEST(Modules, ARegisteredDirectiveMakesItsModuleBuilt) {
  Registry r;
  r.add({
      {.name = "stream", .contexts = kMain, .block = BlockKind::kBlock, .block_context = kStream},
      {.name = "proxy_pass", .contexts = kLocation, .min_args = 1, .max_args = 1},
      // the same name in another context is another module's
      {.name = "allow", .contexts = kStreamServer, .min_args = 1, .max_args = 1},
  });
  const std::string args = module_arguments(r);
  EXPECT_TRUE(has(args, "--with-stream")) << args;
  EXPECT_FALSE(has(args, "--without-http_proxy_module")) << args;
  EXPECT_FALSE(has(args, "--without-stream_access_module")) << args;
  EXPECT_TRUE(has(args, "--without-http_access_module")) << args;
  EXPECT_TRUE(has(args, "--without-http")) << args;
}

// What this binary's registry makes -V say, read the way nginx's test suite reads it.
TEST(Modules, PorticoRegistry) {
  const std::string args = module_arguments(server::registry());
  for (const char* built :
       {"http", "http_proxy_module", "http_rewrite_module", "http_access_module", "http_map_module",
        "http_upstream_hash_module", "http_upstream_ip_hash_module",
        "http_upstream_least_conn_module", "http_upstream_random_module",
        "http_upstream_keepalive_module", "http_upstream_zone_module", "stream_access_module",
        "stream_upstream_hash_module", "stream_upstream_least_conn_module",
        "stream_upstream_random_module", "stream_upstream_zone_module", "http_gzip_module"})
    EXPECT_FALSE(has(args, std::string("--without-") + built)) << built << ": " << args;
  EXPECT_TRUE(has(args, "--with-stream")) << args;
  EXPECT_TRUE(has(args, "--with-http_realip_module")) << args;
  EXPECT_TRUE(has(args, "--with-http_gzip_static_module")) << args;
  EXPECT_TRUE(has(args, "--with-http_gunzip_module")) << args;
  EXPECT_TRUE(has(args, "--without-http_fastcgi_module")) << args;
  // Test::Nginx's has_module('http_ssl') is a plain substring match (the ssl module is built),
  // and a dynamic stream module would make it load_module one.
  EXPECT_TRUE(has(args, "--with-http_ssl_module")) << args;
  // The HTTP/2 module is built (Test::Nginx's has_module('http_v2')).
  EXPECT_TRUE(has(args, "--with-http_v2_module")) << args;
  EXPECT_EQ(args.find("=dynamic"), std::string::npos) << args;
  std::set<std::string> seen;
  for (const auto& w : words(args)) EXPECT_TRUE(seen.insert(w).second) << "twice: " << w;
}

}  // namespace
}  // namespace portico::config
