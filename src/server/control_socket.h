// ControlSocket: the running server's command channel, a unix stream socket (mode 0600, next to
// the pid file: `control_socket`) served on the control thread. `portico status`, `portico app
// restart NAME` and `portico app scale NAME N` connect, send one line and print the answer, as
// passenger-status and passenger-config talk to Passenger's core.
//
// Protocol: the client sends one command line (at most 1 KiB, ended by "\n") and reads until
// the server closes. The answer's first line is "ok" or "error: MESSAGE"; the rest is the
// command's output. A client that sends nothing for 5 s, or more than 1 KiB without a newline,
// is closed. Bounded: at most 16 clients at once; the answer is written without blocking.
//
// Threads: the control thread only.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/event_loop.h"
#include "core/status.h"

namespace portico::server {

class ControlSocket final : public IoHandler {
 public:
  // Runs a command line and returns the whole answer ("ok\n..." or "error: ...\n").
  using Handler = std::function<std::string(std::string_view line)>;

  ControlSocket(EventLoop& loop, Handler handler);
  ~ControlSocket();  // closes the socket, its clients, and unlinks the path

  // Listens on `path` (a stale socket there is replaced). Empty path: nothing.
  Status open(const std::string& path);
  void close();
  const std::string& path() const { return path_; }

  void on_io(uint32_t events) override;

  class Client;

 private:
  friend class Client;
  void drop(Client* c);

  EventLoop& loop_;
  Handler handler_;
  std::string path_;
  int fd_ = -1;
  std::vector<std::unique_ptr<Client>> clients_;
};

// The client side, for the CLI: sends `line` to the socket at `path` and returns the answer
// (or an error), waiting at most `timeout_ms`.
Status control_request(const std::string& path, std::string_view line, uint64_t timeout_ms,
                       std::string* answer);

}  // namespace portico::server
