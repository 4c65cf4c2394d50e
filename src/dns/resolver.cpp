#include "dns/resolver.h"

#include <ares.h>
#include <netinet/in.h>
#include <sys/epoll.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

#include "core/log.h"

namespace portico::dns {

struct Resolver::Pending {
  Resolver* owner = nullptr;
  std::string name;
  Waiter* head = nullptr;
  Answer answer;
};

// One c-ares socket in the loop. Freed through the loop's graveyard: c-ares may close its
// socket from inside our own on_io (ares_process_fd), and this iteration may still hold events
// for it.
class Resolver::FdWatch final : public IoHandler, public Deferred {
 public:
  FdWatch(Resolver* r, int fd) : fd_(fd), r_(r) {}
  void on_io(uint32_t events) override {
    if (closed_) return;
    bool rd = events & (EPOLLIN | EPOLLERR | EPOLLHUP);
    bool wr = events & EPOLLOUT;
    r_->process(rd ? fd_ : ARES_SOCKET_BAD, wr ? fd_ : ARES_SOCKET_BAD);
  }
  int fd_;
  uint32_t events_ = 0;
  bool closed_ = false;

 private:
  Resolver* r_;
};

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return out;
}

std::once_flag g_init;

}  // namespace

Resolver::Resolver(EventLoop& loop, const ResolverConf& conf, uint64_t timeout_ms)
    : loop_(loop), conf_(conf), timeout_ms_(timeout_ms) {
  timer_.owner = this;
  timer_.cb = &Resolver::on_timer;
  soon_.owner = this;
  soon_.fn = &Resolver::on_soon;
}

std::unique_ptr<Resolver> Resolver::create(EventLoop& loop, const ResolverConf& conf,
                                           uint64_t timeout_ms, std::string* error) {
  std::call_once(g_init, [] { ares_library_init(ARES_LIB_INIT_ALL); });
  std::unique_ptr<Resolver> r(new Resolver(loop, conf, timeout_ms));
  // resolver_timeout bounds a whole lookup: every server is tried, twice when there is time
  // for it (c-ares doubles the time-out of the second round).
  const uint64_t n = std::max<size_t>(conf.servers.size(), 1);
  const int tries = timeout_ms >= 3000 ? 2 : 1;
  const uint64_t per_try = std::max<uint64_t>(timeout_ms / (n * (tries == 2 ? 3 : 1)), 1);
  ares_options o{};
  char lookups[] = "b";  // DNS only: no /etc/hosts (nginx's resolver reads none)
  o.flags = ARES_FLAG_NOSEARCH;
  o.timeout = int(std::min<uint64_t>(per_try, INT_MAX));
  o.tries = tries;
  o.lookups = lookups;
  o.ndomains = 0;  // no search domains from resolv.conf
  o.domains = nullptr;
  o.sock_state_cb = &Resolver::on_sock_state;
  o.sock_state_cb_data = r.get();
  const int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS |
                   ARES_OPT_DOMAINS | ARES_OPT_SOCK_STATE_CB;
  int rc = ares_init_options(&r->channel_, &o, mask);
  if (rc != ARES_SUCCESS) {
    *error = fmt::format("ares_init_options() failed ({})", ares_strerror(rc));
    return nullptr;
  }
  rc = ares_set_servers_ports_csv(r->channel_, conf.servers_csv().c_str());
  if (rc != ARES_SUCCESS) {
    *error = fmt::format("ares_set_servers_ports_csv() failed ({})", ares_strerror(rc));
    return nullptr;
  }
  return r;
}

Resolver::~Resolver() {
  destroying_ = true;
  for (auto& [name, p] : pending_) {
    for (Waiter* w = p->head; w; w = w->next) w->pending = nullptr;
    p->head = nullptr;
  }
  loop_.cancel(&timer_);
  if (channel_) ares_destroy(channel_);  // answers ARES_EDESTRUCTION, closes the sockets
  for (auto& [fd, w] : watches_) {
    loop_.remove(fd);
    w->closed_ = true;
    loop_.defer_delete(w);
  }
}

