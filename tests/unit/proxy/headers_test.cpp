// The proxy's header builders, without sockets: a real configuration (loaded as -t does), a
// parsed client request, a parsed upstream response, and the heads they become.
#include "proxy/headers.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "http/http1_writer.h"
#include "http/parser.h"
#include "http/phases.h"
#include "http/uri.h"
#include "proxy/response_parser.h"
#include "server/loader.h"

namespace portico::proxy {
namespace {

class ProxyHeadersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/portico-headers-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Loads one server with `locations`; returns the location named `name`.
  const http::LocationConf* load(const std::string& locations, std::string_view name) {
    std::string path = dir_ + "/portico.conf";
    std::ofstream(path) << "pid off;\nhttp {\naccess_log off;\nserver {\nlisten 127.0.0.1:8080;\n"
                        << locations << "\n}\n}\n";
    server::LoadOptions o;
    o.prefix = dir_ + "/";
    o.conf_path = path;
    o.workers_hint = 1;
    result_ = server::load(o);
    EXPECT_TRUE(result_.snapshot) << (result_.errors.empty() ? "" : result_.errors[0].to_string());
    if (!result_.snapshot) return nullptr;
    const http::ServerConf& s = *result_.snapshot->http.servers.at(0);
    for (const auto& l : s.locations)
      if (l->name == name) return l.get();
    return nullptr;
  }

  // A request as the pipeline leaves it for the proxy: head parsed, routed to `loc`.
  void request(const http::LocationConf* loc, std::string raw) {
    raw_ = std::move(raw);
    http::ParseLimits limits;
    size_t consumed = 0;
    int err = 0;
    ASSERT_EQ(http::parse_request_head(raw_, limits, r_.head, &consumed, &err),
              http::ParseStatus::kComplete);
    r_.http = &result_.snapshot->http;
    r_.server = result_.snapshot->http.servers.at(0).get();
    r_.loc = loc;
    r_.method_name = r_.head.method_name;
    ASSERT_EQ(http::normalize_path(r_.head.path, r_.uri, true), http::UriResult::kOk);
    r_.args.assign(r_.head.query);
    r_.vars.resize(r_.http->vars.user_count());
    r_.vars_set.assign(r_.http->vars.user_count(), 0);
    const ProxyPass& pass = *conf().pass;
    r_.upstream.proxy_host = pass.proxy_host;
    r_.upstream.proxy_port = pass.proxy_port;
  }

  const ProxyConf& conf() const { return r_.loc->conf<ProxyConf>(); }

  std::string head_for(BodyMode mode) {
    std::string out;
    EXPECT_TRUE(build_request_head(r_, conf(), *conf().pass, nullptr, mode, out));
    return out;
  }

  // Parses `raw` as the upstream's response and builds the client's head from it.
  bool response(std::string raw) {
    upstream_raw_ = std::move(raw);
    size_t consumed = 0;
    std::string why;
    EXPECT_EQ(parse_response_head(upstream_raw_, ResponseParseLimits{}, in_, &consumed, &why),
              ParseStatus::kComplete)
        << why;
    const bool head = r_.head.method == http::Method::kHead;
    return build_response_head(r_, in_, framing(in_, head), conf(), *conf().pass);
  }

  // What the client gets: the headers filter, then the HTTP/1.1 codec's serialization of r.resp
  // (as Connection::start_response runs them).
  std::string client_head() {
    http::apply_headers_filter(r_);
    http::Http1Writer w;
    w.start(r_);
    return r_.head_buf;
  }

