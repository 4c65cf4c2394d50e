#include "server/control.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

extern char** environ;

namespace portico::server {
namespace {

// Every wait is bounded: the loop runs until a callback calls stop(), or until this long.
constexpr uint64_t kDeadlineMs = 10'000;

struct DeadlineTimer : Timer {
  Control* control = nullptr;
  bool expired = false;
};

// Runs the control loop until a callback stops it; false if the deadline stopped it instead.
bool run_until_stopped(Control& c, uint64_t deadline_ms = kDeadlineMs) {
  DeadlineTimer d;
  d.control = &c;
  d.cb = [](Timer* t) {
    auto* d = static_cast<DeadlineTimer*>(t);
    d->expired = true;
    d->control->stop();
  };
  c.loop().schedule(&d, deadline_ms);
  c.run();
  c.loop().cancel(&d);
  return !d.expired;
}

// Starts argv[0] with argv; stdout to `out_fd` when >= 0. Returns the pid (> 0).
pid_t spawn(std::vector<std::string> args, int out_fd = -1) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (out_fd >= 0) posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  EXPECT_EQ(rc, 0) << args[0];
  return rc == 0 ? pid : -1;
}

class ControlTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(control.init().is_ok()); }
  Control control;
};

// ---- child processes ------------------------------------------------------------------------

TEST_F(ControlTest, ChildExitIsReportedOnceAndReaped) {
  pid_t pid = spawn({"/bin/true"});
  ASSERT_GT(pid, 0);
  std::vector<ChildExit> seen;
  ASSERT_TRUE(control
                  .watch_child(pid,
                               [&](const ChildExit& e) {
                                 seen.push_back(e);
                                 control.stop();
                               })
                  .is_ok());
  ASSERT_TRUE(run_until_stopped(control)) << "no exit reported";
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].pid, pid);
  EXPECT_EQ(seen[0].how, ChildExit::How::kExited);
  EXPECT_EQ(seen[0].code, 0);
  // Reaped by the watch: no zombie left for anyone else.
  errno = 0;
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST_F(ControlTest, ChildExitStatusAndSignal) {
  pid_t exits = spawn({"/bin/sh", "-c", "exit 3"});
  pid_t sleeps = spawn({"/bin/sleep", "30"});
  ASSERT_GT(exits, 0);
  ASSERT_GT(sleeps, 0);
  ChildExit exited, killed;
  int reported = 0;
  auto done = [&](ChildExit* into) {
    return [&, into](const ChildExit& e) {
      *into = e;
      if (++reported == 2) control.stop();
    };
  };
  ASSERT_TRUE(control.watch_child(exits, done(&exited)).is_ok());
  ASSERT_TRUE(control.watch_child(sleeps, done(&killed)).is_ok());
  ASSERT_EQ(::kill(sleeps, SIGKILL), 0);
  ASSERT_TRUE(run_until_stopped(control)) << reported << " of 2 exits reported";
  EXPECT_EQ(exited.pid, exits);
  EXPECT_EQ(exited.how, ChildExit::How::kExited);
  EXPECT_EQ(exited.code, 3);
  EXPECT_EQ(killed.pid, sleeps);
  EXPECT_EQ(killed.how, ChildExit::How::kKilled);
  EXPECT_EQ(killed.code, SIGKILL);
}

TEST_F(ControlTest, ChildThatEndedBeforeTheWatchIsReported) {
  pid_t pid = spawn({"/bin/true"});
  ASSERT_GT(pid, 0);
  // Wait for it to be a zombie, without reaping it.
  siginfo_t info{};
  ASSERT_EQ(::waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT), 0);
  bool seen = false;
  ASSERT_TRUE(control
                  .watch_child(pid,
                               [&](const ChildExit& e) {
                                 seen = e.pid == pid && e.how == ChildExit::How::kExited;
                                 control.stop();
                               })
                  .is_ok());
  ASSERT_TRUE(run_until_stopped(control));
  EXPECT_TRUE(seen);
}

TEST_F(ControlTest, WatchingANonChildFails) {
  EXPECT_FALSE(control.watch_child(pid_t(0x3fffffff), [](const ChildExit&) {}).is_ok());
}

// ---- pipes ----------------------------------------------------------------------------------

