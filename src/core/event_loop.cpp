#include "core/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "core/log.h"
#include "core/time_cache.h"

namespace portico {

namespace {
// Tag for the wake-up eventfd in epoll data.
IoHandler* const kWakeTag = reinterpret_cast<IoHandler*>(uintptr_t(1));
}  // namespace

EventLoop::EventLoop() = default;

EventLoop::~EventLoop() {
  for (Deferred* d : graveyard_) delete d;
  if (epfd_ >= 0) ::close(epfd_);
  if (wakefd_ >= 0) ::close(wakefd_);
}

Status EventLoop::init() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) return Status::error("epoll_create1() failed (" + errno_text(errno) + ")");
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wakefd_ < 0) return Status::error("eventfd() failed (" + errno_text(errno) + ")");
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.ptr = kWakeTag;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) < 0)
    return Status::error("epoll_ctl() failed (" + errno_text(errno) + ")");
  update_time();
  timers_.start(now_ms_);
  return Status::ok();
}

Status EventLoop::add(int fd, uint32_t events, IoHandler* handler) {
  struct epoll_event ev {};
  ev.events = events;
  ev.data.ptr = handler;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) < 0)
    return Status::error("epoll_ctl(ADD) failed (" + errno_text(errno) + ")");
  return Status::ok();
}

Status EventLoop::modify(int fd, uint32_t events, IoHandler* handler) {
  struct epoll_event ev {};
  ev.events = events;
  ev.data.ptr = handler;
  if (epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) < 0)
    return Status::error("epoll_ctl(MOD) failed (" + errno_text(errno) + ")");
  return Status::ok();
}

void EventLoop::remove(int fd) {
  epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
}

void EventLoop::update_time() {
  TimeCache::local().update();
  now_ms_ = TimeCache::local().now_ms();
}

void EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(post_mu_);
    posted_.push_back(std::move(fn));
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wakefd_, &one, sizeof one);
}

void EventLoop::run_posted() {
  std::vector<std::function<void()>> tasks;
  {
    std::lock_guard<std::mutex> lock(post_mu_);
    tasks.swap(posted_);
  }
  for (auto& t : tasks) t();
}

namespace {
std::atomic<bool> g_descriptors_shared{false};
thread_local EventLoop* tl_current = nullptr;
}  // namespace

void set_descriptors_shared() {
  g_descriptors_shared.store(true, std::memory_order_release);
}

bool descriptors_shared() {
  return g_descriptors_shared.load(std::memory_order_relaxed);
}

EventLoop* EventLoop::current() {
  return tl_current;
}

void EventLoop::run_soon() {
  // A callback may ask again (for itself or another): run until nothing is queued.
  while (!soon_.empty()) {
    soon_running_.swap(soon_);
    for (Soon* s : soon_running_) {
      s->queued = false;
      s->fn(s);
    }
    soon_running_.clear();
  }
}

void EventLoop::run() {
  running_ = true;
  EventLoop* const outer = tl_current;
  tl_current = this;
  constexpr int kMaxEvents = 512;
  struct epoll_event events[kMaxEvents];
  while (running_) {
    int timeout = timers_.next_timeout_ms(now_ms_);
    if (!graveyard_.empty() || !soon_.empty()) timeout = 0;
    int n = epoll_wait(epfd_, events, kMaxEvents, timeout);
    update_time();
    if (n < 0 && errno != EINTR) {
      LOG_ALERT("epoll_wait() failed ({})", errno_text(errno));
      break;
    }
    bool woken = false;
    for (int i = 0; i < n; ++i) {
      IoHandler* h = static_cast<IoHandler*>(events[i].data.ptr);
      if (h == kWakeTag) {
        uint64_t v;
        [[maybe_unused]] ssize_t r = ::read(wakefd_, &v, sizeof v);
        woken = true;
        continue;
      }
      h->on_io(events[i].events);
    }
    timers_.run(now_ms_);
    if (woken) run_posted();
    if (!soon_.empty()) [[unlikely]]
      run_soon();
    if (!graveyard_.empty()) {
      // Swapped with a second vector (a destructor may defer more); both keep their capacity.
      dying_.swap(graveyard_);
      for (Deferred* d : dying_) delete d;
      dying_.clear();
    }
    if (iteration_hook_) iteration_hook_(iteration_arg_);
  }
  tl_current = outer;
}

}  // namespace portico