  std::string dir_;
  server::LoadResult result_;
  std::string raw_, upstream_raw_;
  http::Request r_;
  ResponseHead in_;
};

TEST_F(ProxyHeadersTest, RequestHeadDefaultsHopByHopAndOverrides) {
  auto* loc = load(R"(location /app/ {
      proxy_pass http://127.0.0.1:9000/backend/;
      proxy_set_header X-Set "set";
      proxy_set_header X-Empty "";
    })",
                   "/app/");
  ASSERT_TRUE(loc);
  request(loc,
          "POST /app/a%20b?q=1 HTTP/1.1\r\nHost: example.com\r\nConnection: keep-alive, X-Drop\r\n"
          "X-Drop: gone\r\nX-Set: client\r\nX-Keep: kept\r\nExpect: 100-continue\r\n"
          "Keep-Alive: 5\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(request_body_mode(r_.head, conf()), BodyMode::kBuffered);  // nginx's default
  const std::string h = head_for(BodyMode::kLength);
  // The location's prefix replaced by the proxy_pass URI, escaped again; HTTP/1.0 by default.
  EXPECT_EQ(h.rfind("POST /backend/a%20b?q=1 HTTP/1.0\r\n", 0), 0u) << h;
  EXPECT_EQ(r_.upstream.uri, "/backend/a%20b?q=1");
  // nginx's defaults: Host $proxy_host, Connection close.
  EXPECT_NE(h.find("\r\nHost: 127.0.0.1:9000\r\n"), std::string::npos) << h;
  EXPECT_NE(h.find("\r\nConnection: close\r\n"), std::string::npos) << h;
  EXPECT_NE(h.find("\r\nX-Set: set\r\n"), std::string::npos) << h;
  EXPECT_EQ(h.find("X-Empty"), std::string::npos) << h;  // empty values are dropped
  EXPECT_EQ(h.find("client"), std::string::npos) << h;   // overridden by proxy_set_header
  EXPECT_EQ(h.find("X-Drop"), std::string::npos) << h;   // named by Connection
  EXPECT_EQ(h.find("Keep-Alive"), std::string::npos) << h;
  EXPECT_EQ(h.find("Expect"), std::string::npos) << h;
  EXPECT_NE(h.find("\r\nX-Keep: kept\r\n"), std::string::npos) << h;
  EXPECT_EQ(h.find("example.com"), std::string::npos) << h;
  // The framing is ours: one Content-Length, then the end of the head.
  EXPECT_EQ(h.substr(h.size() - 23), "\r\nContent-Length: 5\r\n\r\n") << h;
}