TEST_F(ControlTest, PipeOutputThenEndOfFileThenExit) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
  pid_t pid = spawn({"/bin/sh", "-c", "echo hello; echo world"}, p[1]);
  ::close(p[1]);
  ASSERT_GT(pid, 0);
  std::string out;
  bool eof = false, exited = false;
  ASSERT_TRUE(control
                  .watch_pipe(p[0],
                              [&](int fd) {
                                char buf[4];  // small: several calls, level-triggered
                                ssize_t n = ::read(fd, buf, sizeof buf);
                                if (n > 0) out.append(buf, size_t(n));
                                if (n == 0) {
                                  eof = true;
                                  control.unwatch_pipe(fd);
                                  if (exited) control.stop();
                                }
                              })
                  .is_ok());
  EXPECT_FALSE(control.watch_pipe(p[0], [](int) {}).is_ok()) << "watched twice";
  ASSERT_TRUE(control
                  .watch_child(pid,
                               [&](const ChildExit&) {
                                 exited = true;
                                 if (eof) control.stop();
                               })
                  .is_ok());
  ASSERT_TRUE(run_until_stopped(control)) << "eof " << eof << " exited " << exited;
  EXPECT_EQ(out, "hello\nworld\n");
  ::close(p[0]);
}

// ---- signals, timers, posted tasks ---------------------------------------------------------

TEST_F(ControlTest, SignalToThisThreadRunsItsHandler) {
  std::vector<int> seen;
  ASSERT_TRUE(control
                  .on_signal(SIGUSR2,
                             [&](const signalfd_siginfo& si) {
                               seen.push_back(int(si.ssi_signo));
                               control.stop();
                             })
                  .is_ok());
  // Blocked now, so this stays pending until the loop reads it from the signalfd.
  ASSERT_EQ(::syscall(SYS_tgkill, getpid(), gettid(), SIGUSR2), 0);
  ASSERT_TRUE(run_until_stopped(control));
  EXPECT_EQ(seen, std::vector<int>{SIGUSR2});
}

TEST_F(ControlTest, SignalFromAnotherProcess) {
  // What `portico -s reload` does: kill(2) on the process, from outside.
  int sender = 0;
  ASSERT_TRUE(control
                  .on_signal(SIGUSR2,
                             [&](const signalfd_siginfo& si) {
                               sender = int(si.ssi_pid);
                               control.stop();
                             })
                  .is_ok());
  pid_t pid = spawn({"/bin/sh", "-c", "kill -USR2 " + std::to_string(getpid())});
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(run_until_stopped(control));
  EXPECT_EQ(sender, pid);
  ::waitpid(pid, nullptr, 0);
}

TEST_F(ControlTest, EmptyHandlerConsumesTheSignal) {
  ASSERT_TRUE(control.on_signal(SIGWINCH, nullptr).is_ok());
  ASSERT_EQ(::syscall(SYS_tgkill, getpid(), gettid(), SIGWINCH), 0);
  // The signalfd and the posted task are both ready before the loop starts, so one iteration
  // reads the signal (I/O first) and then stops (posted tasks after).
  control.loop().post([&] { control.stop(); });
  ASSERT_TRUE(run_until_stopped(control));
  sigset_t pending;
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGWINCH)) << "still pending: not consumed";
}

struct StopTimer : Timer {
  Control* control = nullptr;
  uint64_t fired_at = 0;
};

TEST_F(ControlTest, TimerFiresNoSoonerThanAsked) {
  StopTimer t;
  t.control = &control;
  t.cb = [](Timer* timer) {
    auto* s = static_cast<StopTimer*>(timer);
    s->fired_at = s->control->loop().now_ms();
    s->control->stop();
  };
  const uint64_t start = control.loop().now_ms();
  control.loop().schedule(&t, 40);
  ASSERT_TRUE(run_until_stopped(control));
  EXPECT_GE(t.fired_at - start, 40u);
}

TEST_F(ControlTest, TaskPostedFromAnotherThreadRunsOnTheLoop) {
  std::thread::id ran_on;
  std::thread other([&] {
    control.loop().post([&] {
      ran_on = std::this_thread::get_id();
      control.stop();
    });
  });
  ASSERT_TRUE(run_until_stopped(control));
  other.join();
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

}  // namespace
}  // namespace portico::server
