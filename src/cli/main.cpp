// portico's entry point: options, config test, signals to a running instance, and the control
// thread (signals, reload, reopen, stop) of a serving one. Everything else is in the library.
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <signal.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "cli/options.h"
#include "config/modules.h"
#include "core/log.h"
#include "core/regex.h"
#include "server/loader.h"
#include "server/runtime.h"

using namespace portico;

namespace {

void print_usage() {
  fprintf(stderr,
          "Usage: portico [-?hvVtTq] [-s signal] [-p prefix]\n"
          "               [-e filename] [-c filename] [-g directives]\n\n"
          "Options:\n"
          "  -?,-h         : this help\n"
          "  -v            : show version and exit\n"
          "  -V            : show version and configure options then exit\n"
          "  -t            : test configuration and exit\n"
          "  -T            : test configuration, dump it and exit\n"
          "  -q            : suppress non-error messages during configuration testing\n"
          "  -s signal     : send signal to a master process: stop, quit, reopen, reload\n"
          "  -p prefix     : set prefix path (default: %s)\n"
          "  -e filename   : set error log file (default: logs/error.log)\n"
          "  -c filename   : set configuration file (default: %s)\n"
          "  -g directives : set global directives out of configuration file\n\n",
          PORTICO_PREFIX_DEFAULT, PORTICO_CONF_PATH_DEFAULT);
}

void print_version(bool full) {
  fprintf(stderr, "portico version: portico/%s\n", PORTICO_VERSION);
  if (!full) return;
  fprintf(stderr, "built by gcc %s\n", __VERSION__);
  fprintf(stderr, "built with %s (running with %s)\n", OPENSSL_VERSION_TEXT,
          OpenSSL_version(OPENSSL_VERSION));
  // Derived from this binary: the directive registry says which modules are built.
  fprintf(stderr, "configure arguments: --prefix=%s --conf-path=%s%s %s\n", PORTICO_PREFIX_DEFAULT,
          PORTICO_CONF_PATH_DEFAULT, Regex::jit_supported() ? " --with-pcre-jit" : "",
          config::module_arguments(server::registry()).c_str());
}

std::string absolute(const std::string& path, const std::string& base) {
  if (!path.empty() && path[0] == '/') return path;
  return base + path;
}

std::string cwd() {
  char buf[4096];
  if (!getcwd(buf, sizeof buf)) return "/";
  std::string s = buf;
  if (s.back() != '/') s += '/';
  return s;
}

void emerg(const std::string& msg) {
  fprintf(stderr, "portico: [emerg] %s\n", msg.c_str());
}

bool file_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

server::LoadOptions load_options(const cli::Options& o) {
  server::LoadOptions lo;
  lo.prefix = o.prefix;
  lo.conf_path = o.conf_path;
  lo.globals = o.globals;
  return lo;
}

// Loads and reports errors the nginx way. Returns null on failure.
std::shared_ptr<Snapshot> load_or_report(const cli::Options& o, bool to_log,
                                         server::LoadResult* out = nullptr,
                                         const Snapshot* previous = nullptr) {
  server::LoadOptions lo = load_options(o);
  lo.previous = previous;
  server::LoadResult res = server::load(lo);
  for (const auto& w : res.warnings) {
    if (to_log)
      LOG_WARN("{}", w);
    else if (!o.quiet || true)
      fprintf(stderr, "portico: [warn] %s\n", w.c_str());
  }
  for (const auto& e : res.errors) {
    if (to_log)
      LOG_EMERG("{}", e.to_string());
    else
      emerg(e.to_string());
  }
  auto snap = res.snapshot;
  if (out) *out = std::move(res);
  return snap;
}

int send_signal(const cli::Options& o) {
  auto snap = load_or_report(o, false);
  if (!snap) return 1;
  std::ifstream in(snap->main.pid_path);
  long pid = 0;
  if (!(in >> pid) || pid <= 0) {
    emerg("open() \"" + snap->main.pid_path + "\" failed (" + errno_text(errno ? errno : ENOENT) +
          ")");
    return 1;
  }
  int sig = o.signal == "reload"   ? SIGHUP
            : o.signal == "reopen" ? SIGUSR1
            : o.signal == "quit"   ? SIGQUIT
                                   : SIGTERM;
  if (kill(pid_t(pid), sig) != 0) {
    emerg("kill(" + std::to_string(pid) + ", " + std::to_string(sig) + ") failed (" +
          errno_text(errno) + ")");
    return 1;
  }
  return 0;
}

bool write_pid(const std::string& path) {
  if (path.empty()) return true;
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    LOG_EMERG("open() \"{}\" failed ({})", path, errno_text(errno));
    return false;
  }
  std::string s = std::to_string(getpid()) + "\n";
  bool ok = ::write(fd, s.data(), s.size()) == ssize_t(s.size());
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    LOG_EMERG("write pid file \"{}\" failed ({})", path, errno_text(errno));
    return false;
  }
  return true;
}

bool apply_error_logs(const Snapshot& s) {
  std::string err;
  if (!Logger::instance().set_targets(s.main.error_logs, &err)) {
    LOG_EMERG("{}", err);
    return false;
  }
  return true;
}

void reopen_logs(const Snapshot& s) {
  Logger::instance().reopen();
  s.log_files.reopen();
}

