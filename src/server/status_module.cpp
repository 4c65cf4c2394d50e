#include "server/status_module.h"

#include <unistd.h>

#include <atomic>
#include <ctime>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "apps/supervisor.h"
#include "core/time_cache.h"
#include "http/http_config.h"
#include "http/level.h"
#include "http/phases.h"
#include "tls/stats.h"
#include "upstream/group.h"
#include "upstream/upstream_conf.h"

namespace portico::server {

namespace {

using StatsList = std::vector<const http::WorkerStats*>;
std::atomic<std::shared_ptr<const StatsList>> g_worker_stats;
std::atomic<uint64_t> g_started_ms{0};  // TimeCache's clock when the workers were published

uint64_t uptime_ms() {
  return TimeCache::local().now_ms() - g_started_ms.load(std::memory_order_relaxed);
}

uint64_t load(const std::atomic<uint64_t>& a) {
  return a.load(std::memory_order_relaxed);
}

struct Totals {
  uint64_t accepted = 0, active = 0, requests = 0;
  uint64_t responses[6] = {};
  uint64_t tls_full = 0, tls_resumed = 0, tls12 = 0, tls13 = 0;
  uint64_t tls_failures[size_t(tls::Failure::kCount)] = {};
};

Totals totals() {
  Totals t;
  if (auto list = g_worker_stats.load())
    for (const http::WorkerStats* w : *list) {
      t.accepted += load(w->accepted);
      t.active += load(w->active);
      t.requests += load(w->requests);
      for (size_t i = 0; i < 6; ++i) t.responses[i] += load(w->responses[i]);
      t.tls_full += load(w->tls.full);
      t.tls_resumed += load(w->tls.resumed);
      t.tls12 += load(w->tls.tls12);
      t.tls13 += load(w->tls.tls13);
      for (size_t i = 0; i < size_t(tls::Failure::kCount); ++i)
        t.tls_failures[i] += load(w->tls.failures[i]);
    }
  return t;
}

const char* const kClasses[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};

// One served certificate: the server it belongs to (its first name, else file:line), the
// current context's certificate and how many times its files were picked up from disk.
struct CertRow {
  std::string server;
  const tls::CertInfo* cert;
  size_t reloads;
  std::shared_ptr<const tls::Context> keep;  // the context `cert` points into
};

using TlsServers = std::vector<TlsServer>;
std::atomic<std::shared_ptr<const TlsServers>> g_tls_servers;

std::vector<CertRow> certificates() {
  std::vector<CertRow> out;
  auto servers = g_tls_servers.load();
  if (!servers) return out;
  for (const TlsServer& s : *servers) {
    auto ctx = s.slot->get();
    for (const tls::CertInfo& c : ctx->certificates())
      out.push_back({s.name, &c, s.slot->reloads(), ctx});
  }
  return out;
}

// Whole days until `not_after` (negative once expired).
int64_t days_left(int64_t not_after) {
  const int64_t now = int64_t(::time(nullptr));
  const int64_t s = not_after - now;
  return s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
}

// An upstream's name as people wrote it (a Passenger app's group is "passenger:ROOT").
std::string upstream_name(const std::string& key) {
  return !key.empty() && key[0] == '\x02' ? key.substr(1) : key;
}

const char* membership(upstream::Membership m) {
  switch (m) {
    case upstream::Membership::kMember:
      return "member";
    case upstream::Membership::kDraining:
      return "draining";
    default:
      return "removed";
  }
}

template <typename Fn>
void each_peer(const http::Request& r, Fn fn) {
  for (const auto& [key, uc] : r.http->upstreams) {
    if (!uc || !uc->group) continue;
    const std::string name = upstream_name(key);
    auto list = uc->group->current();
    for (size_t i = 0; i < list->size(); ++i) {
      const upstream::Peer& p = list->peer(i);
      if (!p.listed()) continue;
      fn(name, p);
    }
  }
}

http::Step status_handle(http::Request& r) {
  if (r.head.method != http::Method::kGet && r.head.method != http::Method::kHead)
    return http::Step::status(405);
  const Totals t = totals();
  nlohmann::json j;
  j["version"] = PORTICO_VERSION;
  j["pid"] = ::getpid();
  j["uptime_ms"] = uptime_ms();
  j["connections"] = {{"active", t.active}, {"accepted", t.accepted}};
  nlohmann::json resp;
  for (size_t i = 0; i < 6; ++i) resp[kClasses[i]] = t.responses[i];
  j["requests"] = {{"total", t.requests}, {"responses", resp}};
  nlohmann::json ups = nlohmann::json::object();
  each_peer(r, [&](const std::string& name, const upstream::Peer& p) {
    const upstream::PeerState& s = *p.state;
    ups[name].push_back({{"peer", p.cfg.name},
                         {"server", p.cfg.server_or_name()},
                         {"state", membership(p.membership)},
                         {"healthy", s.healthy.load(std::memory_order_relaxed)},
                         {"active", s.active.load(std::memory_order_relaxed)},
                         {"requests", load(s.requests)},
                         {"failures", load(s.failures)},
                         {"unavailable", load(s.unavailable)}});
  });
  j["upstreams"] = std::move(ups);
  nlohmann::json fails = nlohmann::json::object();
  for (size_t i = 0; i < size_t(tls::Failure::kCount); ++i)
    fails[tls::kFailureNames[i]] = t.tls_failures[i];
  const uint64_t handshakes = t.tls_full + t.tls_resumed;
  nlohmann::json certs = nlohmann::json::array();
  for (const CertRow& c : certificates())
    certs.push_back({{"server", c.server},
                     {"file", c.cert->file},
                     {"subject", c.cert->subject},
                     {"key", c.cert->key},
                     {"not_after", c.cert->not_after},
                     {"days_left", days_left(c.cert->not_after)},
                     {"reloaded_from_disk", c.reloads}});
  j["tls"] = {{"handshakes",
               {{"full", t.tls_full},
                {"resumed", t.tls_resumed},
                {"tls1.2", t.tls12},
                {"tls1.3", t.tls13}}},
              {"resumption_rate",
               handshakes ? nlohmann::json(double(t.tls_resumed) / double(handshakes)) : nullptr},
              {"failures", std::move(fails)},
              {"certificates", std::move(certs)}};
  auto apps = apps::Supervisor::published_status();
  j["apps"] = apps ? (*apps)["apps"] : nlohmann::json::array();
  http::respond_text(r, 200, j.dump(2) + "\n");
  r.resp.content_type = "application/json";
  return http::Step::respond();
}

// Prometheus label value: backslash, double quote and newline escaped.
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"')
      out += '\\', out += c;
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

http::Step metrics_handle(http::Request& r) {
  if (r.head.method != http::Method::kGet && r.head.method != http::Method::kHead)
    return http::Step::status(405);
  const Totals t = totals();
  std::string o;
  auto family = [&o](const char* name, const char* type, const char* help) {
    fmt::format_to(std::back_inserter(o), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  family("portico_uptime_seconds", "gauge", "Seconds since portico started.");
  fmt::format_to(std::back_inserter(o), "portico_uptime_seconds {:.3f}\n", uptime_ms() / 1000.0);
  family("portico_connections_accepted_total", "counter", "Client connections accepted.");
  fmt::format_to(std::back_inserter(o), "portico_connections_accepted_total {}\n", t.accepted);
  family("portico_connections_active", "gauge", "Client connections open now.");
  fmt::format_to(std::back_inserter(o), "portico_connections_active {}\n", t.active);
  family("portico_http_requests_total", "counter", "HTTP requests finished.");
  fmt::format_to(std::back_inserter(o), "portico_http_requests_total {}\n", t.requests);
  family("portico_http_responses_total", "counter",
         "HTTP responses by status class (other: none was sent).");
  for (size_t i = 0; i < 6; ++i)
    fmt::format_to(std::back_inserter(o), "portico_http_responses_total{{code=\"{}\"}} {}\n",
                   kClasses[i], t.responses[i]);

  family("portico_tls_handshakes_total", "counter",
         "Completed TLS handshakes, by whether they resumed a session.");
  fmt::format_to(std::back_inserter(o), "portico_tls_handshakes_total{{resumed=\"false\"}} {}\n",
                 t.tls_full);
  fmt::format_to(std::back_inserter(o), "portico_tls_handshakes_total{{resumed=\"true\"}} {}\n",
                 t.tls_resumed);
  family("portico_tls_handshakes_by_version_total", "counter",
         "Completed TLS handshakes by protocol version.");
  fmt::format_to(std::back_inserter(o),
                 "portico_tls_handshakes_by_version_total{{version=\"TLSv1.2\"}} {}\n", t.tls12);
  fmt::format_to(std::back_inserter(o),
                 "portico_tls_handshakes_by_version_total{{version=\"TLSv1.3\"}} {}\n", t.tls13);
  family("portico_tls_handshake_failures_total", "counter",
         "TLS handshakes that failed, by reason.");
  for (size_t i = 0; i < size_t(tls::Failure::kCount); ++i)
    fmt::format_to(std::back_inserter(o),
                   "portico_tls_handshake_failures_total{{reason=\"{}\"}} {}\n",
                   tls::kFailureNames[i], t.tls_failures[i]);
  const auto certs = certificates();
  family("portico_tls_certificate_not_after_seconds", "gauge",
         "When the served certificate expires (seconds since the epoch).");
  for (const CertRow& c : certs)
    fmt::format_to(std::back_inserter(o),
                   "portico_tls_certificate_not_after_seconds{{server=\"{}\",file=\"{}\",subject="
                   "\"{}\"}} {}\n",
                   label(c.server), label(c.cert->file), label(c.cert->subject), c.cert->not_after);

  struct PeerRow {
    std::string labels;
    const upstream::PeerState* s;
    bool member;
  };
  std::vector<PeerRow> peers;
  each_peer(r, [&](const std::string& name, const upstream::Peer& p) {
    peers.push_back({fmt::format("upstream=\"{}\",peer=\"{}\"", label(name), label(p.cfg.name)),
                     p.state.get(), p.membership == upstream::Membership::kMember});
  });
  family("portico_upstream_peer_up", "gauge",
         "1 if the peer takes requests (a member, healthy), else 0.");
  for (const auto& p : peers)
    fmt::format_to(std::back_inserter(o), "portico_upstream_peer_up{{{}}} {}\n", p.labels,
                   p.member && p.s->healthy.load(std::memory_order_relaxed) ? 1 : 0);
  family("portico_upstream_peer_active", "gauge", "Requests in flight on the peer.");
  for (const auto& p : peers)
    fmt::format_to(std::back_inserter(o), "portico_upstream_peer_active{{{}}} {}\n", p.labels,
                   p.s->active.load(std::memory_order_relaxed));
  family("portico_upstream_peer_requests_total", "counter", "Requests sent to the peer.");
  for (const auto& p : peers)
    fmt::format_to(std::back_inserter(o), "portico_upstream_peer_requests_total{{{}}} {}\n",
                   p.labels, load(p.s->requests));
  family("portico_upstream_peer_failures_total", "counter", "Failed attempts on the peer.");
  for (const auto& p : peers)
    fmt::format_to(std::back_inserter(o), "portico_upstream_peer_failures_total{{{}}} {}\n",
                   p.labels, load(p.s->failures));

  if (auto st = apps::Supervisor::published_status()) {
    const auto& apps = (*st)["apps"];
    family("portico_app_processes_wanted", "gauge", "Processes the app's pool runs now.");
    for (const auto& a : apps)
      fmt::format_to(std::back_inserter(o), "portico_app_processes_wanted{{app=\"{}\"}} {}\n",
                     label(a["name"].get<std::string>()), a["processes_wanted"].get<uint32_t>());
    family("portico_app_requests_waiting", "gauge", "Requests queued for the app.");
    for (const auto& a : apps)
      fmt::format_to(std::back_inserter(o), "portico_app_requests_waiting{{app=\"{}\"}} {}\n",
                     label(a["name"].get<std::string>()), a["requests_waiting"].get<uint32_t>());
    family("portico_app_restarts_total", "counter", "App processes that ended unasked.");
    for (const auto& a : apps)
      fmt::format_to(std::back_inserter(o), "portico_app_restarts_total{{app=\"{}\"}} {}\n",
                     label(a["name"].get<std::string>()), a["restarts"].get<uint64_t>());
    struct Metric {
      const char* name;
      const char* type;
      const char* help;
      const char* field;
      double scale;
    };
    static const Metric kProc[] = {
        {"portico_app_process_requests_total", "counter", "Requests sent to the process.",
         "requests", 1},
        {"portico_app_process_requests_in_flight", "gauge", "Requests in flight.",
         "requests_in_flight", 1},
        {"portico_app_process_pss_bytes", "gauge", "Proportional set size.", "pss_kb", 1024},
        {"portico_app_process_rss_bytes", "gauge", "Resident set size.", "rss_kb", 1024},
        {"portico_app_process_cpu_seconds_total", "counter", "CPU time used.", "cpu_seconds", 1},
        {"portico_app_process_uptime_seconds", "gauge", "Seconds since it was started.",
         "uptime_ms", 0.001},
    };
    for (const Metric& m : kProc) {
      family(m.name, m.type, m.help);
      for (const auto& a : apps)
        for (const auto& p : a["processes"])
          fmt::format_to(std::back_inserter(o), "{}{{app=\"{}\",pid=\"{}\",state=\"{}\"}} {}\n",
                         m.name, label(a["name"].get<std::string>()), p["pid"].get<int>(),
                         p["state"].get<std::string>(), p[m.field].get<double>() * m.scale);
    }
  }
  http::respond_text(r, 200, o);
  r.resp.content_type = "text/plain; version=0.0.4; charset=utf-8";
  return http::Step::respond();
}

const http::ContentHandler kStatusContent = {.name = "portico_status", .handle = status_handle};
const http::ContentHandler kMetricsContent = {.name = "portico_metrics", .handle = metrics_handle};

void set_status(http::Level& lv, const config::Directive&) {
  lv.loc.content = &kStatusContent;
}

void set_metrics(http::Level& lv, const config::Directive&) {
  lv.loc.content = &kMetricsContent;
}

const http::Command kCommands[] = {
    {{"portico_status", config::kLocation, 0, 0, config::BlockKind::kNone, 0, true}, set_status},
    {{"portico_metrics", config::kLocation, 0, 0, config::BlockKind::kNone, 0, true}, set_metrics},
};

}  // namespace

http::Module status_module = {.name = "status", .commands = kCommands};

void publish_tls_servers(std::vector<TlsServer> all) {
  g_tls_servers.store(std::make_shared<const TlsServers>(std::move(all)));
}

void publish_worker_stats(std::vector<const http::WorkerStats*> all) {
  g_started_ms.store(TimeCache::local().now_ms(), std::memory_order_relaxed);
  g_worker_stats.store(std::make_shared<const StatsList>(std::move(all)));
}

}  // namespace portico::server
