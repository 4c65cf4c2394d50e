// portico's entry point: options, config test, signals to a running instance, and the start-up
// of a serving one (first load, error log, daemon), which then runs as server::Master (control
// thread: signals, reload, reopen, stop, health checks). Everything else is in the library.
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "apps/spawn.h"
#include "cli/options.h"
#include "config/modules.h"
#include "core/log.h"
#include "core/regex.h"
#include "server/control_socket.h"
#include "server/loader.h"
#include "server/master.h"

using namespace portico;

namespace {

void print_usage() {
  fprintf(stderr,
          "Usage: portico [-?hvVtTq] [-s signal] [-p prefix]\n"
          "               [-e filename] [-c filename] [-g directives]\n"
          "       portico [-p prefix] [-c filename] status [--json]\n"
          "       portico [-p prefix] [-c filename] app restart NAME | app scale NAME N\n\n"
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

constexpr const char* kNginxCompatVersion = "1.22.1";

void print_version(bool full) {
  fprintf(stderr, "portico version: portico/%s\n", PORTICO_VERSION);
  if (!full) return;
  // The nginx release whose directives and behaviour portico follows (and is measured against
  // with nginx's own test suite), in the form tools that read `nginx -V` look for.
  fprintf(stderr, "nginx version: nginx/%s (the nginx whose configuration portico follows)\n",
          kNginxCompatVersion);
  fprintf(stderr, "built by gcc %s\n", __VERSION__);
  fprintf(stderr, "built with %s (running with %s)\n", OPENSSL_VERSION_TEXT,
          OpenSSL_version(OPENSSL_VERSION));
  // Derived from this binary: the directive registry says which modules are built.
  const std::string modules = config::module_arguments(server::registry());
  if (modules.find("--with-http_ssl_module") != std::string::npos)
    fprintf(stderr, "TLS SNI support enabled\n");
  fprintf(stderr, "configure arguments: --prefix=%s --conf-path=%s%s %s\n", PORTICO_PREFIX_DEFAULT,
          PORTICO_CONF_PATH_DEFAULT, Regex::jit_supported() ? " --with-pcre-jit" : "",
          modules.c_str());
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

// Loads and reports warnings and errors the nginx way, on stderr (a running server's reloads
// report to the error log instead: server::Master). Returns null on failure.
std::shared_ptr<Snapshot> load_or_report(const cli::Options& o, server::LoadResult* out = nullptr) {
  server::LoadResult res = server::load(load_options(o));
  for (const auto& w : res.warnings) fprintf(stderr, "portico: [warn] %s\n", w.c_str());
  for (const auto& e : res.errors) emerg(e.to_string());
  auto snap = res.snapshot;
  if (out) *out = std::move(res);
  return snap;
}

int send_signal(const cli::Options& o) {
  auto snap = load_or_report(o);
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

// `portico status`, `portico app ...`: one line to the running server's control socket; its
// answer's first line is "ok" or "error: ...", the rest is printed.
int send_command(const cli::Options& o) {
  auto snap = load_or_report(o);
  if (!snap) return 1;
  if (snap->main.control_socket.empty()) {
    emerg("no control socket (\"control_socket off\" or \"pid off\")");
    return 1;
  }
  std::string line;
  for (const auto& w : o.command) line += (line.empty() ? "" : " ") + w;
  std::string answer;
  if (Status st = server::control_request(snap->main.control_socket, line, 10'000, &answer); !st) {
    emerg(st.message());
    return 1;
  }
  const size_t nl = answer.find('\n');
  const std::string first = answer.substr(0, nl);
  const std::string rest = nl == std::string::npos ? "" : answer.substr(nl + 1);
  if (first != "ok") {
    fprintf(stderr, "portico: %s\n", first.c_str());
    return 1;
  }
  fputs(rest.c_str(), stdout);
  return 0;
}

int serve(const cli::Options& o) {
  auto snap = load_or_report(o);
  if (!snap) return 1;
  if (!server::apply_error_logs(*snap)) return 1;

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

  // From here on this thread is the control thread.
  return server::Master(load_options(o)).run(snap);
}

}  // namespace

int main(int argc, char** argv) {
  // portico as the helper that starts an app process (apps/spawn.h).
  if (argc > 1 && std::strcmp(argv[1], apps::kSpawnHelperFlag) == 0)
    return apps::spawn_helper_main(argc, argv);
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
    auto snap = load_or_report(o, &res);
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
  if (!o.command.empty()) return send_command(o);
  return serve(o);
}
