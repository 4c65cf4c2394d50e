#include "upstream/member_list.h"

#include <algorithm>
#include <cassert>
#include <map>
#include <string_view>
#include <utility>

#include "core/strings.h"
#include "upstream/crc32.h"

namespace portico::upstream {

namespace {

// nginx's split of a `server` text for the consistent-hash points
// (ngx_http_upstream_init_chash): "unix:PATH" hashes PATH with no port; otherwise a trailing
// ":DIGITS" is the port; anything else is all host.
void split_host_port(std::string_view server, std::string_view* host, std::string_view* port) {
  if (istarts_with(server, "unix:")) {
    *host = server.substr(5);
    *port = {};
    return;
  }
  for (size_t j = 0; j < server.size(); j++) {
    char c = server[server.size() - j - 1];
    if (c == ':') {
      *host = server.substr(0, server.size() - j - 1);
      *port = server.substr(server.size() - j);
      return;
    }
    if (c < '0' || c > '9') break;
  }
  *host = server;
  *port = {};
}

}  // namespace

std::shared_ptr<const MemberList> MemberList::build(Method method, std::vector<Peer> peers,
                                                    std::vector<uint32_t> order, uint64_t version) {
  std::shared_ptr<MemberList> m(new MemberList());
  m->version_ = version;
  m->peers_ = std::move(peers);
  m->order_ = std::move(order);
  m->build_tables(method);
  return m;
}

void MemberList::build_tables(Method method) {
  uint32_t tries = 0;
  for (uint32_t i : order_) {
    const Peer& p = peers_[i];
    assert(p.listed() && p.state);
    (p.cfg.backup ? backups_ : primaries_).push_back(i);
    if (!p.cfg.down && p.membership == Membership::kMember) tries++;
    if (!p.cfg.backup) {
      ranges_.push_back(primary_weight_);
      primary_weight_ += p.cfg.weight;
    }
  }
  max_tries_ = tries;
  single_ = primaries_.size() == 1 && backups_.empty();

  // Server ids: peers written with the same `server` text are one server to the ring.
  std::map<std::string_view, uint32_t> ids;
  server_ids_.assign(peers_.size(), 0);
  for (uint32_t i : order_) {
    auto [it, fresh] = ids.emplace(peers_[i].cfg.server_or_name(), uint32_t(ids.size()));
    server_ids_[i] = it->second;
  }
  server_primaries_.resize(ids.size());
  for (uint32_t i : primaries_) server_primaries_[server_ids_[i]].push_back(i);
  if (method == Method::kHashConsistent) build_ring();
}

// nginx: ngx_http_upstream_init_chash. Each primary peer contributes 160 * weight points:
// crc32(HOST "\0" PORT PREV_HASH), PREV_HASH being the previous point's hash as 4 little-endian
// bytes (0 for the first), compatible with Cache::Memcached::Fast. Peers sharing a `server`
// produce identical points, which the deduplication folds into one set.
void MemberList::build_ring() {
  for (uint32_t i : primaries_) {
    std::string_view host, port;
    split_host_port(peers_[i].cfg.server_or_name(), &host, &port);
    uint32_t base = crc32_update(kCrc32Init, host);
    base = crc32_update(base, "", 1);
    base = crc32_update(base, port);
    uint32_t prev = 0;
    uint64_t npoints = uint64_t{peers_[i].cfg.weight} * 160;
    for (uint64_t j = 0; j < npoints; j++) {
      unsigned char le[4] = {uint8_t(prev), uint8_t(prev >> 8), uint8_t(prev >> 16),
                             uint8_t(prev >> 24)};
      uint32_t hash = crc32_final(crc32_update(base, le, sizeof le));
      ring_.push_back({hash, server_ids_[i]});
      prev = hash;
    }
  }
  std::stable_sort(ring_.begin(), ring_.end(),
                   [](const RingPoint& a, const RingPoint& b) { return a.hash < b.hash; });
  ring_.erase(std::unique(ring_.begin(), ring_.end(),
                          [](const RingPoint& a, const RingPoint& b) { return a.hash == b.hash; }),
              ring_.end());
}

}  // namespace portico::upstream
