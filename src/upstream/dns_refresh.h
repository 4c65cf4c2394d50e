// DnsRefresh: keeps the members of upstream groups with `server NAME resolve` (nginx 1.27) equal
// to what NAME resolves to. Each name is looked up with the group's resolver (dns::Resolver on
// the control thread's loop), again when the answer's TTL (or the resolver's valid=) runs out,
// and the group's member list becomes the configured servers plus every address of every name
// (Group::replace_peers: addresses that stay keep their state and in-flight counts; gone ones
// are drained and removed; new ones are added). A failed lookup changes nothing: the last
// addresses stay, the failure is logged and the name is asked again later (after valid=, else
// 5 s; a name that does not exist is asked again when its negative answer expires).
//
// Ownership and threads: one per serving process, owned by server::Master, control thread
// only. configure() is called with each snapshot's groups before the snapshot goes live: the
// addresses already known for a group's name (same group name, server and resolver) are
// published into the new group at once, so a reload never empties a group.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/event_loop.h"
#include "core/timer_wheel.h"
#include "dns/resolver.h"
#include "upstream/upstream_conf.h"

namespace portico::upstream {

class DnsRefresh {
 public:
  static constexpr uint64_t kMinIntervalMs = 1000;  // never ask for one name more often
  static constexpr uint64_t kRetryMs = 5000;        // after a failure, without valid=

  explicit DnsRefresh(EventLoop& loop) : loop_(loop) {}
  ~DnsRefresh();
  DnsRefresh(const DnsRefresh&) = delete;
  DnsRefresh& operator=(const DnsRefresh&) = delete;

  // The groups to keep resolved from now on (those without `resolve` servers are skipped);
  // an empty list stops everything. Never blocks; lookups start on the loop.
  void configure(const std::vector<std::shared_ptr<const UpstreamConf>>& groups);

  // Lookups sent (tests, status).
  uint64_t queries() const;

 private:
  struct Entry;
  struct Name : dns::Resolver::Waiter {
    Entry* entry = nullptr;
    const UpstreamConf::ResolvedServer* srv = nullptr;
    dns::Resolver* resolver = nullptr;
    std::vector<SockAddr> addrs;  // the last good answer (ports 0)
    bool known = false;
    struct NameTimer : Timer {
      Name* owner = nullptr;
    } timer;
  };
  struct Entry {
    DnsRefresh* refresh = nullptr;
    std::shared_ptr<const UpstreamConf> uc;
    std::vector<std::unique_ptr<Name>> names;
  };

  dns::Resolver* resolver_for(const UpstreamConf& uc);
  void lookup(Name* n);
  void answered(Name* n, const dns::Answer& a);
  void publish(Entry& e);
  void drop(Entry& e);
  static void on_answer(dns::Resolver::Waiter* w, const dns::Answer& a);
  static void on_timer(Timer* t);

  EventLoop& loop_;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::map<std::string, std::unique_ptr<dns::Resolver>> resolvers_;
};

// Every upstream in `maps` with `server ... resolve` servers.
std::vector<std::shared_ptr<const UpstreamConf>> resolved_groups(
    const std::vector<const std::map<std::string, std::shared_ptr<const UpstreamConf>>*>& maps);

}  // namespace portico::upstream
