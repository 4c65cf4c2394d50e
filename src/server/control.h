// Control: the control thread's event loop and its event sources. Everything portico does that
// is not a request runs here: signals (reload, stop, reopen: server/master.h), active health
// checks (upstream/health_check.h), the app supervisor (apps/supervisor.h, through the
// ChildHost interface of core/child_host.h: child exits, the apps' stdout/stderr), next DNS
// re-resolution and status. It is the same EventLoop a worker runs (epoll, timer wheel, posted
// tasks), with three more kinds of source:
//
//  - signals, through a signalfd: a signal is handled by a plain callback on this thread, so
//    handlers may do anything (parse a config, log, post to workers), unlike in a handler of
//    sigaction(2);
//  - child processes, through a pidfd each (pidfd_open(2)): the callback gets how the child
//    ended and the child is reaped, with no SIGCHLD handler and no waitpid(-1) that could reap
//    another part's child;
//  - pipes (an app's stdout/stderr), level-triggered read callbacks.
//
// Ownership and threads: one Control per serving process, owned by server::Master and run on
// the main thread after start-up (that thread *is* the control thread). Every method is for
// that thread only, except loop().post(), which any thread may call: workers tell the control
// thread things that way, and the control thread tells workers things with their loops' post().
// Callbacks never run concurrently with each other and never block the workers.
//
// Use:
//
//   Control control;
//   control.init();                                        // before any other thread starts
//   control.on_signal(SIGHUP, [&](const signalfd_siginfo&) { reload(); });
//   control.watch_child(pid, [&](const ChildExit& e) { restart_later(e); });
//   control.watch_pipe(out_fd, [&](int fd) { drain(fd); });
//   loop timers: control.loop().schedule(&timer, ms);
//   control.run();                                         // until stop()
#pragma once

#include <sys/signalfd.h>
#include <sys/types.h>

#include <csignal>
#include <functional>
#include <map>
#include <memory>

#include "core/child_host.h"
#include "core/event_loop.h"
#include "core/status.h"

namespace portico::server {

using portico::ChildExit;

class Control final : public ChildHost {
 public:
  using SignalHandler = std::function<void(const signalfd_siginfo&)>;

  Control();
  ~Control();  // closes its pidfds and signalfd; leaves watched pipes' fds to their owners
  Control(const Control&) = delete;
  Control& operator=(const Control&) = delete;

  // Creates the loop and the (still empty) signalfd. Never blocks.
  Status init();

  // The loop, for timers (schedule/cancel) and for posting to this thread from others.
  EventLoop& loop() override { return loop_; }

  // From now on `signo` is handled by `fn` on this thread (replacing an earlier handler); an
  // empty fn consumes the signal and does nothing. Blocks `signo` in the calling thread: every
  // thread must have it blocked or the kernel may deliver it the default way, so call this
  // before other threads start (they inherit the mask). As with sigwaitinfo, two instances of
  // one signal that arrive before the loop reads them are reported once. Never blocks.
  Status on_signal(int signo, SignalHandler fn);

  // Calls `fn` once, on this thread, when child `pid` has ended, and reaps it. Returns an error
  // when pidfd_open(2) fails (e.g. a kernel older than 5.3); nothing is watched then. Never
  // blocks: the child is reaped (waitid WNOHANG) only once its pidfd says it has ended.
  // REQUIRES: pid is a child of this process not yet reaped, and nobody else waits for it.
  // A child inherits the blocked signal mask of the thread that forked it, i.e. every signal
  // on_signal took: a spawner must reset it (posix_spawnattr_setsigmask), or a SIGTERM sent
  // to the child stays pending.
  Status watch_child(pid_t pid, ChildHandler fn) override;

  // Calls `fn(fd)` on this thread whenever `fd` (a pipe's read end, preferably O_NONBLOCK) is
  // readable or hung up, until unwatch_pipe(fd). Level-triggered: fn need not drain it all, but
  // at end of file (read returns 0) it must unwatch_pipe, or it is called again at once. The
  // fd stays the caller's to close, after unwatch_pipe. Never blocks (fn should not either:
  // it runs on the control thread).
  Status watch_pipe(int fd, PipeHandler fn) override;
  // Stops watching `fd`; safe from inside its own handler. A no-op for an unwatched fd.
  void unwatch_pipe(int fd) override;

  // Blocks, running the loop (callbacks, timers, posted tasks) until stop(); returns after the
  // iteration in which stop() was called.
  void run() { loop_.run(); }
  // From a callback on this thread; other threads post a task that calls it.
  void stop() { loop_.stop(); }

 private:
  class Watch;
  class SignalWatch;
  class ChildWatch;
  class PipeWatch;
  void forget(int fd);  // drops a watch from watches_, freeing it after this iteration

  EventLoop loop_;
  sigset_t signals_;  // the signalfd's mask
  std::unique_ptr<SignalWatch> signal_watch_;
  std::map<int, SignalHandler> signal_handlers_;
  std::map<int, Watch*> watches_;  // pidfd or pipe fd -> its watch (owned)
};

}  // namespace portico::server
