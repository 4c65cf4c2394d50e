// tls::Stats: one worker's TLS handshake counters, for the status pages (server/status_module).
// The worker binds its own Stats to its thread (Stats::bind); tls::Session counts every server
// handshake it ends into the bound one. Single writer (the worker thread: a relaxed load and
// store, no locked instruction), any reader (relaxed). Threads that bind none (the control
// thread, tests, fuzzers) count into a throwaway per-thread instance.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace portico::tls {

// Why a server handshake did not complete.
enum class Failure : uint8_t {
  kProtocol,    // no version, cipher suite, group, signature algorithm or ALPN protocol in common
  kRejected,    // ssl_reject_handshake, or a name the server refuses
  kPeerAlert,   // the client gave up with an alert (often: it does not trust our certificate)
  kMalformed,   // not a well-formed TLS handshake
  kIncomplete,  // the connection ended (closed, reset, timed out) in the middle of the handshake
  kPlainHttp,   // a plain HTTP request on a TLS port (answered with nginx's 400)
  kCount
};

inline constexpr const char* kFailureNames[] = {"protocol",  "rejected",   "peer_alert",
                                                "malformed", "incomplete", "plain_http"};
static_assert(std::size(kFailureNames) == size_t(Failure::kCount));

struct Stats {
  std::atomic<uint64_t> full{0};     // complete handshakes with a new session
  std::atomic<uint64_t> resumed{0};  // complete handshakes that resumed a session (ticket or cache)
  std::atomic<uint64_t> tls12{0};    // complete handshakes by protocol version
  std::atomic<uint64_t> tls13{0};
  std::array<std::atomic<uint64_t>, size_t(Failure::kCount)> failures{};

  static void bump(std::atomic<uint64_t>& c) {
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  void fail(Failure f) { bump(failures[size_t(f)]); }

  // The calling thread's counters from now on (null: a throwaway instance again).
  static void bind(Stats* s);
  static Stats& local();
};

}  // namespace portico::tls
