// Resolver: asynchronous DNS lookups on one EventLoop with c-ares (Debian's libc-ares), and the
// answers' cache. Lookups never block the loop: c-ares's sockets are registered with the loop
// (level-triggered; c-ares says which directions through its socket-state callback), its
// time-outs with the loop's timer wheel; no thread per query, no getaddrinfo. Only the
// configured servers are asked (no /etc/hosts, no search domains), as nginx's resolver.
//
// Ownership and threads: one Resolver per loop and configuration (ResolverConf::key() plus the
// time-out): each worker owns the resolvers its locations use (proxy_pass with variables), the
// control thread those of upstream groups with `server NAME resolve`. Loop thread only. Free
// it with the loop's defer_delete (or after the loop has stopped): an answer may be queued for
// delivery in the current iteration.
//
//   dns::Resolver::Waiter w;  // intrusive, lives in the caller's object
//   w.fn = [](dns::Resolver::Waiter* w, const dns::Answer& a) { ... };
//   if (const dns::Answer* a = r->cached(name)) use(*a);
//   else r->resolve(name, &w);          // w.fn runs later on this loop, exactly once,
//   ...                                 // unless r->cancel(&w) comes first
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/event_loop.h"
#include "dns/answer_cache.h"
#include "dns/resolver_conf.h"

struct ares_channeldata;
struct ares_addrinfo;

namespace portico::dns {

class Resolver final : public Deferred {
 public:
  struct Pending;
  // A caller waiting for an answer. Set fn; the rest belongs to the Resolver.
  struct Waiter {
    // Called once with the answer (valid during the call); the waiter is free again then.
    void (*fn)(Waiter*, const Answer&) = nullptr;
    Pending* pending = nullptr;
    Waiter* next = nullptr;
    Waiter* prev = nullptr;
    bool waiting() const { return pending != nullptr; }
  };

  // A resolver asking conf's servers, each lookup given up after timeout_ms (resolver_timeout).
  // Returns null with *error when c-ares cannot be set up (out of descriptors, bad server).
  static std::unique_ptr<Resolver> create(EventLoop& loop, const ResolverConf& conf,
                                          uint64_t timeout_ms, std::string* error);
  ~Resolver() override;  // waiters still waiting are dropped without a call
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // The fresh cached answer for `name` (any case), or null. Never blocks, never allocates.
  const Answer* cached(std::string_view name);
  // Looks `name` up (joining a lookup already running for it) and calls w->fn with the answer
  // on a later turn of the loop, never from inside this call. The answer is cached as
  // AnswerCache says. REQUIRES: !w->waiting().
  void resolve(std::string_view name, Waiter* w);
  // w->fn will not be called. A no-op for a waiter that is not waiting.
  void cancel(Waiter* w);

  const ResolverConf& conf() const { return conf_; }
  uint64_t timeout_ms() const { return timeout_ms_; }
  // Lookups sent to the servers so far (tests, status).
  uint64_t queries() const { return queries_; }

 private:
  class FdWatch;
  struct LoopTimer : Timer {
    Resolver* owner = nullptr;
  };
  struct DeliverSoon : Soon {
    Resolver* owner = nullptr;
  };

  Resolver(EventLoop& loop, const ResolverConf& conf, uint64_t timeout_ms);
  static void on_sock_state(void* data, int fd, int readable, int writable);
  static void on_answer(void* arg, int status, int timeouts, ::ares_addrinfo* res);
  static void on_timer(Timer* t);
  static void on_soon(Soon* s);
  void process(int read_fd, int write_fd);
  void arm_timer();
  void deliver();

  EventLoop& loop_;
  ResolverConf conf_;
  uint64_t timeout_ms_;
  ::ares_channeldata* channel_ = nullptr;
  AnswerCache cache_;
  std::map<std::string, std::unique_ptr<Pending>, std::less<>> pending_;
  std::vector<Pending*> done_;  // answered, waiting for deliver()
  std::map<int, FdWatch*> watches_;
  LoopTimer timer_;
  DeliverSoon soon_;
  bool destroying_ = false;
  uint64_t queries_ = 0;
};

}  // namespace portico::dns
