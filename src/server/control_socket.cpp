#include "server/control_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/log.h"

namespace portico::server {

namespace {

constexpr size_t kMaxLine = 1024;
constexpr size_t kMaxClients = 16;
constexpr uint64_t kClientTimeoutMs = 5000;

bool make_addr(const std::string& path, sockaddr_un* a) {
  if (path.empty() || path.size() >= sizeof a->sun_path) return false;
  std::memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  std::memcpy(a->sun_path, path.data(), path.size());
  return true;
}

}  // namespace

class ControlSocket::Client final : public IoHandler, public Deferred {
 public:
  Client(ControlSocket* owner, int fd) : owner_(owner), fd_(fd) {
    timer_.owner = this;
    timer_.cb = [](Timer* t) {
      Client* c = static_cast<ClientTimer*>(t)->owner;
      c->owner_->drop(c);
    };
  }
  ~Client() override {
    owner_->loop_.cancel(&timer_);
    if (fd_ >= 0) {
      owner_->loop_.remove(fd_);
      ::close(fd_);
    }
  }

  bool start() {
    owner_->loop_.schedule(&timer_, kClientTimeoutMs);
    return bool(owner_->loop_.add(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, this));
  }

  void on_io(uint32_t events) override {
    if (answer_.empty()) {
      char buf[512];
      for (;;) {
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
        if (n <= 0) return owner_->drop(this);
        line_.append(buf, size_t(n));
        if (line_.find('\n') != std::string::npos) break;
        if (line_.size() > kMaxLine) return owner_->drop(this);
      }
      size_t nl = line_.find('\n');
      if (nl == std::string::npos) {
        if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) return owner_->drop(this);
        return;
      }
      line_.resize(nl);
      if (!line_.empty() && line_.back() == '\r') line_.pop_back();
      answer_ = owner_->handler_(line_);
      if (answer_.empty()) answer_ = "ok\n";
    }
    while (sent_ < answer_.size()) {
      ssize_t n = ::send(fd_, answer_.data() + sent_, answer_.size() - sent_, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;  // EPOLLOUT brings us back
      if (n <= 0) return owner_->drop(this);
      sent_ += size_t(n);
    }
    owner_->drop(this);
  }

 private:
  struct ClientTimer : Timer {
    Client* owner = nullptr;
  };
  ControlSocket* owner_;
  int fd_;
  std::string line_, answer_;
  size_t sent_ = 0;
  ClientTimer timer_;
};

ControlSocket::ControlSocket(EventLoop& loop, Handler handler)
    : loop_(loop), handler_(std::move(handler)) {}

ControlSocket::~ControlSocket() {
  close();
}

Status ControlSocket::open(const std::string& path) {
  close();
  if (path.empty()) return Status::ok();
  sockaddr_un a;
  if (!make_addr(path, &a)) return Status::error("control socket path too long: \"" + path + "\"");
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::error("socket() failed (" + errno_text(errno) + ")");
  ::unlink(path.c_str());  // a stale socket of a portico that did not exit cleanly
  // 0600 from the start: no moment in which another user could connect.
  const mode_t old = ::umask(0177);
  const int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  ::umask(old);
  if (rc != 0 || ::listen(fd, 16) != 0) {
    Status st = Status::error("bind() to unix:" + path + " failed (" + errno_text(errno) + ")");
    ::close(fd);
    return st;
  }
  if (Status st = loop_.add(fd, EPOLLIN, this); !st) {
    ::close(fd);
    ::unlink(path.c_str());
    return st;
  }
  fd_ = fd;
  path_ = path;
  return Status::ok();
}

void ControlSocket::close() {
  clients_.clear();
  if (fd_ < 0) return;
  loop_.remove(fd_);
  ::close(fd_);
  fd_ = -1;
  ::unlink(path_.c_str());
  path_.clear();
}

void ControlSocket::on_io(uint32_t) {
  for (;;) {
    int c = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) return;  // EAGAIN, or an error a later connection may not have
    if (clients_.size() >= kMaxClients) {
      ::close(c);
      continue;
    }
    auto client = std::make_unique<Client>(this, c);
    Client* raw = client.get();
    clients_.push_back(std::move(client));
    if (!raw->start()) drop(raw);
  }
}

void ControlSocket::drop(Client* c) {
  for (auto it = clients_.begin(); it != clients_.end(); ++it) {
    if (it->get() != c) continue;
    loop_.defer_delete(it->release());
    clients_.erase(it);
    return;
  }
}

Status control_request(const std::string& path, std::string_view line, uint64_t timeout_ms,
                       std::string* answer) {
  sockaddr_un a;
  if (!make_addr(path, &a)) return Status::error("control socket path too long: \"" + path + "\"");
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::error("socket() failed (" + errno_text(errno) + ")");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    Status st = Status::error("connect() to unix:" + path + " failed (" + errno_text(errno) +
                              "): is portico running?");
    ::close(fd);
    return st;
  }
  std::string req(line);
  req += '\n';
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != ssize_t(req.size())) {
    Status st = Status::error("send() failed (" + errno_text(errno) + ")");
    ::close(fd);
    return st;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  char buf[16384];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, int(left.count())) == 0) {
      ::close(fd);
      return Status::error("no answer from unix:" + path);
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    answer->append(buf, size_t(n));
  }
  ::close(fd);
  return Status::ok();
}

}  // namespace portico::server
