#include "proxy/context.h"

#include "proxy/directives.h"

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

}  // namespace portico::proxy
