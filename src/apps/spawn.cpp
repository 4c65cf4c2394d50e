#include "apps/spawn.h"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "core/log.h"

extern char** environ;

namespace portico::apps {

namespace {

bool set_cloexec(int fd, bool on) {
  int flags = ::fcntl(fd, F_GETFD);
  if (flags < 0) return false;
  return ::fcntl(fd, F_SETFD, on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC) == 0;
}

struct Exec {
  char* const* argv;
  char* const* envp;
};

// The clone child, on its own stack in portico's memory: exec, nothing else. Not instrumented:
// a sanitizer's stack bookkeeping would write into portico's shadow memory.
__attribute__((no_sanitize("address", "undefined"))) int exec_helper(void* arg) {
  auto* e = static_cast<Exec*>(arg);
  ::execve("/proc/self/exe", e->argv, e->envp);
  ::_exit(127);
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "portico: starting the app: %s failed (%s)\n", what, std::strerror(errno));
  ::_exit(127);
}

}  // namespace

Status spawn_process(const SpawnSpec& s, pid_t* out) {
  // Everything the child needs is made here: it only calls execve.
  std::string groups;
  for (gid_t g : s.groups) groups += (groups.empty() ? "" : ",") + std::to_string(g);
  if (groups.empty()) groups = "-";
  std::vector<std::string> args = {
      "portico",
      kSpawnHelperFlag,
      std::to_string(s.out_fd),
      std::to_string(s.err_fd),
      std::to_string(::getpid()),
      std::to_string(int64_t(s.uid == uid_t(-1) ? -1 : int64_t(s.uid))),
      std::to_string(int64_t(s.gid == gid_t(-1) ? -1 : int64_t(s.gid))),
      groups,
      s.root,
      s.command};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = s.env;
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  // The helper inherits exactly these two (only the control thread spawns, and workers never
  // exec, so nothing else can inherit them meanwhile).
  if (!set_cloexec(s.out_fd, false) || !set_cloexec(s.err_fd, false))
    return Status::error("fcntl() failed (" + errno_text(errno) + ")");
  // vfork-like: the child runs on a stack of its own in portico's memory (CLONE_VM), with
  // portico's descriptor table (CLONE_FILES), while this thread waits for its execve
  // (CLONE_VFORK). It does nothing but execve.
  Exec exec{argv.data(), envp.data()};
  constexpr size_t kStack = 64 * 1024;
  std::vector<char> stack(kStack);
  int rc = ::clone(exec_helper, stack.data() + kStack,
                   CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, &exec);
  const int clone_errno = errno;
  set_cloexec(s.out_fd, true);
  set_cloexec(s.err_fd, true);
  if (rc < 0) return Status::error("clone() failed (" + errno_text(clone_errno) + ")");
  *out = pid_t(rc);
  return Status::ok();
}

int spawn_helper_main(int argc, char** argv) {
  if (argc != 10) {
    std::fprintf(stderr, "portico: %s is for portico's own use\n", kSpawnHelperFlag);
    return 2;
  }
  const int out_fd = std::atoi(argv[2]);
  const int err_fd = std::atoi(argv[3]);
  const pid_t parent = pid_t(std::atol(argv[4]));
  const long long uid = std::atoll(argv[5]);
  const long long gid = std::atoll(argv[6]);
  const char* groups = argv[7];
  const char* root = argv[8];
  const char* command = argv[9];

  int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull < 0 || ::dup2(devnull, 0) < 0) fail("open(/dev/null)");
  if (::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) fail("dup2()");
  // Every other descriptor goes (there should be none but these).
  if (::syscall(SYS_close_range, 3u, ~0u, 0u) != 0)
    for (int fd = 3; fd < 1024; ++fd) ::close(fd);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  ::setsid();
  if (::chdir(root) != 0) fail(fmt::format("chdir(\"{}\")", root).c_str());
  if (uid >= 0) {
    std::vector<gid_t> list;
    if (std::strcmp(groups, "-") != 0) {
      for (const char* p = groups; *p;) {
        list.push_back(gid_t(std::strtoul(p, nullptr, 10)));
        const char* comma = std::strchr(p, ',');
        if (!comma) break;
        p = comma + 1;
      }
    }
    if (::setgroups(list.size(), list.data()) != 0) fail("setgroups()");
  }
  if (gid >= 0 && ::setgid(gid_t(gid)) != 0) fail("setgid()");
  if (uid >= 0 && ::setuid(uid_t(uid)) != 0) fail("setuid()");
  // After the credentials: changing them clears the parent-death signal.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail("prctl(PR_SET_PDEATHSIG)");
  if (::getppid() != parent) ::_exit(127);  // portico is already gone
  std::string line = std::string("exec ") + command;
  const char* sh_argv[] = {"/bin/sh", "-c", line.c_str(), nullptr};
  ::execve("/bin/sh", const_cast<char* const*>(sh_argv), environ);
  fail("execve(/bin/sh)");
}

}  // namespace portico::apps
