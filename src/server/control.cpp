#include "server/control.h"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "core/log.h"

namespace portico::server {

namespace {

// glibc has had pidfd_open() only since 2.36; the system call is older (Linux 5.3).
int open_pidfd(pid_t pid) {
  return int(::syscall(SYS_pidfd_open, pid, 0));
}

// waitid(P_PIDFD, ...) (Linux 5.4); spelled out for C libraries whose idtype_t lacks it.
constexpr idtype_t kPidfdIdType = idtype_t(3);

ChildExit exit_of(pid_t pid, const siginfo_t& info) {
  ChildExit e;
  e.pid = pid;
  e.code = info.si_status;
  switch (info.si_code) {
    case CLD_EXITED:
      e.how = ChildExit::How::kExited;
      break;
    case CLD_DUMPED:
      e.how = ChildExit::How::kDumped;
      break;
    default:  // CLD_KILLED (WEXITED reports nothing else)
      e.how = ChildExit::How::kKilled;
      break;
  }
  return e;
}

}  // namespace

// A source registered in the loop. Freed through the loop's deferred deletion once forgotten,
// since an event of the current iteration may still name it; `live` turns such an event
// into a no-op.
class Control::Watch : public IoHandler, public Deferred {
 public:
  bool live = true;
};

class Control::SignalWatch final : public Watch {
 public:
  SignalWatch(Control* control, int fd) : control_(control), fd_(fd) {}
  ~SignalWatch() override { ::close(fd_); }
  int fd() const { return fd_; }

  void on_io(uint32_t) override {
    signalfd_siginfo info;
    while (::read(fd_, &info, sizeof info) == ssize_t(sizeof info)) {
      auto it = control_->signal_handlers_.find(int(info.ssi_signo));
      if (it == control_->signal_handlers_.end() || !it->second) continue;
      // A copy: the handler may replace itself through on_signal().
      SignalHandler fn = it->second;
      fn(info);
    }
  }

 private:
  Control* control_;
  int fd_;
};

class Control::ChildWatch final : public Watch {
 public:
  ChildWatch(Control* control, pid_t pid, int pidfd, ChildHandler fn)
      : control_(control), pid_(pid), pidfd_(pidfd), fn_(std::move(fn)) {}
  ~ChildWatch() override { ::close(pidfd_); }

  // The pidfd turns readable once the child has ended (it is a zombie until reaped here).
  void on_io(uint32_t) override {
    if (!live) return;
    siginfo_t info{};
    int rc;
    do {
      rc = ::waitid(kPidfdIdType, id_t(pidfd_), &info, WEXITED | WNOHANG);
    } while (rc < 0 && errno == EINTR);
    ChildExit e;
    if (rc < 0) {
      e.pid = pid_;
      e.how = ChildExit::How::kLost;
      e.code = errno;
      LOG_ALERT("waitid() for child {} failed ({})", pid_, errno_text(errno));
    } else if (info.si_pid == 0) {
      return;  // not ended after all
    } else {
      e = exit_of(pid_, info);
    }
    ChildHandler fn = std::move(fn_);
    control_->forget(pidfd_);
    fn(e);
  }

 private:
  Control* control_;
  pid_t pid_;
  int pidfd_;
  ChildHandler fn_;
};

class Control::PipeWatch final : public Watch {
 public:
  PipeWatch(int fd, PipeHandler fn) : fd_(fd), fn_(std::move(fn)) {}

  // fn_ may unwatch (and so forget) this watch; it is freed only after the iteration.
  void on_io(uint32_t) override {
    if (live) fn_(fd_);
  }

 private:
  int fd_;
  PipeHandler fn_;
};

Control::Control() {
  sigemptyset(&signals_);
}

Control::~Control() {
  for (auto& [fd, w] : watches_) {
    loop_.remove(fd);
    delete w;
  }
  watches_.clear();
  if (signal_watch_) loop_.remove(signal_watch_->fd());
}

Status Control::init() {
  if (Status s = loop_.init(); !s) return s;
  int fd = ::signalfd(-1, &signals_, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return Status::error("signalfd() failed (" + errno_text(errno) + ")");
  signal_watch_ = std::make_unique<SignalWatch>(this, fd);
  return loop_.add(fd, EPOLLIN, signal_watch_.get());
}

Status Control::on_signal(int signo, SignalHandler fn) {
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, signo);
  if (int err = pthread_sigmask(SIG_BLOCK, &one, nullptr); err != 0)
    return Status::error("pthread_sigmask() failed (" + errno_text(err) + ")");
  sigaddset(&signals_, signo);
  if (::signalfd(signal_watch_->fd(), &signals_, 0) < 0)
    return Status::error("signalfd() failed (" + errno_text(errno) + ")");
  signal_handlers_[signo] = std::move(fn);
  return Status::ok();
}

Status Control::watch_child(pid_t pid, ChildHandler fn) {
  int pidfd = open_pidfd(pid);
  if (pidfd < 0)
    return Status::error(fmt::format("pidfd_open({}) failed ({})", pid, errno_text(errno)));
  auto* w = new ChildWatch(this, pid, pidfd, std::move(fn));
  if (Status s = loop_.add(pidfd, EPOLLIN, w); !s) {
    delete w;
    return s;
  }
  watches_[pidfd] = w;
  return Status::ok();
}

Status Control::watch_pipe(int fd, PipeHandler fn) {
  if (watches_.count(fd)) return Status::error(fmt::format("fd {} is already watched", fd));
  auto* w = new PipeWatch(fd, std::move(fn));
  if (Status s = loop_.add(fd, EPOLLIN, w); !s) {
    delete w;
    return s;
  }
  watches_[fd] = w;
  return Status::ok();
}

void Control::unwatch_pipe(int fd) {
  auto it = watches_.find(fd);
  if (it == watches_.end() || !dynamic_cast<PipeWatch*>(it->second)) return;
  forget(fd);
}

void Control::forget(int fd) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) return;
  Watch* w = it->second;
  watches_.erase(it);
  loop_.remove(fd);
  w->live = false;
  loop_.defer_delete(w);
}

}  // namespace portico::server
