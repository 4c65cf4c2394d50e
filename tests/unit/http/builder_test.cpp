// Config text -> location settings: the http builder and the modules' directive tables,
// without sockets. Each case loads a real configuration file through server::load, as -t does.
#include "http/builder.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "proxy/directives.h"
#include "server/loader.h"
#include "static/static_module.h"

namespace portico::http {
namespace {

class BuilderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/portico-builder-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Loads `http_body` as the body of an http{} block (access logs off, so nothing is opened).
  server::LoadResult load(const std::string& http_body) {
    std::string path = dir_ + "/portico.conf";
    std::ofstream(path) << "pid off;\nhttp {\naccess_log off;\n" << http_body << "\n}\n";
    server::LoadOptions o;
    o.prefix = dir_ + "/";
    o.conf_path = path;
    o.workers_hint = 1;
    return server::load(o);
  }

  // The location named `name` of the first server (its own settings when name is empty).
  static const LocationConf* location(const server::LoadResult& r, std::string_view name) {
    const ServerConf& s = *r.snapshot->http.servers.at(0);
    if (name.empty()) return s.loc;
    for (const auto& l : s.locations)
      if (l->name == name) return l.get();
    return nullptr;
  }

  static std::string first_error(const server::LoadResult& r) {
    return r.errors.empty() ? "" : r.errors.front().to_string();
  }

  std::string dir_;
};

TEST_F(BuilderTest, LevelsInheritAndOverride) {
  auto r = load(R"(
    keepalive_timeout 10s;
    sendfile on;
    server {
      listen 127.0.0.1:8080;
      sendfile off;
      location /a/ { client_max_body_size 2m; }
    })");
  ASSERT_TRUE(r.snapshot) << first_error(r);
  const LocationConf* a = location(r, "/a/");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->keepalive_timeout, 10'000u);
  EXPECT_FALSE(a->sendfile);
  EXPECT_EQ(a->client_max_body_size, 2u << 20);
  EXPECT_EQ(location(r, "")->client_max_body_size, 1u << 20);  // nginx's default
}

TEST_F(BuilderTest, AnArrayGivenAtALevelReplacesTheInheritedOne) {
  auto r = load(R"(
    add_header X-Http 1;
    server {
      listen 127.0.0.1:8080;
      add_header X-Server 1;
      add_header X-Server-Too 1;
      allow 10.0.0.0/8;
      deny all;
      location /inherits/ { }
      location /own/ { add_header X-Own 1; deny 192.0.2.1; }
    })");
  ASSERT_TRUE(r.snapshot) << first_error(r);
  const LocationConf* inherits = location(r, "/inherits/");
  ASSERT_EQ(inherits->add_headers.size(), 2u);
  EXPECT_EQ(inherits->add_headers[0].name, "X-Server");
  EXPECT_EQ(inherits->access.size(), 2u);
  const LocationConf* own = location(r, "/own/");
  ASSERT_EQ(own->add_headers.size(), 1u);
  EXPECT_EQ(own->add_headers[0].name, "X-Own");
  ASSERT_EQ(own->access.size(), 1u);  // allow and deny share one list
  EXPECT_FALSE(own->access[0].allow);
}

TEST_F(BuilderTest, ProxyPassIsTheLocationsOwnAndAnIfInheritsIt) {
  auto r = load(R"(
    proxy_read_timeout 5s;
    server {
      listen 127.0.0.1:8080;
      location /app/ {
        proxy_pass http://127.0.0.1:9;
        proxy_set_header X-A 1;
        location /app/static/ { }
        if ($arg_x) { add_header X-If 1; }
      }
      location /files/ { }
    })");
  ASSERT_TRUE(r.snapshot) << first_error(r);
  const LocationConf* app = location(r, "/app/");
  ASSERT_EQ(app->content, &proxy::kProxyContent);
  const proxy::ProxyConf& pc = app->conf<proxy::ProxyConf>();
  ASSERT_NE(pc.pass, nullptr);
  EXPECT_EQ(pc.pass->proxy_host, "127.0.0.1:9");
  EXPECT_EQ(pc.read_timeout_ms, 5'000u);
  // nginx's defaults go first unless set: Host $proxy_host, Connection close.
  ASSERT_EQ(pc.set_headers.size(), 3u);
  EXPECT_EQ(pc.set_headers[0].lname, "host");
  EXPECT_EQ(pc.set_headers[1].lname, "connection");
  EXPECT_EQ(pc.set_headers[2].lname, "x-a");

  const LocationConf* nested = location(r, "/app/static/");
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->content, nullptr);  // static content
  EXPECT_EQ(nested->conf<proxy::ProxyConf>().pass, nullptr);
  EXPECT_EQ(nested->conf<proxy::ProxyConf>().read_timeout_ms, 5'000u);  // settings do inherit

  ASSERT_EQ(app->script.size(), 1u);
  const LocationConf* in_if = app->script[0].if_loc;
  ASSERT_NE(in_if, nullptr);
  EXPECT_EQ(in_if->content, &proxy::kProxyContent);
  EXPECT_EQ(in_if->conf<proxy::ProxyConf>().pass, pc.pass);
  EXPECT_EQ(in_if->conf<proxy::ProxyConf>().set_headers.size(), 3u);
  EXPECT_EQ(in_if->add_headers.size(), 1u);
  EXPECT_EQ(location(r, "/files/")->content, nullptr);
}

TEST_F(BuilderTest, StaticSettingsAreTheStaticModules) {
  auto r = load(R"(
    server {
      listen 127.0.0.1:8080;
      index a.html b.html;
      etag off;
      location /x/ { max_ranges 1; }
      location /y/ { index y.html; if_modified_since before; }
    })");
  ASSERT_TRUE(r.snapshot) << first_error(r);
  const auto& x = location(r, "/x/")->conf<static_files::StaticConf>();
  EXPECT_EQ(x.index.size(), 2u);
  EXPECT_FALSE(x.etag);
  EXPECT_EQ(x.max_ranges, 1u);
  const auto& y = location(r, "/y/")->conf<static_files::StaticConf>();
  ASSERT_EQ(y.index.size(), 1u);
  EXPECT_EQ(y.index[0].source(), "y.html");
  EXPECT_EQ(y.if_modified_since, static_files::ImsMode::kBefore);
}

TEST_F(BuilderTest, ABadValueIsReportedAtItsLine) {
  auto r = load("server {\nlisten 127.0.0.1:8080;\nproxy_buffering maybe;\n}");
  ASSERT_FALSE(r.snapshot);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].message,
            "invalid value \"maybe\" in \"proxy_buffering\" directive, it must be \"on\" or "
            "\"off\"");
  EXPECT_EQ(r.errors[0].line, 6);  // three lines of preamble in load()
}