TEST_F(ProxyHeadersTest, RequestBodyModesAndTheirFraming) {
  auto* loc = load(R"(location /s/ {
      proxy_pass http://127.0.0.1:9000;
      proxy_http_version 1.1;
      proxy_request_buffering off;
    }
    location /s10/ {
      proxy_pass http://127.0.0.1:9000;
      proxy_request_buffering off;
    })",
                   "/s/");
  ASSERT_TRUE(loc);
  request(loc, "POST /s/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(request_body_mode(r_.head, conf()), BodyMode::kChunked);
  std::string h = head_for(BodyMode::kChunked);
  EXPECT_EQ(h.rfind("POST /s/x HTTP/1.1\r\n", 0), 0u) << h;
  EXPECT_EQ(h.substr(h.size() - 32), "\r\nTransfer-Encoding: chunked\r\n\r\n") << h;

  // A chunked body for an HTTP/1.0 upstream must be buffered to get a length.
  const http::LocationConf* s10 = nullptr;
  for (const auto& l : result_.snapshot->http.servers.at(0)->locations)
    if (l->name == "/s10/") s10 = l.get();
  ASSERT_TRUE(s10);
  request(s10, "POST /s10/x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
  EXPECT_EQ(request_body_mode(r_.head, conf()), BodyMode::kBuffered);
  h = head_for(BodyMode::kBuffered);
  EXPECT_EQ(h.substr(h.size() - 2), "\r\n");  // left open
  EXPECT_NE(h.substr(h.size() - 4), "\r\n\r\n");
  end_buffered_head(h, 1234);
  EXPECT_EQ(h.substr(h.size() - 26), "\r\nContent-Length: 1234\r\n\r\n") << h;

  request(loc, "GET /s/y HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(request_body_mode(r_.head, conf()), BodyMode::kNone);
  h = head_for(BodyMode::kNone);
  EXPECT_EQ(h.find("Content-Length"), std::string::npos);
  EXPECT_EQ(h.substr(h.size() - 4), "\r\n\r\n");
}

TEST_F(ProxyHeadersTest, RequestUriWithoutUriPartAndWithVariables) {
  auto* loc = load("location /p/ { proxy_pass http://127.0.0.1:9000; }", "/p/");
  ASSERT_TRUE(loc);
  // absolute-form target: sent as origin-form, as received (not re-escaped).
  request(loc, "GET http://example.com/p/%7Ex?a=b HTTP/1.1\r\nHost: example.com\r\n\r\n");
  std::string h = head_for(BodyMode::kNone);
  EXPECT_EQ(h.rfind("GET /p/%7Ex?a=b HTTP/1.0\r\n", 0), 0u) << h;
  // A URI from proxy_pass with variables is sent verbatim.
  std::string out;
  const std::string var_uri = "/fixed?z=1";
  ASSERT_TRUE(build_request_head(r_, conf(), *conf().pass, &var_uri, BodyMode::kNone, out));
  EXPECT_EQ(out.rfind("GET /fixed?z=1 HTTP/1.0\r\n", 0), 0u) << out;
}

TEST_F(ProxyHeadersTest, RequestWithTooManyConnectionOptionsIsRefused) {
  auto* loc = load("location /p/ { proxy_pass http://127.0.0.1:9000; }", "/p/");
  ASSERT_TRUE(loc);
  std::string names;
  for (int i = 0; i < 20; ++i) names += (i ? ", X-" : "X-") + std::to_string(i);
  request(loc, "GET /p/ HTTP/1.1\r\nHost: h\r\nConnection: " + names + "\r\n\r\n");
  std::string out;
  EXPECT_FALSE(build_request_head(r_, conf(), *conf().pass, nullptr, BodyMode::kNone, out));
}

TEST_F(ProxyHeadersTest, ResponseFieldsHiddenPassedAndFramed) {
  auto* loc = load(R"(location /p/ {
      proxy_pass http://127.0.0.1:9000;
      proxy_hide_header X-Secret;
    })",
                   "/p/");
  ASSERT_TRUE(loc);
  request(loc, "GET /p/ HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(
      response("HTTP/1.1 200 Fine\r\nServer: app\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n"
               "Content-Type: text/x\r\nContent-Length: 12\r\nConnection: keep-alive, X-Hop\r\n"
               "X-Hop: 1\r\nKeep-Alive: timeout=5\r\nX-Secret: s\r\nX-Accel-Redirect: /x\r\nX-App: "
               "a\r\n\r\n"));
  EXPECT_EQ(r_.resp.status, 200);
  EXPECT_EQ(r_.resp.status_line, "200 Fine");
  EXPECT_EQ(r_.resp.content_length, 12);
  EXPECT_FALSE(r_.resp.header_only);
  const std::string h = client_head();
  EXPECT_EQ(h.rfind("HTTP/1.1 200 Fine\r\nServer: portico", 0), 0u) << h;
  EXPECT_EQ(h.find("Server: app"), std::string::npos) << h;  // hidden by default
  EXPECT_EQ(h.find("2024"), std::string::npos) << h;         // our Date, not theirs
  EXPECT_NE(h.find("\r\nContent-Length: 12\r\n"), std::string::npos) << h;
  EXPECT_NE(h.find("\r\nContent-Type: text/x\r\n"), std::string::npos) << h;
  EXPECT_NE(h.find("\r\nX-App: a\r\n"), std::string::npos) << h;
  for (const char* gone : {"X-Hop", "timeout=5", "X-Secret", "X-Accel"})
    EXPECT_EQ(h.find(gone), std::string::npos) << gone << "\n" << h;
  EXPECT_EQ(h.find("Transfer-Encoding"), std::string::npos) << h;
}

