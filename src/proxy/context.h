// Context: what the proxy needs from its worker: the loop, the worker's upstream state
// (upstream::Local: each group's balancer and wait queue, the keep-alive pool), and recycled
// buffers. Owned by the Worker; worker thread only.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/event_loop.h"
#include "dns/resolver.h"
#include "http/module.h"
#include "http/parser.h"
#include "proxy/proxy_conf.h"
#include "upstream/local.h"

namespace portico::proxy {

class Context final : public http::ModuleWorkerState {
 public:
  Context(EventLoop& loop, upstream::Local& upstreams) : loop(loop), upstreams(upstreams) {}

  // The group for a proxy_pass URL computed at run time (variables): numeric addresses and
  // unix sockets only, as nginx without a `resolver`. Cached per worker, bounded.
  std::shared_ptr<const upstream::UpstreamConf> dynamic_upstream(const std::string& hostport,
                                                                 std::string* error);

  // This worker's resolver for a location's `resolver` and `resolver_timeout` (one per distinct
  // configuration, kept with its answer cache across reloads); null with *error when c-ares
  // cannot be set up.
  dns::Resolver* resolver(const dns::ResolverConf& conf, uint64_t timeout_ms, std::string* error);
  // The group of a name resolved at run time: every address of `a` (which must be ok()) at
  // `port`, named "ADDR:PORT" with `hostport` as their server, as nginx's implicit upstream
  // of a resolved name. Cached per worker by name and addresses, bounded.
  std::shared_ptr<const upstream::UpstreamConf> resolved_upstream(const std::string& hostport,
                                                                  uint16_t port,
                                                                  const dns::Answer& a);

  // Relay buffers (kBufferSize bytes) recycled per worker: a proxied request allocates none
  // once warm.
  static constexpr size_t kBufferSize = 32 * 1024;
  std::unique_ptr<char[]> acquire_buffer() {
    if (free_buffers_.empty()) return std::unique_ptr<char[]>(new char[kBufferSize]);
    auto b = std::move(free_buffers_.back());
    free_buffers_.pop_back();
    return b;
  }
  void release_buffer(std::unique_ptr<char[]> b) {
    if (b && free_buffers_.size() < 256) free_buffers_.push_back(std::move(b));
  }

  // Strings and header vectors a session grows (its request head, response head, parsed
  // header list) go back here with their capacity, so a warm proxied request allocates only
  // its Session.
  std::string take_string() {
    if (free_strings_.empty()) return {};
    std::string s = std::move(free_strings_.back());
    free_strings_.pop_back();
    return s;
  }
  void give_string(std::string&& s) {
    if (s.capacity() > 15 && s.capacity() <= kKeepCapacity && free_strings_.size() < 512) {
      s.clear();
      free_strings_.push_back(std::move(s));
    }
  }
  std::vector<http::Header> take_headers() {
    if (free_headers_.empty()) return {};
    std::vector<http::Header> v = std::move(free_headers_.back());
    free_headers_.pop_back();
    return v;
  }
  void give_headers(std::vector<http::Header>&& v) {
    if (v.capacity() > 0 && v.capacity() <= 256 && free_headers_.size() < 256) {
      v.clear();
      free_headers_.push_back(std::move(v));
    }
  }

  EventLoop& loop;
  upstream::Local& upstreams;

 private:
  static constexpr size_t kKeepCapacity = 16 * 1024;  // larger strings are not hoarded
  std::vector<std::string> free_strings_;
  std::vector<std::vector<http::Header>> free_headers_;
  std::vector<std::unique_ptr<char[]>> free_buffers_;
  std::unordered_map<std::string, std::shared_ptr<const upstream::UpstreamConf>> dynamic_;
  std::unordered_map<std::string, std::unique_ptr<dns::Resolver>> resolvers_;

 public:
  // proxy_ssl_session_reuse: the last TLS session of each upstream peer on this worker.
  SSL_SESSION** tls_session_slot(const void* peer, std::string_view name) {
    return tls_sessions_.slot(peer, name);
  }

 private:
  tls::ClientSessions tls_sessions_;
};

}  // namespace portico::proxy
