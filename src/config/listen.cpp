#include "config/listen.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/un.h>

#include <cstring>

#include <fmt/format.h>

#include "core/strings.h"

namespace portico::config {

namespace {

// so_keepalive=on|off|[keepidle]:[keepintvl]:[keepcnt] (nginx: times in seconds, "30m" allowed;
// an empty part keeps the system's value).
bool parse_so_keepalive(std::string_view v, ListenAddr* out) {
  if (v == "on" || v == "off") {
    out->so_keepalive = v == "on" ? 1 : 2;
    return true;
  }
  size_t c1 = v.find(':');
  if (c1 == std::string_view::npos) return false;
  size_t c2 = v.find(':', c1 + 1);
  if (c2 == std::string_view::npos) return false;
  std::string_view parts[3] = {v.substr(0, c1), v.substr(c1 + 1, c2 - c1 - 1), v.substr(c2 + 1)};
  int* dst[3] = {&out->keepidle, &out->keepintvl, &out->keepcnt};
  for (int i = 0; i < 3; ++i) {
    if (parts[i].empty()) continue;
    std::optional<uint64_t> n;
    if (i < 2) {
      n = parse_time_ms(parts[i]);
      if (n && (*n % 1000 != 0 || *n == 0)) n.reset();
      if (n) *n /= 1000;
    } else {
      n = parse_uint(parts[i]);
      if (n && *n == 0) n.reset();
    }
    if (!n || *n > 32767) return false;
    *dst[i] = int(*n);
  }
  if (!out->keepidle && !out->keepintvl && !out->keepcnt) return false;
  out->so_keepalive = 1;
  return true;
}

}  // namespace

bool parse_listen(const Directive& d, ListenAddr* out, bool* default_server, std::string* error,
                  bool allow_ssl) {
  const std::string& spec = d.args[0];
  *default_server = false;
  if (spec.rfind("unix:", 0) == 0) {
    std::string path = spec.substr(5);
    sockaddr_un* un = reinterpret_cast<sockaddr_un*>(&out->addr);
    if (path.empty() || path.size() >= sizeof un->sun_path) {
      *error = fmt::format("invalid path in \"{}\" of the \"listen\" directive", spec);
      return false;
    }
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, path.c_str(), path.size() + 1);
    out->addr_len = socklen_t(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    out->is_unix = true;
    out->key = spec;
  } else {
    std::string host, port;
    if (spec[0] == '[') {
      auto close = spec.find(']');
      if (close == std::string::npos) {
        *error = fmt::format("invalid IPv6 address in \"{}\" of the \"listen\" directive", spec);
        return false;
      }
      host = spec.substr(1, close - 1);
      if (close + 1 < spec.size()) {
        if (spec[close + 1] != ':') {
          *error = fmt::format("invalid port in \"{}\" of the \"listen\" directive", spec);
          return false;
        }
        port = spec.substr(close + 2);
      } else {
        port = "80";
      }
      sockaddr_in6* in6 = reinterpret_cast<sockaddr_in6*>(&out->addr);
      in6->sin6_family = AF_INET6;
      if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) != 1) {
        *error = fmt::format("invalid IPv6 address in \"{}\" of the \"listen\" directive", spec);
        return false;
      }
    } else {
      auto colon = spec.rfind(':');
      if (colon == std::string::npos) {
        if (parse_uint(spec)) {
          host = "*";
          port = spec;
        } else {
          host = spec;
          port = "80";
        }
      } else {
        host = spec.substr(0, colon);
        port = spec.substr(colon + 1);
      }
      sockaddr_in* in4 = reinterpret_cast<sockaddr_in*>(&out->addr);
      in4->sin_family = AF_INET;
      if (host == "*" || host.empty()) {
        in4->sin_addr.s_addr = htonl(INADDR_ANY);
      } else if (inet_pton(AF_INET, host.c_str(), &in4->sin_addr) != 1) {
        addrinfo hints{}, *ai = nullptr;
        hints.ai_family = AF_INET;
        hints.ai_socktype = SOCK_STREAM;
        if (getaddrinfo(host.c_str(), nullptr, &hints, &ai) != 0 || !ai) {
          *error = fmt::format("host not found in \"{}\" of the \"listen\" directive", spec);
          return false;
        }
        in4->sin_addr = reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr;
        freeaddrinfo(ai);
      }
    }
    auto p = parse_uint(port);
    if (!p || *p < 1 || *p > 65535) {
      *error = fmt::format("invalid port in \"{}\" of the \"listen\" directive", spec);
      return false;
    }
    char text[INET6_ADDRSTRLEN];
    if (out->addr.ss_family == AF_INET6) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&out->addr);
      in6->sin6_port = htons(uint16_t(*p));
      inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
      out->key = fmt::format("[{}]:{}", text, *p);
      out->addr_len = sizeof(sockaddr_in6);
    } else {
      auto* in4 = reinterpret_cast<sockaddr_in*>(&out->addr);
      in4->sin_port = htons(uint16_t(*p));
      inet_ntop(AF_INET, &in4->sin_addr, text, sizeof text);
      out->key = fmt::format("{}:{}", text, *p);
      out->addr_len = sizeof(sockaddr_in);
    }
  }
  for (size_t i = 1; i < d.args.size(); ++i) {
    const std::string& o = d.args[i];
    if (o == "default_server" || o == "default")
      *default_server = true;
    else if (o == "reuseport")
      out->reuseport = true;
    else if (o.rfind("backlog=", 0) == 0) {
      auto v = parse_uint(std::string_view(o).substr(8));
      if (!v || *v == 0 || *v > 65535) {
        *error = fmt::format("invalid backlog \"{}\"", o.substr(8));
        return false;
      }
      out->backlog = int(*v);
      out->backlog_set = true;
    } else if (o.rfind("rcvbuf=", 0) == 0 || o.rfind("sndbuf=", 0) == 0) {
      auto v = parse_size(std::string_view(o).substr(7));
      if (!v || *v > uint64_t(INT32_MAX)) {
        *error = fmt::format("invalid {} \"{}\"", o.substr(0, 6), o);
        return false;
      }
      (o[0] == 'r' ? out->rcvbuf : out->sndbuf) = int(*v);
    } else if (o.rfind("fastopen=", 0) == 0) {
      auto v = parse_uint(std::string_view(o).substr(9));
      if (!v || *v > 65535) {
        *error = fmt::format("invalid fastopen \"{}\"", o);
        return false;
      }
      out->fastopen = int(*v);
    } else if (o.rfind("so_keepalive=", 0) == 0) {
      if (!parse_so_keepalive(std::string_view(o).substr(13), out)) {
        *error = fmt::format("invalid so_keepalive value: \"{}\"", o.substr(13));
        return false;
      }
    } else if (o == "deferred") {
      out->deferred = true;
    } else if (o == "ipv6only=on")
      out->ipv6only = true;
    else if (o == "ipv6only=off")
      out->ipv6only = false;
    else if (o == "ssl" && allow_ssl)
      out->ssl = true;
    else if (o == "proxy_protocol")
      out->proxy_protocol = true;
    else if (o == "http2" && allow_ssl)
      out->http2 = true;
    else if (o == "bind") {
      // accepted: portico binds every address it listens on
    } else if (o == "ssl" || o == "http2" || o == "quic") {
      *error = fmt::format(
          "the \"{}\" parameter of the \"listen\" directive is not supported by portico yet", o);
      return false;
    } else {
      *error = fmt::format("invalid parameter \"{}\"", o);
      return false;
    }
  }
  return true;
}

}  // namespace portico::config
