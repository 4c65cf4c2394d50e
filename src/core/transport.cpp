#include "core/transport.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "core/event_loop.h"

namespace portico {

namespace {

bool would_block(int err) {
  return err == EAGAIN || err == EWOULDBLOCK;
}

}  // namespace

Transport& Transport::operator=(Transport&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    readable_ = o.readable_;
    writable_ = o.writable_;
    rdhup_ = o.rdhup_;
    layer_ = o.layer_;
    o.fd_ = -1;
    o.readable_ = o.writable_ = o.rdhup_ = false;
    o.layer_ = nullptr;
  }
  return *this;
}

void Transport::on_events(uint32_t ev) {
  if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable_ = true;
  if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) rdhup_ = true;
  if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writable_ = true;
  if (layer_) [[unlikely]]
    layer_->on_events(*this, ev);
}

IoResult Transport::read(char* buf, size_t len) {
  if (layer_) [[unlikely]]
    return layer_->read(*this, buf, len);
  return raw_read(buf, len);
}

IoResult Transport::raw_read(char* buf, size_t len) {
  for (;;) {
    ssize_t n = ::recv(fd_, buf, len, 0);
    if (n > 0) {
      // Edge-triggered: a short read drained the socket, unless the peer half-closed (then the
      // next read is the EOF, and no new edge would announce it).
      if (size_t(n) < len) readable_ = rdhup_;
      return IoResult::moved(size_t(n));
    }
    if (n == 0) return IoResult::ended();
    if (errno == EINTR) continue;
    if (would_block(errno)) {
      readable_ = false;
      return IoResult::blocked();
    }
    return IoResult::failed(errno);
  }
}

IoResult Transport::raw_peek(char* buf, size_t len) {
  for (;;) {
    ssize_t n = ::recv(fd_, buf, len, MSG_PEEK);
    if (n > 0) return IoResult::moved(size_t(n));
    if (n == 0) return IoResult::ended();
    if (errno == EINTR) continue;
    if (would_block(errno)) {
      readable_ = false;
      return IoResult::blocked();
    }
    return IoResult::failed(errno);
  }
}

IoResult Transport::peek() {
  if (layer_) [[unlikely]]
    return layer_->peek(*this);
  for (;;) {
    char c;
    ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK);
    if (n > 0) return IoResult::moved(1);
    if (n == 0) return IoResult::ended();
    if (errno == EINTR) continue;
    if (would_block(errno)) return IoResult::blocked();
    return IoResult::failed(errno);
  }
}

IoResult Transport::writev(const struct iovec* iov, size_t cnt, bool more) {
  if (layer_) [[unlikely]]
    return layer_->writev(*this, iov, cnt, more);
  return raw_writev(iov, cnt, more);
}

IoResult Transport::raw_writev(const struct iovec* iov, size_t cnt, bool more) {
  struct msghdr msg {};
  msg.msg_iov = const_cast<struct iovec*>(iov);
  msg.msg_iovlen = cnt;
  // sendmsg rather than writev: MSG_NOSIGNAL (no SIGPIPE from a vanished peer) and MSG_MORE.
  const int flags = MSG_NOSIGNAL | (more ? MSG_MORE : 0);
  for (;;) {
    ssize_t n = ::sendmsg(fd_, &msg, flags);
    if (n >= 0) return IoResult::moved(size_t(n));
    if (errno == EINTR) continue;
    if (would_block(errno)) {
      writable_ = false;
      return IoResult::blocked();
    }
    return IoResult::failed(errno);
  }
}

IoResult Transport::sendfile(int file_fd, off_t offset, size_t len) {
  if (layer_) [[unlikely]]
    return layer_->sendfile(*this, file_fd, offset, len);
  for (;;) {
    off_t off = offset;
    ssize_t n = ::sendfile(fd_, file_fd, &off, len);
    if (n > 0) return IoResult::moved(size_t(n));
    if (n == 0) return IoResult::ended();  // the file ended before `len`
    if (errno == EINTR) continue;
    if (would_block(errno)) {
      writable_ = false;
      return IoResult::blocked();
    }
    return IoResult::failed(errno);
  }
}

IoResult Transport::shutdown_write() {
  if (layer_) [[unlikely]]
    return layer_->shutdown_write(*this);
  if (::shutdown(fd_, SHUT_WR) == 0) return IoResult::moved(0);
  return IoResult::failed(errno);
}

IoResult Transport::splice_to_pipe(int pipe_w, size_t len) {
  for (;;) {
    ssize_t n = ::splice(fd_, nullptr, pipe_w, nullptr, len, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
    if (n > 0) return IoResult::moved(size_t(n));
    if (n == 0) return IoResult::ended();
    if (errno == EINTR) continue;
    if (would_block(errno)) return IoResult::blocked();  // socket drained or pipe full
    return IoResult::failed(errno);
  }
}

IoResult Transport::splice_from_pipe(int pipe_r, size_t len) {
  for (;;) {
    ssize_t n = ::splice(pipe_r, nullptr, fd_, nullptr, len, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
    if (n >= 0) return IoResult::moved(size_t(n));
    if (errno == EINTR) continue;
    if (would_block(errno)) {
      writable_ = false;
      return IoResult::blocked();
    }
    return IoResult::failed(errno);
  }
}

void Transport::close() {
  if (fd_ < 0) return;
  if (layer_) layer_->close(*this);
  // close() drops the socket from epoll unless a spawned child holds a copy of it for a moment;
  // once children exist, remove it explicitly (see set_descriptors_shared).
  if (descriptors_shared()) [[unlikely]]
    if (EventLoop* loop = EventLoop::current()) loop->remove(fd_);
  ::close(fd_);
  fd_ = -1;
  readable_ = writable_ = rdhup_ = false;
}

}  // namespace portico
