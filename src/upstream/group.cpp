#include "upstream/group.h"

#include <algorithm>
#include <map>
#include <utility>

#include "core/strings.h"
#include "upstream/crc32.h"

namespace portico::upstream {

namespace {

// The parameter as nginx echoes it back: we no longer have the token as written, so print the
// value in the unit nginx would most likely have been given.
std::string slow_start_token(uint64_t ms) {
  if (ms % 1000 == 0) return "slow_start=" + std::to_string(ms / 1000) + "s";
  return "slow_start=" + std::to_string(ms) + "ms";
}

bool supports_backup(Method m) {
  return m == Method::kRoundRobin || m == Method::kLeastConn;
}

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

std::string_view method_name(Method m) {
  switch (m) {
    case Method::kRoundRobin:
      return "round robin";
    case Method::kLeastConn:
      return "least_conn";
    case Method::kIpHash:
      return "ip_hash";
    case Method::kHash:
      return "hash";
    case Method::kHashConsistent:
      return "hash ... consistent";
    case Method::kRandom:
      return "random";
    case Method::kRandomTwo:
      return "random two least_conn";
  }
  return "?";
}

Status Group::validate(const GroupConfig& cfg) {
  bool any_primary = false;
  for (const PeerConfig& p : cfg.peers) {
    if (p.weight == 0) return Status::error("invalid parameter \"weight=0\"");
    if (p.backup && !supports_backup(cfg.method)) {
      return Status::error("balancing method does not support parameter \"backup\"");
    }
    if (p.slow_start_ms != 0 && !supports_backup(cfg.method)) {
      return Status::error("balancing method does not support parameter \"" +
                           slow_start_token(p.slow_start_ms) + "\"");
    }
    any_primary |= !p.backup;
  }
  if (!any_primary) return Status::error("no servers in upstream \"" + cfg.name + "\"");
  return Status::ok();
}

Status Group::create(GroupConfig cfg, const Group* previous, std::shared_ptr<const Group>* out) {
  if (Status s = validate(cfg); !s) return s;

  // Old states by identity; duplicates are matched in order.
  std::map<std::pair<std::string_view, std::string_view>, std::vector<std::shared_ptr<PeerState>>>
      old;
  if (previous != nullptr) {
    for (auto it = previous->peers_.rbegin(); it != previous->peers_.rend(); ++it) {
      old[{it->cfg.server_or_name(), it->cfg.name}].push_back(it->state);
    }
  }

  std::shared_ptr<Group> g(new Group());
  g->name_ = std::move(cfg.name);
  g->method_ = cfg.method;
  g->hash_key_ = std::move(cfg.hash_key);
  g->peers_.reserve(cfg.peers.size());
  for (PeerConfig& pc : cfg.peers) {
    std::shared_ptr<PeerState> state;
    auto it = old.find({pc.server_or_name(), pc.name});
    if (it != old.end() && !it->second.empty()) {
      state = std::move(it->second.back());
      it->second.pop_back();
    } else {
      state = std::make_shared<PeerState>();
    }
    g->peers_.push_back(Peer{std::move(pc), std::move(state)});
  }
  g->build_tables();
  *out = std::move(g);
  return Status::ok();
}

void Group::build_tables() {
  uint32_t tries = 0;
  for (uint32_t i = 0; i < peers_.size(); i++) {
    const PeerConfig& c = peers_[i].cfg;
    (c.backup ? backups_ : primaries_).push_back(i);
    if (!c.down) tries++;
    if (!c.backup) {
      ranges_.push_back(primary_weight_);
      primary_weight_ += c.weight;
    }
  }
  max_tries_ = tries;
  single_ = primaries_.size() == 1 && backups_.empty();

  // Server ids: peers written with the same `server` text are one server to the ring.
  std::map<std::string_view, uint32_t> ids;
  server_ids_.resize(peers_.size());
  for (uint32_t i = 0; i < peers_.size(); i++) {
    auto [it, fresh] = ids.emplace(peers_[i].cfg.server_or_name(), uint32_t(ids.size()));
    server_ids_[i] = it->second;
  }
  server_primaries_.resize(ids.size());
  for (uint32_t i : primaries_) server_primaries_[server_ids_[i]].push_back(i);
  if (method_ == Method::kHashConsistent) build_ring();
}

// nginx: ngx_http_upstream_init_chash. Each primary peer contributes 160 * weight points:
// crc32(HOST "\0" PORT PREV_HASH), PREV_HASH being the previous point's hash as 4 little-endian
// bytes (0 for the first), compatible with Cache::Memcached::Fast. Peers sharing a `server`
// produce identical points, which the deduplication folds into one set.
void Group::build_ring() {
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
