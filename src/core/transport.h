// Transport: the one owner of a connected stream socket's I/O (h2o's h2o_socket_t, Envoy's
// TransportSocket). Every recv/send/sendmsg/sendfile/splice/shutdown on a client or upstream
// socket goes through here, and so does every EINTR/EAGAIN ladder: callers see one tri-state
// result (HAProxy's rule: error / no progress / progress) and never errno games.
//
// A plain socket, or a secure layer (TLS: src/tls/session.h; SSL_sendfile with kTLS, else
// pread + SSL_write) plugged in behind the same calls through Transport::Layer; the plain path
// stays a direct, non-virtual call (one predictable branch on a null pointer), so it costs nothing.
//
// Readiness is tracked here too, edge-triggered as the event loop registers every socket: the
// owner feeds epoll events to on_events(), and a read that returns less than asked, or EAGAIN,
// clears readable() (unless the peer half-closed: then the next read is the EOF). A write only
// clears writable() on EAGAIN: a short write alone does not guarantee an EPOLLOUT edge later.
//
// Ownership: a Transport owns its descriptor (closed by close() or the destructor) and is
// movable, not copyable. It belongs to one connection object on one worker thread (or the
// control thread's loop); it never blocks and never allocates.
//
//   Transport t(fd);                      // fd: non-blocking, connected
//   t.on_events(ev);                      // from IoHandler::on_io
//   if (t.readable()) {
//     IoResult r = t.read(buf, sizeof buf);
//     if (r.progress()) use(buf, r.bytes());
//     else if (r.eof()) peer_closed();
//     else if (r.error()) fail(r.err());  // r.again(): wait for the next event
//   }
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

namespace portico {

// The outcome of one I/O operation.
//  - progress: n bytes moved (n may be 0 only where a method says so).
//  - again:    nothing moved; the socket (or file, pipe) is not ready: wait for an event.
//  - eof:      the stream ended in order (read: the peer closed its side; sendfile: the file
//              is shorter than asked).
//  - error:    the operation failed with err() (an errno value); the stream is unusable.
// 16 bytes, returned in registers.
class [[nodiscard]] IoResult {
 public:
  enum class Kind : uint8_t { kProgress, kAgain, kEof, kError };

  static IoResult moved(size_t n) { return IoResult(Kind::kProgress, n, 0); }
  static IoResult blocked() { return IoResult(Kind::kAgain, 0, 0); }
  static IoResult ended() { return IoResult(Kind::kEof, 0, 0); }
  static IoResult failed(int err) { return IoResult(Kind::kError, 0, err); }

  Kind kind() const { return kind_; }
  bool progress() const { return kind_ == Kind::kProgress; }
  bool again() const { return kind_ == Kind::kAgain; }
  bool eof() const { return kind_ == Kind::kEof; }
  bool error() const { return kind_ == Kind::kError; }
  size_t bytes() const { return n_; }  // progress only
  int err() const { return err_; }     // error only

 private:
  IoResult(Kind k, size_t n, int err) : n_(n), err_(err), kind_(k) {}
  size_t n_;
  int err_;
  Kind kind_;
};

class Transport {
 public:
  // A layer between the transport and its socket (TLS, next). Each method has the contract of
  // the Transport method of the same name; the layer reaches the socket through raw_*() and
  // updates readiness with set_ready(). Owned by whoever installs it; outlives the transport's
  // use of it.
  class Layer {
   public:
    virtual IoResult read(Transport& t, char* buf, size_t len) = 0;
    virtual IoResult peek(Transport& t) = 0;
    virtual IoResult writev(Transport& t, const struct iovec* iov, size_t cnt, bool more) = 0;
    virtual IoResult sendfile(Transport& t, int file_fd, off_t offset, size_t len) = 0;
    virtual IoResult shutdown_write(Transport& t) = 0;
    virtual void close(Transport& t) = 0;  // before the descriptor is closed (close_notify)
    // After on_events() recorded an epoll mask: a layer whose read waits for the socket to be
    // writable (a TLS handshake) or whose write waits for it to be readable adjusts readiness.
    virtual void on_events(Transport&, uint32_t) {}

