// ChildHost: what a part that owns child processes (the app supervisor, apps/supervisor.h) needs
// from the thread it runs on: its event loop (timers, sockets, posted tasks), a watch per child
// (called once when it ended, and reaped) and read callbacks for pipes (the children's stdout
// and stderr). server::Control, the control thread's loop, implements it; layers below server/
// depend on this interface, not on server/.
//
// Threads: every method is for the host's own thread (the control thread).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>

#include "core/event_loop.h"
#include "core/status.h"

namespace portico {

// How a watched child ended (from waitid(2) on its pidfd).
struct ChildExit {
  enum class How : uint8_t {
    kExited,  // returned from main or called exit(): `code` is the exit status
    kKilled,  // killed by signal `code`
    kDumped,  // killed by signal `code`, with a core dump
    kLost,    // could not be reaped (someone else waited for it): `code` is the errno
  };
  pid_t pid = 0;
  How how = How::kExited;
  int code = 0;
};

class ChildHost {
 public:
  using ChildHandler = std::function<void(const ChildExit&)>;
  using PipeHandler = std::function<void(int fd)>;

  // The host thread's loop: timers (schedule/cancel), fds (add/remove), post().
  virtual EventLoop& loop() = 0;
  // Calls `fn` once, on the host thread, when child `pid` has ended, and reaps it (no SIGCHLD,
  // no waitpid(-1)). REQUIRES: pid is a child of this process not yet reaped.
  virtual Status watch_child(pid_t pid, ChildHandler fn) = 0;
  // Calls `fn(fd)` whenever `fd` (a pipe's non-blocking read end) is readable or hung up, until
  // unwatch_pipe(fd); level-triggered. The fd stays the caller's to close.
  virtual Status watch_pipe(int fd, PipeHandler fn) = 0;
  virtual void unwatch_pipe(int fd) = 0;

 protected:
  ~ChildHost() = default;
};

}  // namespace portico
