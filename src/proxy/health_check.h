// Active health checks (`health_check` in a proxied location, `match` blocks), with nginx
// Plus's syntax and semantics, free: every `interval` each peer of the location's upstream
// gets `GET uri`; `fails` consecutive failed checks (connect error, timeout, a status outside
// 2xx/3xx, or a response the `match` block rejects) mark it unhealthy, so balancers skip it;
// `passes` consecutive good ones bring it back (with slow_start, if configured).
// One checker runs on worker 0's event loop; the verdict is the peer's shared atomic state, so
// every worker sees it. Rebuilt on reload; peer state (and so health) survives unchanged peers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/event_loop.h"
#include "core/regex.h"
#include "core/timer_wheel.h"
#include "proxy/proxy_conf.h"

namespace portico::proxy {

// `match NAME { status ...; header ...; body ...; }`
struct MatchConf {
  std::string name;
  std::vector<std::pair<int, int>> status;  // ranges; "!" negates the whole list
  bool status_negated = false;
  struct HeaderTest {
    std::string name;  // lowercased
    enum class Op : uint8_t { kPresent, kAbsent, kEq, kNe, kMatch, kNotMatch } op;
    std::string value;
    std::shared_ptr<const Regex> regex;
  };
  std::vector<HeaderTest> headers;
  std::shared_ptr<const Regex> body;
  bool body_negated = false;
};

struct HealthCheckConf {
  std::shared_ptr<const upstream::UpstreamConf> upstream;
  uint64_t interval_ms = 5000;
  uint32_t fails = 1;
  uint32_t passes = 1;
  std::string uri = "/";
  int port = 0;      // 0: the peer's own port
  std::string host;  // Host header (the proxy_pass host)
  std::shared_ptr<const MatchConf> match;
  uint64_t timeout_ms = 5000;
};

class HealthChecker {
 public:
  explicit HealthChecker(EventLoop& loop) : loop_(loop) {}
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Replaces the checks (reload). Probes of unchanged peers start again at once.
  void configure(const std::vector<std::shared_ptr<const HealthCheckConf>>& checks);

 private:
  struct Probe;
  void stop_all();

  EventLoop& loop_;
  std::vector<Probe*> probes_;
};

}  // namespace portico::proxy