   protected:
    ~Layer() = default;
  };

  Transport() = default;
  // Takes ownership of `fd` (connected or connecting, non-blocking). Readiness starts unknown
  // (false): set_ready() when the caller knows better (a deferred accept is readable).
  explicit Transport(int fd) : fd_(fd) {}
  Transport(Transport&& o) noexcept { *this = static_cast<Transport&&>(o); }
  Transport& operator=(Transport&& o) noexcept;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;
  ~Transport() { close(); }

  int fd() const { return fd_; }
  bool is_open() const { return fd_ >= 0; }
  void set_layer(Layer* layer) { layer_ = layer; }
  Layer* layer() const { return layer_; }

  // ---- readiness (edge-triggered) ----
  // Records an epoll event mask: EPOLLIN/RDHUP/HUP/ERR make it readable, RDHUP/HUP/ERR mark the
  // read side closed (reads never block again), EPOLLOUT/HUP/ERR make it writable.
  void on_events(uint32_t events);
  void set_ready(bool readable, bool writable) {
    readable_ = readable;
    writable_ = writable;
  }
  // A splice or a layer learnt the socket is drained (or not) by other means than read().
  void set_readable(bool readable) { readable_ = readable; }
  void set_writable(bool writable) { writable_ = writable; }
  bool readable() const { return readable_; }
  bool writable() const { return writable_; }
  // The peer half-closed (or the socket failed): the next read returns eof or an error.
  bool read_closed() const { return rdhup_; }

  // ---- I/O: each is one system call (EINTR retried) ----
  // Reads up to len > 0 bytes. progress(n > 0); eof when the peer closed; again when drained.
  IoResult read(char* buf, size_t len);
  // Looks whether the peer is still there without consuming anything (nginx's
  // check_broken_connection). progress(1): data is waiting (a pipelined request: still there);
  // again: nothing yet (still there); eof: the peer closed; error: the connection failed.
  IoResult peek();
  // Gathers cnt > 0 pieces into one send. `more`: more output follows at once (MSG_MORE: let
  // the kernel coalesce, tcp_nopush's spirit). progress(n) with n > 0; again when the socket
  // buffer is full; error (EPIPE, ECONNRESET...) when the peer is gone. Never raises SIGPIPE.
  IoResult writev(const struct iovec* iov, size_t cnt, bool more = false);
  IoResult write(const char* data, size_t len) {
    struct iovec iov = {const_cast<char*>(data), len};
    return writev(&iov, 1);
  }
  // Sends len > 0 bytes of `file_fd` from `offset` (sendfile(2), zero-copy). progress(n > 0);
  // eof when the file has fewer bytes than asked (it shrank); again, error as writev.
  IoResult sendfile(int file_fd, off_t offset, size_t len);
  // Ends the write side (FIN); reads go on. progress(0) or error.
  IoResult shutdown_write();

  // ---- zero-copy relay through a pipe (plain sockets only) ----
  // Whether splice() may move this stream's bytes: a secure layer transforms them, so no.
  bool can_splice() const { return layer_ == nullptr; }
  // Socket -> pipe, up to len bytes. progress(n > 0); eof when the peer closed; again when the
  // socket is drained or the pipe full (the caller tells which by what the pipe holds).
  // REQUIRES: can_splice().
  IoResult splice_to_pipe(int pipe_w, size_t len);
  // Pipe -> socket, up to len bytes. progress(n > 0); again when the socket is full.
  // REQUIRES: can_splice().
  IoResult splice_from_pipe(int pipe_r, size_t len);

  // Closes the descriptor (which also leaves epoll); idempotent.
  void close();

  // For layers: the plain system calls under them.
  IoResult raw_read(char* buf, size_t len);
  // Looks at up to len bytes without consuming them (MSG_PEEK): progress, again, eof, error.
  IoResult raw_peek(char* buf, size_t len);
  IoResult raw_writev(const struct iovec* iov, size_t cnt, bool more);

 private:
  int fd_ = -1;
  bool readable_ = false;
  bool writable_ = false;
  bool rdhup_ = false;
  Layer* layer_ = nullptr;
};

}  // namespace portico