TEST_F(BuilderTest, EveryErrorIsReported) {
  auto r = load(R"(
    server {
      listen 127.0.0.1:8080;
      keepalive_timeout forever;
      location /a/ { proxy_pass ftp://x; expires soon; }
    })");
  ASSERT_FALSE(r.snapshot);
  ASSERT_EQ(r.errors.size(), 3u);
  EXPECT_EQ(r.errors[0].message, "\"keepalive_timeout\" directive invalid value");
  EXPECT_EQ(r.errors[1].message, "invalid URL prefix");
  EXPECT_EQ(r.errors[2].message, "\"expires\" directive invalid value");
}

TEST_F(BuilderTest, LimitExceptIsALevelOfItsLocation) {
  auto r = load(R"(
    server {
      listen 127.0.0.1:8080;
      ignore_invalid_headers off;
      location /app/ {
        proxy_pass http://127.0.0.1:9;
        add_header X-A 1;
        limit_except GET OPTIONS { deny all; }
        allow 127.0.0.1;
        location /app/in/ { }
      }
    })");
  ASSERT_TRUE(r.snapshot) << first_error(r);
  EXPECT_FALSE(r.snapshot->http.servers.at(0)->ignore_invalid_headers);
  EXPECT_FALSE(r.snapshot->http.servers.at(0)->underscores_in_headers);
  const LocationConf* app = location(r, "/app/");
  ASSERT_NE(app->limit_except, nullptr);
  EXPECT_EQ(app->limit_except_methods, (std::vector<std::string>{"GET", "HEAD", "OPTIONS"}));
  // The block starts from the complete location (even what follows it), its own list replaces
  // the inherited access rules, and the content handler stays the location's.
  const LocationConf* lmt = app->limit_except;
  EXPECT_EQ(lmt->content, &proxy::kProxyContent);
  EXPECT_EQ(lmt->add_headers.size(), 1u);
  ASSERT_EQ(lmt->access.size(), 1u);
  EXPECT_FALSE(lmt->access[0].allow);
  ASSERT_EQ(app->access.size(), 1u);
  EXPECT_EQ(location(r, "/app/in/")->limit_except, nullptr);  // not inherited
}

TEST_F(BuilderTest, LimitExceptErrors) {
  auto r = load(R"(
    server {
      listen 127.0.0.1:8080;
      location /a/ { limit_except FETCH { deny all; } }
      underscores_in_headers maybe;
    })");
  ASSERT_FALSE(r.snapshot);
  ASSERT_EQ(r.errors.size(), 2u) << first_error(r);
  // The server's own line first: limit_except is built once its location is complete.
  EXPECT_EQ(r.errors[0].message,
            "invalid value \"maybe\" in \"underscores_in_headers\" directive, it must be \"on\" "
            "or \"off\"");
  EXPECT_EQ(r.errors[1].message, "invalid method \"FETCH\"");
  // Only what nginx allows there (allow, deny, auth_basic ...) goes inside the block.
  r = load(R"(
    server {
      listen 127.0.0.1:8080;
      location /b/ { limit_except GET { return 403; } }
    })");
  ASSERT_FALSE(r.snapshot);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].message, "\"return\" directive is not allowed here");
}

TEST_F(BuilderTest, UpstreamHashKeyIsCompiledAgainstHttpVariables) {
  auto r = load(R"(
    upstream u { hash $no_such_variable; server 127.0.0.1:9; }
    server { listen 127.0.0.1:8080; location / { proxy_pass http://u; } })");
  ASSERT_FALSE(r.snapshot);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].message, "unknown \"no_such_variable\" variable");
  EXPECT_EQ(r.errors[0].line, 5);  // the body starts with a blank line
}

}  // namespace
}  // namespace portico::http
