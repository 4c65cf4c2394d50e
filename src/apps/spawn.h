// Starting an app process without exposing portico's sockets to it.
//
// Why not fork(): portico's workers close sockets without EPOLL_CTL_DEL (close() drops an fd from
// epoll only once every descriptor of that open file is closed). fork() copies the descriptor
// table, so between fork and exec the child holds every socket of the workers: one a worker
// closes in that window stays in its epoll set, and its next event names a freed connection.
// So the child shares portico's table (CLONE_FILES) and memory (CLONE_VM, on a stack of its
// own; CLONE_VFORK: the control thread waits until it execs), as posix_spawn does but for the
// table, and does nothing but exec portico itself as a helper (`portico --portico-app-spawn
// ...`, spawn_helper_main below). The table is copied only inside that execve, which drops the
// close-on-exec descriptors a few instructions later (and with a shared memory, dropping the
// old address space costs nothing in between). The helper, which holds only
// the pipes it was given, sets up the process and execs the app:
//
//   stdin /dev/null, stdout/stderr the given pipes, every other descriptor closed; a session
//   of its own (setsid); the signal mask and dispositions reset (portico blocks the signals it
//   handles and ignores SIGPIPE, and both survive exec); the app root as working directory;
//   the user's groups, group and user when given; PR_SET_PDEATHSIG(SIGKILL) after those (a
//   credential change clears it), then a check that portico is still its parent; then
//   `/bin/sh -c "exec COMMAND"` with the app's environment.
//
// The process's parent is the control thread, which lives as long as portico: when portico
// dies, even by SIGKILL, the kernel kills the app.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "core/status.h"

namespace portico::apps {

inline constexpr const char* kSpawnHelperFlag = "--portico-app-spawn";

struct SpawnSpec {
  std::string command;           // for /bin/sh -c
  std::string root;              // working directory
  std::vector<std::string> env;  // NAME=VALUE, the whole environment
  uid_t uid = uid_t(-1);         // -1: keep
  gid_t gid = gid_t(-1);
  std::vector<gid_t> groups;  // supplementary groups, set when uid is
  int out_fd = -1;            // the write ends for stdout and stderr
  int err_fd = -1;
};

// Starts the process (on the control thread; blocks only until the helper has exec'd).
// *pid is the child, which the caller watches and reaps. Leaves spec's fds open.
Status spawn_process(const SpawnSpec& spec, pid_t* pid);

// main() of `portico --portico-app-spawn OUT ERR PPID UID GID GROUPS ROOT COMMAND`; never
// returns when it succeeds.
int spawn_helper_main(int argc, char** argv);

}  // namespace portico::apps
