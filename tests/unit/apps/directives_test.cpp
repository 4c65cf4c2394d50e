// Config text -> the apps the supervisor runs: `app` blocks, `server app:NAME` upstreams and
// the Passenger directives, loaded as -t does; and the errors, with file:line.
#include "apps/directives.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "proxy/directives.h"
#include "proxy/proxy_conf.h"
#include "server/loader.h"

namespace portico::apps {
namespace {

class AppsConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/portico-apps-conf-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Loads `http_body` as the http{} block; returns its apps (empty on errors, in errors()).
  std::vector<std::shared_ptr<const AppConf>> load(const std::string& http_body) {
    path_ = dir_ + "/portico.conf";
    std::ofstream(path_) << "pid off;\nhttp {\naccess_log off;\n" << http_body << "\n}\n";
    server::LoadOptions o;
    o.prefix = dir_ + "/";
    o.conf_path = path_;
    o.workers_hint = 1;
    result_ = server::load(o);
    if (!result_.snapshot) return {};
    return configured_apps(result_.snapshot->http);
  }
  std::string errors() const {
    std::string s;
    for (const auto& e : result_.errors) s += e.to_string() + "\n";
    return s;
  }

  std::string dir_, path_;
  server::LoadResult result_;
};

TEST_F(AppsConfigTest, AppBlockSettings) {
  auto apps = load(R"(
    app spring {
      command "java -jar app.jar --server.port=$PORT";
      root /opt/spring;
      instances 2 4;
      env JAVA_OPTS -Xmx256m;
      env GREETING "hello world";
      start_timeout 30s;
      ready_check http /actuator/health;
      stop_signal INT;
      stop_timeout 5s;
      backoff initial=50ms max=5s factor=3 reset_after=10s;
      concurrency 8;
      log logs/spring.log;
    }
    upstream backend { server app:spring; }
    server { listen 127.0.0.1:8080; location / { proxy_pass http://backend; } }
  )");
  ASSERT_EQ(apps.size(), 1u) << errors();
  const AppConf& a = *apps[0];
  EXPECT_EQ(a.name, "spring");
  EXPECT_EQ(a.type, AppType::kGeneric);
  EXPECT_EQ(a.command, "java -jar app.jar --server.port=$PORT");
  EXPECT_EQ(a.root, "/opt/spring");
  EXPECT_EQ(a.min_instances, 2u);
  EXPECT_EQ(a.max_instances, 4u);
  ASSERT_EQ(a.env.size(), 2u);
  EXPECT_EQ(a.env[1].second, "hello world");
  EXPECT_EQ(a.start_timeout_ms, 30'000u);
  EXPECT_EQ(a.ready.kind, ReadyCheck::Kind::kHttp);
  EXPECT_EQ(a.ready.uri, "/actuator/health");
  EXPECT_EQ(a.stop_signal, SIGINT);
  EXPECT_EQ(a.stop_timeout_ms, 5'000u);
  EXPECT_EQ(a.backoff.initial_ms, 50u);
  EXPECT_EQ(a.backoff.max_ms, 5'000u);
  EXPECT_EQ(a.backoff.factor, 3.0);
  EXPECT_EQ(a.backoff.reset_after_ms, 10'000u);
  EXPECT_EQ(a.concurrency, 8u);
  EXPECT_EQ(a.log_path, dir_ + "/logs/spring.log");
  // The upstream is the app's: live, empty until a process is ready, least busy first.
  ASSERT_EQ(a.groups.size(), 1u);
  EXPECT_EQ(a.groups[0]->name(), "backend");
  EXPECT_EQ(a.groups[0]->size(), 0u);
  EXPECT_EQ(a.groups[0]->method(), upstream::Method::kLeastBusy);
  const auto& uc = result_.snapshot->http.upstreams.at("backend");
  EXPECT_EQ(uc->app, "spring");
  EXPECT_EQ(uc->queue_max, 100u);
}

TEST_F(AppsConfigTest, CommandWordsKeepTheirArguments) {
  EXPECT_EQ(shell_words({"python3 app.py --port=$PORT"}), "python3 app.py --port=$PORT");
  EXPECT_EQ(shell_words({"python3", "-c", "import sys; sys.exit(3)"}),
            "python3 -c \"import sys; sys.exit(3)\"");
  EXPECT_EQ(shell_words({"echo", "a\"b", "$PORT"}), "echo \"a\\\"b\" $PORT");
}

TEST_F(AppsConfigTest, PassengerLocationMakesAnApp) {
  auto apps = load(R"(
    server {
      listen 127.0.0.1:8080;
      root /var/www/app-b/public;
      location / {
        passenger_enabled on;
        passenger_app_type node;
        passenger_startup_file app.js;
        passenger_min_instances 2;
        passenger_env_var GREETING hi;
        passenger_app_env staging;
        passenger_start_timeout 20;
        passenger_max_request_queue_size 7;
        passenger_app_log_file logs/app-b.log;
      }
      location /static/ { }
    }
  )");
  ASSERT_EQ(apps.size(), 1u) << errors();
  const AppConf& a = *apps[0];
  EXPECT_EQ(a.root, "/var/www/app-b");  // the parent of `root`, as Passenger
  EXPECT_EQ(a.type, AppType::kNode);
  EXPECT_EQ(a.startup_file, "app.js");
  EXPECT_EQ(a.min_instances, 2u);
  EXPECT_EQ(a.app_env, "staging");
  ASSERT_EQ(a.env.size(), 1u);
  EXPECT_EQ(a.env[0].first, "GREETING");
  EXPECT_EQ(a.start_timeout_ms, 20'000u);
  EXPECT_EQ(a.log_path, dir_ + "/logs/app-b.log");
  ASSERT_EQ(a.groups.size(), 1u);
  // The location's content is the proxy to the app's group, with the queue size asked for.
  const http::ServerConf& s = *result_.snapshot->http.servers.at(0);
  const http::LocationConf* loc = nullptr;
  for (const auto& l : s.locations)
    if (l->name == "/") loc = l.get();
  ASSERT_NE(loc, nullptr);
  EXPECT_EQ(loc->content, &kPassengerContent);
  const auto& pc =
      static_cast<const proxy::ProxyConf&>(*loc->mods[size_t(proxy::proxy_module.index)]);
  ASSERT_TRUE(pc.pass);
  EXPECT_EQ(pc.pass->upstream->group, a.groups[0]);
  EXPECT_EQ(pc.pass->upstream->queue_max, 7u);
}

TEST_F(AppsConfigTest, PassengerAtServerLevelAsInTheReferenceSetup) {
  // DESIGN.md's site B: no location at all.
  auto apps = load(R"(
    server {
      listen 127.0.0.1:8080;
      server_name ec2-203-0-113-10.compute.example.com;
      root /var/www/app-b/public;
      passenger_enabled on;
      passenger_app_type node;
      passenger_startup_file /var/www/app-b/app.js;
      location /nested/ { }
    }
  )");
  ASSERT_EQ(apps.size(), 1u) << errors();
  EXPECT_EQ(apps[0]->root, "/var/www/app-b");
  EXPECT_EQ(apps[0]->startup_file, "/var/www/app-b/app.js");
  const http::ServerConf& s = *result_.snapshot->http.servers.at(0);
  EXPECT_EQ(s.loc->content, &kPassengerContent);
  auto pass_of = [](const http::LocationConf* l) {
    return static_cast<const proxy::ProxyConf&>(*l->mods[size_t(proxy::proxy_module.index)])
        .pass.get();
  };
  ASSERT_NE(pass_of(s.loc), nullptr);
  for (const auto& l : s.locations) {  // a nested location is the same app's too
    EXPECT_EQ(l->content, &kPassengerContent) << l->name;
    ASSERT_NE(pass_of(l.get()), nullptr);
    EXPECT_EQ(pass_of(l.get())->upstream->group, apps[0]->groups[0]);
  }
}

TEST_F(AppsConfigTest, PassengerStartCommandIsGeneric) {
  auto apps = load(R"(
    server {
      listen 127.0.0.1:8080;
      location / {
        passenger_enabled on;
        passenger_app_root /opt/spring;
        passenger_app_start_command "java -jar app.jar --server.port=$PORT";
        app_ready_check http /ready;
      }
    }
  )");
  ASSERT_EQ(apps.size(), 1u) << errors();
  EXPECT_EQ(apps[0]->type, AppType::kGeneric);
  EXPECT_EQ(apps[0]->root, "/opt/spring");
  EXPECT_EQ(apps[0]->command, "java -jar app.jar --server.port=$PORT");
  EXPECT_EQ(apps[0]->ready.uri, "/ready");
}

// Node and python apps listen on unix sockets unless told tcp; generic commands only know $PORT.
TEST_F(AppsConfigTest, SocketKindByTypeUnlessSet) {
  auto apps = load(R"(
    app gen { command "x --port=$PORT"; }
    app gen_unix { command "x --socket=$PORTICO_SOCKET"; socket unix; }
    app js { type node; root /opt/js; }
    app js_tcp { type node; root /opt/js2; socket tcp; }
    server {
      listen 127.0.0.1:8080;
      location /py { passenger_enabled on; passenger_app_root /opt/py; passenger_app_type python; }
      location /py_tcp {
        passenger_enabled on; passenger_app_root /opt/py2; passenger_app_type python;
        app_socket tcp;
      }
      location /cmd {
        passenger_enabled on; passenger_app_root /opt/cmd;
        passenger_app_start_command "x --port=$PORT";
      }
    }
  )");
  ASSERT_EQ(apps.size(), 7u) << errors();
  std::map<std::string, bool> unix_socket;
  for (const auto& a : apps) unix_socket[a->name] = a->unix_socket;
  EXPECT_FALSE(unix_socket["gen"]);
  EXPECT_TRUE(unix_socket["gen_unix"]);
  EXPECT_TRUE(unix_socket["js"]);
  EXPECT_FALSE(unix_socket["js_tcp"]);
  EXPECT_TRUE(unix_socket["passenger:/opt/py"]);
  EXPECT_FALSE(unix_socket["passenger:/opt/py2"]);
  EXPECT_FALSE(unix_socket["passenger:/opt/cmd"]);
  load("app a { command x; socket udp; }\nserver { listen 127.0.0.1:8080; }");
  EXPECT_NE(errors().find("invalid value \"udp\" in \"socket\" directive"), std::string::npos)
      << errors();
  load("server { listen 127.0.0.1:8080; location / { app_socket pipe; } }");
  EXPECT_NE(errors().find("invalid value \"pipe\" in \"app_socket\" directive, it must be "
                          "\"tcp\" or \"unix\" in " +
                          dir_ + "/portico.conf:4"),
            std::string::npos)
      << errors();
}

TEST_F(AppsConfigTest, Errors) {
  load("upstream u { server app:nosuch; }\nserver { listen 127.0.0.1:8080; }");
  EXPECT_NE(
      errors().find("unknown app \"nosuch\" in upstream \"u\" in " + dir_ + "/portico.conf:4"),
      std::string::npos)
      << errors();
  load("app a { root /tmp; }\nserver { listen 127.0.0.1:8080; }");
  EXPECT_NE(errors().find("no \"command\" in app \"a\" in " + dir_ + "/portico.conf:4"),
            std::string::npos)
      << errors();
  load("app a { command x; instances 0; bogus 1; }\nserver { listen 127.0.0.1:8080; }");
  EXPECT_NE(errors().find("invalid value \"0\" in \"instances\" directive"), std::string::npos)
      << errors();
  EXPECT_NE(errors().find("unknown directive \"bogus\" in app"), std::string::npos) << errors();
  load(
      "app a { command x; }\nupstream u { server app:a; server 127.0.0.1:9; }\n"
      "server { listen 127.0.0.1:8080; }");
  EXPECT_NE(errors().find("\"server app:a\" must be the only server in upstream \"u\""),
            std::string::npos)
      << errors();
  load(
      "app a { command x; liveness_check http /h fails=0; max_requests lots; }\n"
      "server { listen 127.0.0.1:8080; }");
  EXPECT_NE(errors().find("invalid parameter \"fails=0\" in \"liveness_check\""), std::string::npos)
      << errors();
  EXPECT_NE(errors().find("invalid value \"lots\" in \"max_requests\""), std::string::npos)
      << errors();
  load("server { listen 127.0.0.1:8080; location / { passenger_memory_limit big; } }");
  EXPECT_NE(errors().find("invalid value \"big\" in \"passenger_memory_limit\" directive in " +
                          dir_ + "/portico.conf:4"),
            std::string::npos)
      << errors();
  load("server { listen 127.0.0.1:8080; location / { passenger_app_type ruby; } }");
  EXPECT_NE(errors().find("invalid value \"ruby\" in \"passenger_app_type\" directive"),
            std::string::npos)
      << errors();
}

TEST_F(AppsConfigTest, RecyclingAndRestartSettings) {
  auto apps = load(R"(
    passenger_pool_idle_time 120;
    app spring {
      command "java -jar app.jar";
      root /srv/spring;
      instances 1 4;
      max_requests 1000;
      memory_limit 512m;
      max_lifetime 1h;
      max_request_time 90s;
      idle_time 30s;
      rolling_restarts off;
      restart_dir /run/spring;
      liveness_check http /health interval=5s timeout=2s fails=4;
    }
    server {
      listen 127.0.0.1:8080;
      root /var/www/app-b/public;
      passenger_enabled on;
      passenger_max_requests 500;
      passenger_memory_limit 300;
      passenger_max_request_queue_time 5;
      app_max_lifetime 3600;
      passenger_max_request_time 20;
      passenger_resist_deployment_errors on;
      app_liveness_check tcp;
    }
  )");
  ASSERT_EQ(apps.size(), 2u) << errors();
  const AppConf& a = *apps[0];
  EXPECT_EQ(a.max_instances, 4u);
  EXPECT_EQ(a.max_requests, 1000u);
  EXPECT_EQ(a.memory_limit_kb, 512u * 1024);
  EXPECT_EQ(a.max_lifetime_ms, 3'600'000u);
  EXPECT_EQ(a.idle_time_ms, 30'000u);
  EXPECT_EQ(a.max_request_time_ms, 90'000u);
  EXPECT_FALSE(a.rolling_restarts);
  EXPECT_EQ(a.restart_file, "/run/spring/restart.txt");
  EXPECT_TRUE(a.liveness.enabled());
  EXPECT_EQ(a.liveness.check.kind, ReadyCheck::Kind::kHttp);
  EXPECT_EQ(a.liveness.check.uri, "/health");
  EXPECT_EQ(a.liveness.interval_ms, 5000u);
  EXPECT_EQ(a.liveness.timeout_ms, 2000u);
  EXPECT_EQ(a.liveness.fails, 4u);
  const AppConf& b = *apps[1];
  EXPECT_EQ(b.max_requests, 500u);
  EXPECT_EQ(b.memory_limit_kb, 300u * 1024);  // Passenger: megabytes
  EXPECT_EQ(b.max_lifetime_ms, 3'600'000u);
  EXPECT_EQ(b.idle_time_ms, 120'000u);        // http level, inherited
  EXPECT_EQ(b.max_request_time_ms, 20'000u);  // Passenger: seconds
  EXPECT_TRUE(b.rolling_restarts);
  EXPECT_EQ(b.restart_file, "/var/www/app-b/tmp/restart.txt");  // Passenger's default
  EXPECT_TRUE(b.liveness.enabled());
  EXPECT_EQ(b.liveness.check.kind, ReadyCheck::Kind::kTcp);
  EXPECT_EQ(b.liveness.interval_ms, 10'000u);  // defaults
}

TEST(AppsRestartFile, RelativeToTheAppRoot) {
  EXPECT_EQ(restart_file("/srv/a", ""), "/srv/a/tmp/restart.txt");
  EXPECT_EQ(restart_file("/srv/a", "run/"), "/srv/a/run/restart.txt");
  EXPECT_EQ(restart_file("/srv/a", "/var/run/a"), "/var/run/a/restart.txt");
  EXPECT_EQ(restart_file("/", ""), "/tmp/restart.txt");
}

TEST(AppsMemoryLimit, MegabytesOrASize) {
  uint64_t kb = 0;
  EXPECT_TRUE(parse_memory_limit("300", &kb));
  EXPECT_EQ(kb, 300u * 1024);
  EXPECT_TRUE(parse_memory_limit("1g", &kb));
  EXPECT_EQ(kb, 1024u * 1024);
  EXPECT_TRUE(parse_memory_limit("64k", &kb));
  EXPECT_EQ(kb, 64u);
  EXPECT_FALSE(parse_memory_limit("lots", &kb));
  EXPECT_FALSE(parse_memory_limit("-1", &kb));
}

}  // namespace
}  // namespace portico::apps
