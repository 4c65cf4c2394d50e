#include "proxy/context.h"

#include "proxy/directives.h"

#include <arpa/inet.h>

#include <fmt/format.h>

#include "core/sockaddr.h"

namespace portico::proxy {

std::shared_ptr<const upstream::UpstreamConf> Context::dynamic_upstream(const std::string& hostport,
                                                                        std::string* error) {
  auto it = dynamic_.find(hostport);
  if (it != dynamic_.end()) return it->second;
  upstream::GroupConfig gc;
  gc.name = hostport;
  if (!upstream::resolve_peers(hostport, 80, true, &gc.peers, error)) return nullptr;
  auto uc = std::make_shared<upstream::UpstreamConf>();
  uc->implicit = true;
  Status st = upstream::Group::create(std::move(gc), nullptr, &uc->group);
  if (!st) {
    *error = st.message();
    return nullptr;
  }
  if (dynamic_.size() >= 256) dynamic_.clear();  // bounded; in-flight sessions hold their own
  dynamic_[hostport] = uc;
  return uc;
}

dns::Resolver* Context::resolver(const dns::ResolverConf& conf, uint64_t timeout_ms,
                                 std::string* error) {
  std::string key = conf.key() + fmt::format(" timeout={}", timeout_ms);
  auto it = resolvers_.find(key);
  if (it != resolvers_.end()) return it->second.get();
  auto r = dns::Resolver::create(loop, conf, timeout_ms, error);
  if (!r) return nullptr;
  return resolvers_.emplace(std::move(key), std::move(r)).first->second.get();
}

std::shared_ptr<const upstream::UpstreamConf> Context::resolved_upstream(
    const std::string& hostport, uint16_t port, const dns::Answer& a) {
  std::string key = hostport;
  for (const SockAddr& s : a.addrs) {
    key += ' ';
    append_addr_text(s, key);
  }
  auto it = dynamic_.find(key);
  if (it != dynamic_.end()) return it->second;
  upstream::GroupConfig gc;
  gc.name = hostport;
  for (const SockAddr& s : a.addrs) {
    upstream::PeerConfig p;
    p.server = hostport;
    p.addr = s;
    std::string text = addr_text(s);
    if (s.sa.sa_family == AF_INET6) {
      p.addr.v6.sin6_port = htons(port);
      p.name = fmt::format("[{}]:{}", text, port);
    } else {
      p.addr.v4.sin_port = htons(port);
      p.name = fmt::format("{}:{}", text, port);
    }
    gc.peers.push_back(std::move(p));
  }
  auto uc = std::make_shared<upstream::UpstreamConf>();
  uc->implicit = true;
  if (!upstream::Group::create(std::move(gc), nullptr, &uc->group)) return nullptr;
  if (dynamic_.size() >= 256) dynamic_.clear();  // bounded; in-flight sessions hold their own
  dynamic_[key] = uc;
  return uc;
}

}  // namespace portico::proxy