const Answer* Resolver::cached(std::string_view name) {
  const Answer* a = cache_.find(name, loop_.now_ms());
  if (a || std::none_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
    return a;
  return cache_.find(lower(name), loop_.now_ms());
}

void Resolver::resolve(std::string_view name, Waiter* w) {
  std::string key = lower(name);
  auto it = pending_.find(key);
  Pending* p;
  if (it != pending_.end()) {
    p = it->second.get();
  } else {
    auto np = std::make_unique<Pending>();
    p = np.get();
    p->owner = this;
    p->name = key;
    pending_.emplace(key, std::move(np));
    ares_addrinfo_hints hints{};
    hints.ai_family = conf_.ipv4 && conf_.ipv6 ? AF_UNSPEC : conf_.ipv6 ? AF_INET6 : AF_INET;
    hints.ai_flags = ARES_AI_NOSORT;
    ++queries_;
    // Fully qualified, as nginx sends names: no search list, and c-ares then asks the servers
    // about "localhost" too instead of refusing (RFC 6761 special-casing).
    std::string fqdn = p->name;
    if (fqdn.empty() || fqdn.back() != '.') fqdn += '.';
    ares_getaddrinfo(channel_, fqdn.c_str(), nullptr, &hints, &Resolver::on_answer, p);
    arm_timer();
  }
  w->pending = p;
  w->prev = nullptr;
  w->next = p->head;
  if (p->head) p->head->prev = w;
  p->head = w;
}

void Resolver::cancel(Waiter* w) {
  Pending* p = w->pending;
  if (!p) return;
  if (w->prev)
    w->prev->next = w->next;
  else
    p->head = w->next;
  if (w->next) w->next->prev = w->prev;
  w->pending = nullptr;
  w->next = w->prev = nullptr;
  // The lookup goes on: its answer is cached for the next request.
}

void Resolver::on_sock_state(void* data, int fd, int readable, int writable) {
  Resolver* r = static_cast<Resolver*>(data);
  auto it = r->watches_.find(fd);
  if (!readable && !writable) {  // c-ares is about to close it
    if (it == r->watches_.end()) return;
    r->loop_.remove(fd);
    it->second->closed_ = true;
    r->loop_.defer_delete(it->second);
    r->watches_.erase(it);
    return;
  }
  uint32_t ev = (readable ? uint32_t(EPOLLIN) : 0u) | (writable ? uint32_t(EPOLLOUT) : 0u);
  if (it == r->watches_.end()) {
    auto* w = new FdWatch(r, fd);
    w->events_ = ev;
    Status st = r->loop_.add(fd, ev, w);
    if (!st) {
      PORTICO_LOG(LogLevel::kAlert, 0, "resolver: {}", st.message());
      delete w;
      return;  // the query times out
    }
    r->watches_.emplace(fd, w);
  } else if (it->second->events_ != ev) {
    it->second->events_ = ev;
    (void)r->loop_.modify(fd, ev, it->second);
  }
}

void Resolver::on_answer(void* arg, int status, int /*timeouts*/, ares_addrinfo* res) {
  Pending* p = static_cast<Pending*>(arg);
  Resolver* r = p->owner;
  if (status == ARES_EDESTRUCTION || r->destroying_) {
    if (res) ares_freeaddrinfo(res);
    return;  // ~Resolver frees the pending entries
  }
  Answer a;
  uint32_t ttl = UINT32_MAX;
  switch (status) {
    case ARES_SUCCESS:
      a.kind = Answer::Kind::kOk;
      break;
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
    case ARES_ENONAME:
      a.kind = Answer::Kind::kNotFound;
      a.error = "3: Host not found";
      break;
    case ARES_ETIMEOUT:
      a.kind = Answer::Kind::kTimedOut;
      a.error = "110: Operation timed out";
      break;
    default:
      a.kind = Answer::Kind::kFailed;
      a.error = fmt::format("2: Server failure ({})", ares_strerror(status));
      break;
  }
  if (res) {
    for (ares_addrinfo_node* n = res->nodes; n; n = n->ai_next) {
      SockAddr s{};
      if (n->ai_family == AF_INET && n->ai_addrlen >= sizeof(sockaddr_in))
        std::memcpy(&s.v4, n->ai_addr, sizeof s.v4);
      else if (n->ai_family == AF_INET6 && n->ai_addrlen >= sizeof(sockaddr_in6))
        std::memcpy(&s.v6, n->ai_addr, sizeof s.v6);
      else
        continue;
      if (s.sa.sa_family == AF_INET)
        s.v4.sin_port = 0;
      else
        s.v6.sin6_port = 0;
      a.addrs.push_back(s);
      ttl = std::min(ttl, uint32_t(std::max(n->ai_ttl, 0)));
    }
    for (ares_addrinfo_cname* c = res->cnames; c; c = c->next)
      ttl = std::min(ttl, uint32_t(std::max(c->ttl, 0)));
    ares_freeaddrinfo(res);
  }
  if (a.kind == Answer::Kind::kOk && a.addrs.empty()) {
    a.kind = Answer::Kind::kNotFound;
    a.error = "3: Host not found";
  }
  if (ttl == UINT32_MAX) ttl = 0;
  p->answer = r->cache_.store(p->name, std::move(a), r->loop_.now_ms(), ttl, r->conf_.valid_ms);
  r->done_.push_back(p);
  r->loop_.soon(&r->soon_);
}

void Resolver::on_soon(Soon* s) {
  static_cast<DeliverSoon*>(s)->owner->deliver();
}

void Resolver::deliver() {
  std::vector<Pending*> done;
  done.swap(done_);
  for (Pending* raw : done) {
    auto it = pending_.find(raw->name);
    if (it == pending_.end() || it->second.get() != raw) continue;
    std::unique_ptr<Pending> p = std::move(it->second);
    pending_.erase(it);
    // A waiter's callback may resolve() again or cancel() another waiter of this lookup: take
    // each off the list before calling it.
    while (Waiter* w = p->head) {
      p->head = w->next;
      if (p->head) p->head->prev = nullptr;
      w->pending = nullptr;
      w->next = w->prev = nullptr;
      w->fn(w, p->answer);
    }
  }
}

void Resolver::process(int read_fd, int write_fd) {
  ares_process_fd(channel_, read_fd, write_fd);
  arm_timer();
}

void Resolver::on_timer(Timer* t) {
  Resolver* r = static_cast<LoopTimer*>(t)->owner;
  r->process(ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

void Resolver::arm_timer() {
  timeval tv{};
  if (!ares_timeout(channel_, nullptr, &tv)) {
    loop_.cancel(&timer_);
    return;
  }
  uint64_t ms = uint64_t(tv.tv_sec) * 1000 + uint64_t(tv.tv_usec + 999) / 1000;
  loop_.schedule(&timer_, ms);
}

}  // namespace portico::dns
