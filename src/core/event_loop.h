// EventLoop: one epoll instance, its timer wheel and a cross-thread task queue.
// Each worker thread owns one loop; nothing in it is shared with other workers except post(),
// which is how the control thread hands a worker a new config or a stop request.
// Sockets are registered edge-triggered for both directions once (as nginx does), so the
// request path never calls epoll_ctl to switch interest.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "core/status.h"
#include "core/timer_wheel.h"

namespace portico {

// Implemented by anything that owns an fd in the loop. on_io() gets the epoll event mask.
class IoHandler {
 public:
  virtual void on_io(uint32_t events) = 0;

 protected:
  ~IoHandler() = default;
};

// An object that must be destroyed only after the current callback chain returns
// (Envoy's DeferredDeletable): connections close from deep inside their own callbacks.
class Deferred {
 public:
  virtual ~Deferred() = default;
};

// Once a process spawns children (the app supervisor), a child can hold a copy of a socket's
// file description for a moment (between fork/clone and the close-on-exec inside execve). A
// close() then no longer removes the socket from epoll, and its next event would reach a freed
// object. From the first spawn on, Transport::close removes the socket from the calling
// thread's loop first (one epoll_ctl per close; nothing when no child is ever spawned).
void set_descriptors_shared();
bool descriptors_shared();

// Work a loop object asks to run soon on its own thread: after the current I/O callbacks, in
// the same iteration (before timers fire and deferred objects are freed). Intrusive, so asking
// allocates nothing and asking twice runs it once. The owner must not be freed while queued:
// objects freed through defer_delete are safe (the queue runs before the graveyard).
struct Soon {
  void (*fn)(Soon*) = nullptr;
  bool queued = false;
};

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  Status init();
  Status add(int fd, uint32_t events, IoHandler* handler);
  // The loop running on the calling thread (inside run()), or null.
  static EventLoop* current();
  Status modify(int fd, uint32_t events, IoHandler* handler);
  void remove(int fd);

  // Runs until stop(). Each iteration: wait, dispatch I/O, run timers, run posted tasks, free
  // deferred objects.
  void run();
  void stop() { running_ = false; }

  // Thread-safe: queue fn to run on the loop's thread and wake it.
  void post(std::function<void()> fn);
  // Destroy after the current iteration's callbacks.
  void defer_delete(Deferred* d) { graveyard_.push_back(d); }

  // Runs s->fn(s) later in this iteration (see Soon). Loop thread only.
  void soon(Soon* s) {
    if (s->queued) return;
    s->queued = true;
    soon_.push_back(s);
  }

  uint64_t now_ms() const { return now_ms_; }
  // Called at the end of every iteration, after timers and posted tasks.
  void set_iteration_hook(void (*fn)(void*), void* arg) {
    iteration_hook_ = fn;
    iteration_arg_ = arg;
  }
  void schedule(Timer* t, uint64_t delay_ms) { timers_.schedule(t, now_ms_, delay_ms); }
  void cancel(Timer* t) { timers_.cancel(t); }

 private:
  void update_time();
  void run_posted();
  void run_soon();

  int epfd_ = -1;
  int wakefd_ = -1;
  bool running_ = false;
  uint64_t now_ms_ = 0;
  void (*iteration_hook_)(void*) = nullptr;
  void* iteration_arg_ = nullptr;
  TimerWheel timers_;
  std::vector<Soon*> soon_;
  std::vector<Soon*> soon_running_;
  std::vector<Deferred*> graveyard_;
  std::vector<Deferred*> dying_;
  std::mutex post_mu_;  // guards posted_; taken only on control-thread hand-offs
  std::vector<std::function<void()>> posted_;
};

}  // namespace portico
