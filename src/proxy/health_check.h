// Active health checks over HTTP (`health_check` in a proxied location, `match` blocks), with
// nginx Plus's syntax and semantics, free: each check is `GET uri` to the peer; it fails on a
// connect error, a timeout, a status outside 2xx/3xx, or a response the `match` block rejects.
// This is the protocol half only: scheduling, the fails/passes counting and the peer's health
// verdict are upstream::HealthChecker's (upstream/health_check.h), which runs on the control
// thread's loop and drives one HttpProbe per peer through HealthCheckConf::make_probe.
// HealthCheckConf and MatchConf are part of the config snapshot, immutable once built.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/event_loop.h"
#include "core/regex.h"
#include "upstream/health_check.h"

namespace portico::proxy {

struct ResponseHead;  // proxy/response_parser.h

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

// One `health_check` directive: the group and timing (upstream::HealthCheck) plus the request
// and what a good answer is.
struct HealthCheckConf final : upstream::HealthCheck {
  std::unique_ptr<upstream::HealthProbe> make_probe(EventLoop& loop,
                                                    upstream::ProbeSink& sink) const override;

  std::string uri = "/";
  int port = 0;      // 0: the peer's own port
  std::string host;  // Host header (the proxy_pass host)
  std::shared_ptr<const MatchConf> match;
};

// Whether a response passes: its status (2xx/3xx, or the match block's list) and the match
// block's header and body tests. `m` may be null (no match block). Pure; for the probe and
// tests.
bool response_passes(const MatchConf* m, const ResponseHead& head, std::string_view body);

}  // namespace portico::proxy