TEST_F(ProxyHeadersTest, ResponseOfUnknownLengthIsChunkedByTheCodec) {
  auto* loc = load("location /p/ { proxy_pass http://127.0.0.1:9000; }", "/p/");
  ASSERT_TRUE(loc);
  request(loc, "GET /p/ HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"));
  EXPECT_EQ(r_.resp.content_length, -1);
  const std::string h = client_head();
  EXPECT_NE(h.find("\r\nTransfer-Encoding: chunked\r\n"), std::string::npos) << h;
  EXPECT_EQ(h.find("chunked\r\nTransfer-Encoding"), std::string::npos) << h;  // one of them
}

TEST_F(ProxyHeadersTest, ResponseToHeadKeepsTheLength) {
  auto* loc = load("location /p/ { proxy_pass http://127.0.0.1:9000; }", "/p/");
  ASSERT_TRUE(loc);
  request(loc, "HEAD /p/ HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(response("HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"));
  EXPECT_TRUE(r_.resp.header_only);
  EXPECT_EQ(r_.resp.content_length, 99);
}

TEST_F(ProxyHeadersTest, UpgradeResponseKeepsUpgradeOnce) {
  auto* loc = load("location /p/ { proxy_pass http://127.0.0.1:9000; }", "/p/");
  ASSERT_TRUE(loc);
  request(loc, "GET /p/ HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  ASSERT_TRUE(response(
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"));
  EXPECT_TRUE(r_.resp.upgrade);
  EXPECT_FALSE(r_.resp.keep_alive);
  const std::string h = client_head();
  EXPECT_NE(h.find("\r\nConnection: upgrade\r\n"), std::string::npos) << h;
  const size_t first = h.find("Upgrade: websocket");
  ASSERT_NE(first, std::string::npos) << h;
  EXPECT_EQ(h.find("Upgrade: websocket", first + 1), std::string::npos) << h;
}

TEST_F(ProxyHeadersTest, RedirectsRewrittenIntoOwnedValues) {
  auto* loc = load(R"(location /app/ {
      proxy_pass http://127.0.0.1:9000/backend/;
      absolute_redirect off;
    })",
                   "/app/");
  ASSERT_TRUE(loc);
  request(loc, "GET /app/ HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(
      response("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9000/backend/next\r\n"
               "Refresh: 5; url=http://127.0.0.1:9000/backend/r\r\nContent-Length: 0\r\n\r\n"));
  // Rewritten values are the response's own (r.resp.headers), not views into the upstream's buffer.
  ASSERT_EQ(r_.resp.header_count, 2u);
  EXPECT_EQ(r_.resp.headers[0].value, "/app/next");
  const std::string h = client_head();
  EXPECT_NE(h.find("\r\nLocation: /app/next\r\n"), std::string::npos) << h;
  EXPECT_NE(h.find("\r\nRefresh: 5; url=/app/r\r\n"), std::string::npos) << h;
}

TEST_F(ProxyHeadersTest, ExpiresReplacesTheUpstreamsCaching) {
  auto* loc = load(R"(location /p/ {
      proxy_pass http://127.0.0.1:9000;
      expires modified 1h;
    })",
                   "/p/");
  ASSERT_TRUE(loc);
  request(loc, "GET /p/ HTTP/1.1\r\nHost: h\r\n\r\n");
  ASSERT_TRUE(response(
      "HTTP/1.1 200 OK\r\nLast-Modified: Mon, 01 Jan 2024 00:00:00 GMT\r\nExpires: never\r\n"
      "Cache-Control: no-store\r\nContent-Length: 0\r\n\r\n"));
  const std::string h = client_head();
  EXPECT_EQ(h.find("never"), std::string::npos) << h;
  EXPECT_EQ(h.find("no-store"), std::string::npos) << h;
  // One Last-Modified (ours, from theirs) and an Expires an hour after it.
  const size_t lm = h.find("Last-Modified: Mon, 01 Jan 2024 00:00:00 GMT");
  ASSERT_NE(lm, std::string::npos) << h;
  EXPECT_EQ(h.find("Last-Modified", lm + 1), std::string::npos) << h;
  EXPECT_NE(h.find("\r\nExpires: Mon, 01 Jan 2024 01:00:00 GMT\r\n"), std::string::npos) << h;
}

}  // namespace
}  // namespace portico::proxy
