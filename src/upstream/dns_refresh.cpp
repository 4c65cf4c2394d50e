#include "upstream/dns_refresh.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "core/log.h"

namespace portico::upstream {

namespace {

bool same_addrs(const std::vector<SockAddr>& a, const std::vector<SockAddr>& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](const SockAddr& x, const SockAddr& y) {
           return std::memcmp(&x, &y, sizeof x) == 0;
         });
}

std::string addrs_text(const std::vector<SockAddr>& addrs) {
  std::string s;
  for (const SockAddr& a : addrs) {
    if (!s.empty()) s += ", ";
    append_addr_text(a, s);
  }
  return s;
}

}  // namespace

DnsRefresh::~DnsRefresh() {
  for (auto& e : entries_) drop(*e);
}

uint64_t DnsRefresh::queries() const {
  uint64_t n = 0;
  for (const auto& [k, r] : resolvers_) n += r->queries();
  return n;
}

dns::Resolver* DnsRefresh::resolver_for(const UpstreamConf& uc) {
  std::string key = uc.resolver->key() + fmt::format(" timeout={}", uc.resolver_timeout_ms);
  auto it = resolvers_.find(key);
  if (it != resolvers_.end()) return it->second.get();
  std::string error;
  auto r = dns::Resolver::create(loop_, *uc.resolver, uc.resolver_timeout_ms, &error);
  if (!r) {
    LOG_ALERT("upstream \"{}\": resolver: {}", uc.group->name(), error);
    return nullptr;
  }
  return resolvers_.emplace(std::move(key), std::move(r)).first->second.get();
}

void DnsRefresh::configure(const std::vector<std::shared_ptr<const UpstreamConf>>& groups) {
  std::vector<std::unique_ptr<Entry>> old = std::move(entries_);
  entries_.clear();
  for (const auto& uc : groups) {
    if (uc->resolve.empty() || !uc->resolver) continue;
    dns::Resolver* r = resolver_for(*uc);
    if (!r) continue;
    auto e = std::make_unique<Entry>();
    e->uc = uc;
    e->refresh = this;
    for (const auto& srv : uc->resolve) {
      auto n = std::make_unique<Name>();
      n->entry = e.get();
      n->srv = &srv;
      n->resolver = r;
      n->fn = &DnsRefresh::on_answer;
      n->timer.owner = n.get();
      n->timer.cb = &DnsRefresh::on_timer;
      // What the running configuration knows of this name, published into the new group now.
      for (const auto& oe : old) {
        if (oe->uc->group->name() != uc->group->name()) continue;
        for (const auto& on : oe->names)
          if (on->known && on->srv->server == srv.server && on->resolver == r) {
            n->addrs = on->addrs;
            n->known = true;
          }
      }
      e->names.push_back(std::move(n));
    }
    publish(*e);
    entries_.push_back(std::move(e));
  }
  for (auto& oe : old) drop(*oe);
  for (auto& e : entries_)
    for (auto& n : e->names) lookup(n.get());
}

void DnsRefresh::drop(Entry& e) {
  for (auto& n : e.names) {
    n->resolver->cancel(n.get());
    loop_.cancel(&n->timer);
  }
}

void DnsRefresh::lookup(Name* n) {
  if (const dns::Answer* a = n->resolver->cached(n->srv->host)) {
    answered(n, *a);
    return;
  }
  n->resolver->resolve(n->srv->host, n);
}

void DnsRefresh::on_answer(dns::Resolver::Waiter* w, const dns::Answer& a) {
  Name* n = static_cast<Name*>(w);
  // The owner is found through the entry: answered() needs `this`.
  n->entry->refresh->answered(n, a);
}

void DnsRefresh::on_timer(Timer* t) {
  Name* n = static_cast<Name::NameTimer*>(t)->owner;
  n->entry->refresh->lookup(n);
}

void DnsRefresh::answered(Name* n, const dns::Answer& a) {
  const uint64_t now = loop_.now_ms();
  const std::string& group = n->entry->uc->group->name();
  uint64_t next;
  if (a.ok()) {
    if (!n->known || !same_addrs(n->addrs, a.addrs)) {
      LOG_NOTICE("upstream \"{}\": \"{}\" resolved to {}", group, n->srv->host,
                 addrs_text(a.addrs));
      n->addrs = a.addrs;
      n->known = true;
      publish(*n->entry);
    }
    next = a.expires_ms > now ? a.expires_ms - now : 0;
  } else {
    LOG_ERROR("upstream \"{}\": {} could not be resolved ({}), {}", group, n->srv->host, a.error,
              n->known ? "keeping the last addresses: " + addrs_text(n->addrs)
                       : std::string("no addresses yet"));
    const uint64_t valid = n->resolver->conf().valid_ms;
    next = a.expires_ms > now ? a.expires_ms - now : valid ? valid : kRetryMs;
  }
  loop_.schedule(&n->timer, std::max(next, kMinIntervalMs));
}

void DnsRefresh::publish(Entry& e) {
  std::vector<PeerConfig> peers = e.uc->static_peers;
  for (const auto& n : e.names) {
    if (!n->known) continue;
    for (const SockAddr& s : n->addrs) {
      PeerConfig p = n->srv->params;
      p.server = n->srv->server;
      p.addr = s;
      std::string text = addr_text(s);
      if (s.sa.sa_family == AF_INET6) {
        p.addr.v6.sin6_port = htons(n->srv->port);
        p.name = fmt::format("[{}]:{}", text, n->srv->port);
      } else {
        p.addr.v4.sin_port = htons(n->srv->port);
        p.name = fmt::format("{}:{}", text, n->srv->port);
      }
      bool dup = std::any_of(peers.begin(), peers.end(), [&](const PeerConfig& q) {
        return q.server == p.server && q.name == p.name;
      });
      if (!dup) peers.push_back(std::move(p));
    }
  }
  if (Status st = e.uc->group->replace_peers(std::move(peers)); !st)
    LOG_ERROR("upstream \"{}\": {}", e.uc->group->name(), st.message());
}

std::vector<std::shared_ptr<const UpstreamConf>> resolved_groups(
    const std::vector<const std::map<std::string, std::shared_ptr<const UpstreamConf>>*>& maps) {
  std::vector<std::shared_ptr<const UpstreamConf>> out;
  for (const auto* m : maps)
    for (const auto& [name, uc] : *m)
      if (!uc->resolve.empty()) out.push_back(uc);
  return out;
}

}  // namespace portico::upstream