int serve(const cli::Options& o) {
  auto snap = load_or_report(o, false);
  if (!snap) return 1;
  if (!apply_error_logs(*snap)) return 1;

  if (snap->main.daemon) {
    pid_t p = fork();
    if (p < 0) {
      LOG_EMERG("fork() failed ({})", errno_text(errno));
      return 1;
    }
    if (p > 0) _exit(0);
    setsid();
    int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, STDIN_FILENO);
      dup2(null, STDOUT_FILENO);
      ::close(null);
    }
  }

  // Every thread inherits this mask; the control thread takes the signals synchronously.
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD})
    sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  server::Runtime runtime;
  if (Status st = runtime.start(snap); !st) {
    LOG_EMERG("{}", st.message());
    return 1;
  }
  if (!write_pid(snap->main.pid_path)) {
    runtime.stop(false);
    runtime.join();
    return 1;
  }
  std::string pid_path = snap->main.pid_path;
  Logger::instance().set_stderr_mirror(false);
  LOG_NOTICE("portico/{} started, {} worker(s)", PORTICO_VERSION, snap->main.worker_processes);
  sd_notifyf(0, "READY=1\nMAINPID=%lu\nSTATUS=serving", (unsigned long)getpid());

  bool stopping = false;
  for (;;) {
    struct timespec tick = {0, 100 * 1000 * 1000};
    siginfo_t info;
    int sig = stopping ? sigtimedwait(&set, &info, &tick) : sigwaitinfo(&set, &info);
    if (stopping && runtime.finished()) break;
    if (sig < 0) continue;
    switch (sig) {
      case SIGHUP: {
        sd_notify(0, "RELOADING=1");
        LOG_NOTICE("signal 1 (SIGHUP) received, reconfiguring");
        auto fresh = load_or_report(o, true, nullptr, runtime.snapshot().get());
        if (!fresh) {
          LOG_ALERT("reload failed, the running configuration is kept");
        } else if (Status st = runtime.reload(fresh); !st) {
          LOG_EMERG("{}", st.message());
          LOG_ALERT("reload failed, the running configuration is kept");
        } else {
          apply_error_logs(*fresh);
          LOG_NOTICE("reconfigured");
        }
        sd_notify(0, "READY=1");
        break;
      }
      case SIGUSR1:
        LOG_NOTICE("signal 10 (SIGUSR1) received, reopening logs");
        reopen_logs(*runtime.snapshot());
        break;
      case SIGQUIT:
        if (stopping) break;
        LOG_NOTICE("signal 3 (SIGQUIT) received, shutting down gracefully");
        sd_notify(0, "STOPPING=1");
        stopping = true;
        runtime.stop(true);
        break;
      case SIGTERM:
      case SIGINT:
        LOG_NOTICE("signal {} received, exiting", sig);
        sd_notify(0, "STOPPING=1");
        stopping = true;
        runtime.stop(false);
        break;
      default:
        break;
    }
    if (stopping && runtime.finished()) break;
  }
  runtime.join();
  if (!pid_path.empty()) ::unlink(pid_path.c_str());
  LOG_NOTICE("exit");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  cli::Options o;
  std::string error;
  if (!cli::parse_options(argc, argv, &o, &error)) {
    fprintf(stderr, "portico: %s\n", error.c_str());
    return 1;
  }
  if (o.help) {
    print_version(false);
    print_usage();
    return 0;
  }
  if (o.version || o.version_full) {
    print_version(o.version_full);
    if (!o.test && o.signal.empty()) return 0;
  }
  const std::string here = cwd();
  if (o.prefix.empty()) {
    o.prefix = PORTICO_PREFIX_DEFAULT;
  } else {
    o.prefix = absolute(o.prefix, here);
    if (o.prefix.back() != '/') o.prefix += '/';
  }
  if (o.conf_given) {
    o.conf_path = absolute(o.conf_path, o.prefix);
  } else {
    std::string def = o.prefix == PORTICO_PREFIX_DEFAULT ? std::string(PORTICO_CONF_PATH_DEFAULT)
                                                         : o.prefix + "conf/portico.conf";
    o.conf_path = file_exists(def) ? def : "";
  }
  if (!o.error_log.empty()) {
    std::string err;
    std::string path = o.error_log == "stderr" ? "stderr" : absolute(o.error_log, o.prefix);
    if (!Logger::instance().set_targets({LogTarget{path, LogLevel::kNotice, -1}}, &err)) {
      emerg(err);
      return 1;
    }
  }
  const std::string shown = o.conf_path.empty() ? "(embedded default)" : o.conf_path;
  if (o.test) {
    server::LoadResult res;
    auto snap = load_or_report(o, false, &res);
    if (!snap) {
      fprintf(stderr, "portico: configuration file %s test failed\n", shown.c_str());
      return 1;
    }
    if (!o.quiet) {
      fprintf(stderr, "portico: the configuration file %s syntax is ok\n", shown.c_str());
      fprintf(stderr, "portico: configuration file %s test is successful\n", shown.c_str());
    }
    if (o.dump) {
      if (o.conf_path.empty()) {
        printf("# configuration file %s:\n%s\n", shown.c_str(), server::kEmbeddedConfig);
      }
      for (const auto& f : res.files)
        printf("# configuration file %s:\n%s\n", f.path.c_str(), f.content.c_str());
    }
    return 0;
  }
  if (!o.signal.empty()) return send_signal(o);
  return serve(o);
}
