#include "apps/supervisor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "apps/loaders.h"
#include "apps/pool.h"
#include "apps/spawn.h"
#include "core/log.h"
#include "core/time_cache.h"

extern char** environ;

namespace portico::apps {

namespace {

constexpr uint64_t kProbeIntervalMs = 50;
constexpr uint64_t kDrainPollMs = 50;
// The pool's tick: scaling and request-count recycling; every kSlowTicks-th tick also reads
// /proc (memory, CPU) and the restart file.
constexpr uint64_t kTickMs = 250;
constexpr uint32_t kSlowTicks = 4;

// The whole of a small /proc file (bounded), or "" if it cannot be read.
std::string read_small_file(const char* path) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  std::string out;
  char buf[4096];
  for (int i = 0; i < 4; ++i) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, size_t(n));
  }
  ::close(fd);
  return out;
}
constexpr size_t kMaxLine = 4096;  // a longer line is written in pieces of this size

// A timer that calls a std::function (the wheel's callback is a plain function pointer).
struct FnTimer : Timer {
  std::function<void()> fn;
  FnTimer() {
    cb = [](Timer* t) { static_cast<FnTimer*>(t)->fn(); };
  }
};

// A free loopback port: bound to port 0, read back, closed (Passenger's way; the app binds it a
// moment later). `avoid`: ports our own processes hold or are about to.
int pick_port(const std::set<int>& avoid) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
      port = ntohs(a.sin_port);
    ::close(fd);
    if (port > 0 && !avoid.count(port)) return port;
  }
  return -1;
}

std::string exit_text(const ChildExit& e) {
  switch (e.how) {
    case ChildExit::How::kExited:
      return fmt::format("exited with code {}", e.code);
    case ChildExit::How::kKilled:
      return fmt::format("killed by signal {}", e.code);
    case ChildExit::How::kDumped:
      return fmt::format("killed by signal {} (core dumped)", e.code);
    case ChildExit::How::kLost:
      return fmt::format("lost ({})", errno_text(e.code));
  }
  return "ended";
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

}  // namespace

bool AppConf::same_processes(const AppConf& o) const {
  return name == o.name && type == o.type && unix_socket == o.unix_socket && command == o.command &&
         startup_file == o.startup_file && root == o.root && app_env == o.app_env && env == o.env &&
         user == o.user && group == o.group && min_instances == o.min_instances &&
         max_instances == o.max_instances && concurrency == o.concurrency &&
         max_request_time_ms == o.max_request_time_ms && passenger_users == o.passenger_users &&
         user_switching == o.user_switching && default_user == o.default_user &&
         default_group == o.default_group && start_timeout_ms == o.start_timeout_ms &&
         ready.kind == o.ready.kind && ready.uri == o.ready.uri && stop_signal == o.stop_signal &&
         stop_timeout_ms == o.stop_timeout_ms && drain_timeout_ms == o.drain_timeout_ms &&
         backoff == o.backoff && log_path == o.log_path;
}

int signal_by_name(const std::string& name) {
  std::string n = name;
  if (n.rfind("SIG", 0) == 0) n = n.substr(3);
  static const std::pair<const char*, int> kSignals[] = {
      {"TERM", SIGTERM}, {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"HUP", SIGHUP},
      {"KILL", SIGKILL}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}};
  for (const auto& [s, v] : kSignals)
    if (n == s) return v;
  return 0;
}

// ---- Process -------------------------------------------------------------------------------

class Supervisor::Process final : public IoHandler, public Deferred {
 public:
  enum class State : uint8_t { kSpawning, kReady, kDraining, kStopping, kExited };

  Process(App* app, uint64_t generation);
  ~Process() override;

  Status spawn(const std::set<int>& avoid);
  void on_io(uint32_t events) override;  // the readiness probe's socket
  void on_exit(const ChildExit& e);
  void drain_then_stop();
  void stop(uint64_t kill_after_ms);
  void publish(const AppConf& conf);  // add_peer to every group of conf; forget other groups
  void join(const AppConf& conf);     // add_peer to every group of conf; keep the others
  void unpublish();                   // remove_peer from every group

  pid_t pid() const { return pid_; }
  State state() const { return state_; }
  uint64_t generation() const { return generation_; }
  int port() const { return port_; }                             // -1: a unix socket
  const std::string& socket_path() const { return sock_path_; }  // empty: a TCP port
  // "port 41234" or "unix:/tmp/portico-apps-x/3/app.sock", for messages.
  std::string where() const {
    return sock_path_.empty() ? fmt::format("port {}", port_) : "unix:" + sock_path_;
  }
  bool alive() const { return state_ != State::kExited; }
  // Spawning or ready (counts towards the app's instances).
  bool serving_or_starting() const { return state_ == State::kSpawning || state_ == State::kReady; }
  // Ready and not being replaced: counts towards the current generation's instances.
  bool current_of(uint64_t generation) const {
    return generation_ == generation && recycle_ == nullptr;
  }
  // Requests picked for it in every group, including groups it has left.
  uint64_t requests() const;
  uint32_t active() const;
  // Requests cut at max_request_time on it (PeerState::overtime, all groups).
  uint64_t overtime() const;
  void sample();  // memory and CPU from /proc

 private:
  friend class App;
  void start_probe();
  void close_probe();
  void probe_failed();
  void probe_passed();
  const ReadyCheck& check() const;
  bool probing() const;
  void became_ready();
  bool read_pipe(int fd, int stream);  // false: nothing more to read now (or the end)
  void write_line(int stream, std::string_view line);
  void close_pipes();

  App* app_;  // valid while the process is alive (an app outlives its processes' exits)
  EventLoop& loop_;
  ChildHost& host_;
  uint64_t generation_;
  pid_t pid_ = -1;
  int port_ = -1;
  std::string sock_dir_, sock_path_;  // a unix socket: its own directory, owned by the app's user
  void remove_socket();
  State state_ = State::kSpawning;
  uint64_t started_ms_ = 0, ready_ms_ = 0;
  bool stop_requested_ = false;
  int out_fd_ = -1, err_fd_ = -1;
  std::string partial_[2];
  int probe_fd_ = -1;
  bool probe_sent_ = false;
  std::string probe_buf_;
  FnTimer probe_timer_, start_timer_, kill_timer_, drain_timer_, live_timeout_timer_;
  uint32_t live_fails_ = 0;  // liveness checks failed in a row
  uint64_t drain_started_ms_ = 0;
  const char* recycle_ = nullptr;  // why it is being replaced (it serves until then)
  uint64_t requests_left_ = 0;     // requests counted in groups it has left
  uint64_t rss_kb_ = 0, pss_kb_ = 0, cpu_ticks_ = 0;
  uint64_t seen_requests_ = 0, idle_since_ms_ = 0;
  // Where this process is a peer: one entry per group it was added to.
  std::vector<
      std::pair<std::shared_ptr<const upstream::Group>, std::shared_ptr<upstream::PeerState>>>
      peers_;
};

// ---- App -----------------------------------------------------------------------------------

class Supervisor::App {
 public:
  App(Supervisor* sv, std::shared_ptr<const AppConf> conf) : sv_(sv), conf_(std::move(conf)) {
    restart_timer_.fn = [this] { reconcile(); };
    tick_timer_.fn = [this] { tick(); };
    target_ = min_instances();
    restart_mtime_ = restart_file_mtime();
    open_log();
    loop().schedule(&tick_timer_, kTickMs);
  }
  ~App() {
    loop().cancel(&restart_timer_);
    loop().cancel(&tick_timer_);
    if (log_fd_ >= 0) ::close(log_fd_);
  }

  EventLoop& loop() { return sv_->host_.loop(); }
  ChildHost& host() { return sv_->host_; }
  const AppConf& conf() const { return *conf_; }
  Supervisor* supervisor() { return sv_; }

  void set_conf(std::shared_ptr<const AppConf> c, bool new_generation) {
    const bool log_changed = c->log_path != conf_->log_path;
    const bool restart_file_changed = c->restart_file != conf_->restart_file;
    conf_ = std::move(c);
    if (new_generation) {
      ++generation_;
      failures_ = 0;
      next_start_ms_ = 0;
      scale_min_ = 0;
      target_ = min_instances();
    }
    target_ = std::clamp(target_, min_instances(), max_instances());
    if (restart_file_changed) restart_mtime_ = restart_file_mtime();
    if (log_changed) open_log();
  }

  // At least one; `portico app scale` overrides the configured minimum until the app changes.
  uint32_t min_instances() const {
    return std::max<uint32_t>(scale_min_ ? scale_min_ : conf_->min_instances, 1);
  }
  uint32_t max_instances() const { return std::max(conf_->max_instances, min_instances()); }

  // A new generation replaces every process: one at a time (new one ready, then an old one
  // drained and stopped) with rolling restarts, else all stopped first (requests wait).
  void restart(std::string_view why) {
    LOG_NOTICE("app \"{}\": restarting ({}), {}", conf_->name, why,
               conf_->rolling_restarts ? "one process at a time" : "all processes at once");
    ++generation_;
    failures_ = 0;
    next_start_ms_ = 0;
    last_start_failed_ = false;
    if (!conf_->rolling_restarts)
      for (auto& p : procs_) p->drain_then_stop();
    reconcile();
  }

  // `portico app scale NAME N`: N processes from now on (N becomes the minimum; the maximum
  // still bounds scaling up). Returns the new target.
  uint32_t scale(uint32_t n) {
    scale_min_ = std::max<uint32_t>(n, 1);
    const uint32_t before = target_;
    target_ = min_instances();
    LOG_NOTICE("app \"{}\": scaled from {} to {} process(es)", conf_->name, before, target_);
    // Above the new target: the idlest current processes go first.
    uint32_t current = 0;
    for (auto& p : procs_)
      if (p->serving_or_starting() && p->current_of(generation_)) ++current;
    for (auto it = procs_.rbegin(); it != procs_.rend() && current > target_; ++it) {
      Process& p = **it;
      if (!p.serving_or_starting() || !p.current_of(generation_)) continue;
      if (p.state() == Process::State::kSpawning)
        p.stop(0);
      else
        p.drain_then_stop();
      --current;
    }
    reconcile();
    return target_;
  }

  // The pool's periodic look (kTickMs): recycling by request count, lifetime and memory,
  // scaling up under queued requests, idle processes above the minimum stopped, restart.txt.
  void tick() {
    loop().schedule(&tick_timer_, kTickMs);
    if (retiring_ || sv_->stopping_) return;
    const uint64_t now = loop().now_ms();
    const bool slow = ++ticks_ % kSlowTicks == 0;
    if (slow) ++samples_;
    if (slow && !conf_->restart_file.empty()) {
      const int64_t m = restart_file_mtime();
      const bool touched = m != 0 && m != restart_mtime_;
      restart_mtime_ = m;
      if (touched) {
        restart(conf_->restart_file);
        return;
      }
    }
    bool changed = false;
    PoolFigures pf;
    pf.target = target_;
    for (auto& p : procs_) {
      if (p->state() == Process::State::kReady && p->overtime()) {
        // passenger_max_request_time: the worker cut the request (504); the process, stuck on
        // it or not, is shut down at once, as Passenger does, and replaced.
        const std::string why = fmt::format(
            "process {} took longer than max_request_time ({} ms) on a request, "
            "shut down",
            p->pid(), conf_->max_request_time_ms);
        LOG_ERROR("app \"{}\" {}", conf_->name, why);
        note_error(why);
        count_restart();
        p->stop(0);
        changed = true;
        continue;
      }
      if (slow && p->state() == Process::State::kReady) p->sample();
      if (!p->serving_or_starting() || !p->current_of(generation_)) continue;
      if (p->state() == Process::State::kSpawning) {
        ++pf.starting;
        continue;
      }
      ++pf.ready;
      const uint32_t active = p->active();
      if (conf_->concurrency && active >= conf_->concurrency) ++pf.busy;
      const ProcessFigures f{p->requests(), p->pss_kb_, now - p->ready_ms_};
      if (active > 0 || f.requests != p->seen_requests_ || p->idle_since_ms_ == 0) {
        p->seen_requests_ = f.requests;
        p->idle_since_ms_ = now;
      }
      if (const char* why = recycle_reason(*conf_, f)) {
        LOG_NOTICE("app \"{}\" process {} is replaced ({}: {} requests, {} kB PSS, {} ms)",
                   conf_->name, p->pid(), why, f.requests, f.pss_kb, f.ready_for_ms);
        p->recycle_ = why;
        changed = true;
      }
    }
    for (const auto& g : conf_->groups) pf.waiting += g->waiting().load(std::memory_order_relaxed);
    const uint32_t t = next_target(*conf_, min_instances(), pf);
    if (t > target_) {
      LOG_NOTICE("app \"{}\": {} request(s) waiting, scaling up to {} process(es)", conf_->name,
                 pf.waiting, t);
      target_ = t;
      changed = true;
    }
    // One idle process above the minimum at a time stops (Passenger's pool idle time).
    if (target_ > min_instances() && conf_->idle_time_ms && pf.waiting == 0) {
      for (auto& p : procs_) {
        if (p->state() != Process::State::kReady || !p->current_of(generation_)) continue;
        if (now - p->idle_since_ms_ < conf_->idle_time_ms) continue;
        LOG_NOTICE("app \"{}\" process {} idle for {} ms: stopping it ({} -> {} processes)",
                   conf_->name, p->pid(), now - p->idle_since_ms_, target_, target_ - 1);
        --target_;
        p->drain_then_stop();
        changed = true;
        break;
      }
    }
    if (changed) reconcile();
  }

  int64_t restart_file_mtime() const {
    struct stat st;
    if (conf_->restart_file.empty() || ::stat(conf_->restart_file.c_str(), &st) != 0) return 0;
    return int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  }

  void open_log() {
    if (log_fd_ >= 0) ::close(log_fd_);
    log_fd_ = -1;
    if (conf_->log_path.empty()) return;
    log_fd_ = ::open(conf_->log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (log_fd_ < 0)
      LOG_ALERT("open() \"{}\" failed ({}), app \"{}\" logs to the error log", conf_->log_path,
                errno_text(errno), conf_->name);
  }

  // Brings the processes towards what the configuration asks for. Called after every event.
  void reconcile() {
    if (retiring_) {
      for (auto& p : procs_)
        if (p->serving_or_starting()) p->stop(conf_->stop_timeout_ms);
      return;
    }
    const uint64_t now = loop().now_ms();
    uint32_t cur_alive = 0, cur_ready = 0, cur_spawning = 0, old_ready = 0;
    for (auto& p : procs_) {
      if (!p->serving_or_starting()) continue;
      if (p->current_of(generation_)) {
        ++cur_alive;
        if (p->state() == Process::State::kReady)
          ++cur_ready;
        else
          ++cur_spawning;
      } else if (p->state() == Process::State::kReady) {
        ++old_ready;
      } else {
        p->stop(0);  // an old process still starting serves nobody
      }
    }
    const uint32_t target = target_;
    // Rolling replacement: an old process retires only when a new one took its place.
    if (old_ready > 0) {
      uint32_t keep_old = cur_ready >= target ? 0 : target - cur_ready;
      for (auto& p : procs_) {
        if (old_ready <= keep_old) break;
        if (!p->current_of(generation_) && p->state() == Process::State::kReady) {
          p->drain_then_stop();
          --old_ready;
        }
      }
    }
    // Start processes: all missing at once, except during a rolling replacement (one at a time).
    uint32_t want = cur_alive < target ? target - cur_alive : 0;
    if (old_ready > 0 && want > 0) want = cur_spawning > 0 ? 0 : 1;
    if (want > 0) {
      if (now < next_start_ms_) {
        if (!restart_timer_.armed()) loop().schedule(&restart_timer_, next_start_ms_ - now);
      } else {
        for (uint32_t i = 0; i < want; ++i) start_one();
      }
    }
    update_availability();
  }

  void start_one() {
    auto p = std::make_unique<Process>(this, generation_);
    std::set<int> avoid;
    for (auto& q : procs_)
      if (q->alive() && q->port() > 0) avoid.insert(q->port());
    Process* raw = p.get();
    procs_.push_back(std::move(p));
    if (Status st = raw->spawn(avoid); !st) {
      LOG_ALERT("app \"{}\": could not start a process: {}", conf_->name, st.message());
      procs_.pop_back();
      failed_start();
    }
  }

  void failed_start() {
    failures_ = next_failures(conf_->backoff, failures_, false, 0);
    last_start_failed_ = true;
    next_start_ms_ = loop().now_ms() + backoff_delay_ms(conf_->backoff, failures_);
    loop().cancel(&restart_timer_);
    update_availability();
    if (!sv_->stopping_) loop().schedule(&restart_timer_, next_start_ms_ - loop().now_ms());
  }

  // A process of this app ended (already unpublished).
  void process_ended(Process* p, const ChildExit& e) {
    const uint64_t now = loop().now_ms();
    const bool expected = p->stop_requested_;
    const bool was_ready = p->ready_ms_ != 0;
    if (!expected && p->generation() == generation_ && !retiring_ && !sv_->stopping_) {
      const uint64_t up = was_ready ? now - p->ready_ms_ : 0;
      last_error_ = fmt::format(
          "process {} {} {}", p->pid(), exit_text(e),
          was_ready ? fmt::format("after {} ms ready", up) : std::string("before it was ready"));
      LOG_ERROR("app \"{}\" {}", conf_->name, last_error_);
      ++restarts_;
      failures_ = next_failures(conf_->backoff, failures_, was_ready, up);
      last_start_failed_ = !was_ready;
      // A process that had been serving is replaced at once; the wait starts with a second
      // failure in a row (a crash loop), or with a process that never became ready.
      const uint64_t delay =
          was_ready && failures_ == 1 ? 0 : backoff_delay_ms(conf_->backoff, failures_);
      next_start_ms_ = now + delay;
      if (failures_ > 1) LOG_NOTICE("app \"{}\": next start in {} ms", conf_->name, delay);
    } else {
      LOG_NOTICE("app \"{}\" process {} {}", conf_->name, p->pid(), exit_text(e));
    }
    for (auto it = procs_.begin(); it != procs_.end(); ++it) {
      if (it->get() == p) {
        loop().defer_delete(it->release());
        procs_.erase(it);
        break;
      }
    }
    if (sv_->stopping_ || retiring_) {
      sv_->maybe_done();
      return;
    }
    reconcile();
    sv_->publish_status();
  }

  void process_ready(Process*) {
    last_start_failed_ = false;
    reconcile();
    sv_->publish_status();
  }

  // No process ready and the last start failed: requests are answered 503 at once.
  void update_availability() {
    bool any_ready = false;
    for (auto& p : procs_) any_ready = any_ready || p->state() == Process::State::kReady;
    uint32_t retry_after = 0;
    if (!any_ready && last_start_failed_ && !sv_->stopping_) {
      const uint64_t now = loop().now_ms();
      const uint64_t wait = next_start_ms_ > now ? next_start_ms_ - now : 0;
      retry_after = uint32_t(std::max<uint64_t>(1, (wait + 999) / 1000));
    }
    for (const auto& g : conf_->groups) {
      const bool was = g->unavailable_retry_after() != 0;
      g->set_unavailable(retry_after);
      if (retry_after && !was) g->wake_waiters();  // queued requests get their 503 now
    }
  }

  void stop_all(uint64_t kill_after_ms) {
    loop().cancel(&restart_timer_);
    loop().cancel(&tick_timer_);
    for (const auto& g : conf_->groups) g->set_unavailable(0);
    for (auto& p : procs_)
      if (p->alive()) p->stop(kill_after_ms);
  }

  void retire() {
    retiring_ = true;
    stop_all(conf_->stop_timeout_ms);
  }

  void note_error(std::string text) { last_error_ = std::move(text); }
  void count_restart() { ++restarts_; }

  // The last lines the app's processes wrote to stderr (for status: why a deploy failed).
  void note_stderr(std::string_view line) {
    if (stderr_tail_.size() == kStderrTail) stderr_tail_.pop_front();
    stderr_tail_.emplace_back(line.substr(0, 512));
  }

  nlohmann::json status() const {
    nlohmann::json a;
    a["name"] = conf_->name;
    // An older generation still serving means a restart or deploy is under way; if the new
    // version's last start failed meanwhile, the deploy failed and the old version serves.
    bool old_serving = false;
    for (const auto& p : procs_)
      old_serving =
          old_serving || (p->state() == Process::State::kReady && p->generation() != generation_);
    a["state"] = retiring_             ? "stopping"
                 : !last_start_failed_ ? (old_serving ? "deploying" : "running")
                 : old_serving         ? "deploy_failed"
                                       : "failing";
    a["generation"] = generation_;
    a["processes_wanted"] = target_;
    a["min_instances"] = min_instances();
    a["max_instances"] = max_instances();
    uint32_t waiting = 0;
    for (const auto& g : conf_->groups) waiting += g->waiting().load(std::memory_order_relaxed);
    a["requests_waiting"] = waiting;
    a["restarts"] = restarts_;
    a["samples"] = samples_;  // looks at /proc and the restart file so far
    a["consecutive_failures"] = failures_;
    a["last_error"] = last_error_;
    a["stderr_tail"] = stderr_tail_;
    const uint64_t now = sv_->host_.loop().now_ms();
    static const long kTicks = ::sysconf(_SC_CLK_TCK);
    nlohmann::json procs = nlohmann::json::array();
    for (const auto& p : procs_) {
      static const char* const kStates[] = {"starting", "ready", "draining", "stopping", "exited"};
      nlohmann::json j;
      j["pid"] = p->pid();
      j["state"] = kStates[int(p->state())];
      j["generation"] = p->generation();
      if (p->port() > 0)
        j["port"] = p->port();
      else
        j["socket"] = p->socket_path();
      j["requests_in_flight"] = p->active();
      j["requests"] = p->requests();
      j["rss_kb"] = p->rss_kb_;
      j["pss_kb"] = p->pss_kb_;
      j["cpu_seconds"] = kTicks > 0 ? double(p->cpu_ticks_) / double(kTicks) : 0.0;
      j["uptime_ms"] = now - p->started_ms_;
      j["ready_ms"] = p->ready_ms_ ? now - p->ready_ms_ : 0;
      j["recycle_reason"] = p->recycle_ ? p->recycle_ : "";
      procs.push_back(std::move(j));
    }
    a["processes"] = std::move(procs);
    return a;
  }

  bool empty() const { return procs_.empty(); }
  bool retiring() const { return retiring_; }
  std::vector<std::unique_ptr<Process>>& procs() { return procs_; }
  int log_fd() const { return log_fd_; }
  uint64_t generation() const { return generation_; }

 private:
  Supervisor* sv_;
  std::shared_ptr<const AppConf> conf_;
  std::vector<std::unique_ptr<Process>> procs_;
  uint64_t generation_ = 1;
  uint32_t failures_ = 0;
  bool last_start_failed_ = false;
  uint64_t next_start_ms_ = 0;
  bool retiring_ = false;
  int log_fd_ = -1;
  FnTimer restart_timer_, tick_timer_;
  uint32_t target_ = 1;     // processes wanted now (min..max; scaling moves it)
  uint32_t scale_min_ = 0;  // `portico app scale`; 0: the configured minimum
  uint32_t ticks_ = 0;
  uint64_t samples_ = 0;       // slow ticks: memory and CPU sampled, the restart file looked at
  int64_t restart_mtime_ = 0;  // of the restart file when last looked at; 0: none
  static constexpr size_t kStderrTail = 10;
  std::deque<std::string> stderr_tail_;
  std::string last_error_;
  uint64_t restarts_ = 0;  // processes that ended unasked
};

// ---- Process implementation ----------------------------------------------------------------

Supervisor::Process::Process(App* app, uint64_t generation)
    : app_(app), loop_(app->loop()), host_(app->host()), generation_(generation) {}

// May run after the app is gone (deferred deletion): touches only the loop and the host.
Supervisor::Process::~Process() {
  loop_.cancel(&probe_timer_);
  loop_.cancel(&start_timer_);
  loop_.cancel(&kill_timer_);
  loop_.cancel(&drain_timer_);
  close_probe();
  close_pipes();
  remove_socket();
}

void Supervisor::Process::remove_socket() {
  if (sock_dir_.empty()) return;
  ::unlink(sock_path_.c_str());
  ::rmdir(sock_dir_.c_str());
  sock_dir_.clear();
}

namespace {

// The user and groups an app's processes run as (spec's uid, gid and groups; left unset:
// portico's own). `app` blocks: `user` and `group` when given. Passenger apps, when portico runs
// as root, follow Passenger's user switching rules and never run as root: passenger_user, else
// the owner of the startup file (of the app root for a start command); a root or unknown owner,
// or passenger_user_switching off, means passenger_default_user (nobody). The group:
// passenger_group, else that user's primary group; root's group means passenger_default_group
// (default: the default user's primary group).
Status credentials(const AppConf& c, SpawnSpec* spec) {
  std::string user = c.user;
  gid_t gid = gid_t(-1);
  if (c.passenger_users && ::geteuid() == 0) {
    const passwd* pw = nullptr;
    if (c.user_switching) {
      if (!c.user.empty()) {
        pw = ::getpwnam(c.user.c_str());
      } else {
        const std::string& f = c.type == AppType::kGeneric ? std::string() : c.startup_file;
        const std::string path = f.empty() ? c.root : f.front() == '/' ? f : c.root + "/" + f;
        struct stat st;
        if (::lstat(path.c_str(), &st) == 0) pw = ::getpwuid(st.st_uid);
      }
    }
    if (!pw || pw->pw_uid == 0) pw = ::getpwnam(c.default_user.c_str());
    if (!pw) return Status::error("unknown user \"" + c.default_user + "\"");
    user = pw->pw_name;
    gid = pw->pw_gid;
    if (c.user_switching && !c.group.empty()) {
      const group* gr = ::getgrnam(c.group.c_str());
      if (!gr) return Status::error("unknown group \"" + c.group + "\"");
      gid = gr->gr_gid;
    }
    if (gid == 0 || !c.user_switching) {
      if (!c.default_group.empty()) {
        const group* gr = ::getgrnam(c.default_group.c_str());
        if (!gr) return Status::error("unknown group \"" + c.default_group + "\"");
        gid = gr->gr_gid;
      } else if (const passwd* d = ::getpwnam(c.default_user.c_str())) {
        gid = d->pw_gid;
      }
    }
  } else if (!c.group.empty()) {
    const group* gr = ::getgrnam(c.group.c_str());
    if (!gr) return Status::error("unknown group \"" + c.group + "\"");
    gid = gr->gr_gid;
  }
  if (user.empty()) {
    spec->gid = gid;
    return Status::ok();
  }
  const passwd* pw = ::getpwnam(user.c_str());
  if (!pw) return Status::error("unknown user \"" + user + "\"");
  spec->uid = pw->pw_uid;
  spec->gid = gid != gid_t(-1) ? gid : pw->pw_gid;
  int n = 64;
  spec->groups.resize(size_t(n));
  if (::getgrouplist(user.c_str(), spec->gid, spec->groups.data(), &n) < 0) {
    spec->groups.resize(size_t(n));
    ::getgrouplist(user.c_str(), spec->gid, spec->groups.data(), &n);
  }
  spec->groups.resize(size_t(std::max(n, 0)));
  return Status::ok();
}

}  // namespace

Status Supervisor::Process::spawn(const std::set<int>& avoid) {
  const AppConf& c = app_->conf();
  Supervisor* sv = app_->supervisor();
  if (!c.unix_socket) {
    port_ = pick_port(avoid);
    if (port_ < 0) return Status::error("no free loopback port (" + errno_text(errno) + ")");
  }
  set_descriptors_shared();  // before the first child exists: workers now unregister on close

  std::string cmd;
  switch (c.type) {
    case AppType::kGeneric:
      cmd = c.command;
      break;
    case AppType::kNode:
      cmd = "node --require " + shell_quote(sv->node_shim()) + " " + shell_quote(c.startup_file);
      break;
    case AppType::kPython:
      cmd = "python3 " + shell_quote(sv->wsgi_loader()) + " " + shell_quote(c.startup_file);
      break;
  }
  SpawnSpec spec;
  spec.command = std::move(cmd);
  spec.root = c.root;
  auto set = [&spec](const std::string& k, const std::string& v) {
    const std::string prefix = k + "=";
    for (auto& e : spec.env)
      if (e.compare(0, prefix.size(), prefix) == 0) {
        e = prefix + v;
        return;
      }
    spec.env.push_back(prefix + v);
  };
  for (char** e = environ; e && *e; ++e) spec.env.emplace_back(*e);
  if (c.unix_socket)
    std::erase_if(spec.env, [](const std::string& e) { return e.starts_with("PORT="); });
  else
    set("PORT", std::to_string(port_));
  set("PASSENGER_APP_ENV", c.app_env);
  if (c.type == AppType::kNode) set("NODE_ENV", c.app_env);
  set("PORTICO_APP", c.name);
  for (const auto& [k, v] : c.env) set(k, v);

  if (Status st = credentials(c, &spec); !st) return st;
  if (c.unix_socket) {
    // Its own directory (the app may run as another user and creates the socket file itself),
    // mode 0700: nobody else can connect to the app or put a socket of their own in its place.
    const std::string& base = sv->runtime_dir();
    if (base.empty()) return Status::error("no directory for the app's socket");
    std::string dir = fmt::format("{}/{}", base, sv->next_socket_id());
    std::string path = dir + "/app.sock";
    if (path.size() >= sizeof(sockaddr_un::sun_path))
      return Status::error(fmt::format("socket path \"{}\" too long (set TMPDIR shorter)", path));
    if (::mkdir(dir.c_str(), 0700) != 0)
      return Status::error(fmt::format("mkdir(\"{}\") failed ({})", dir, errno_text(errno)));
    if (spec.uid != uid_t(-1) && ::chown(dir.c_str(), spec.uid, spec.gid) != 0) {
      Status st = Status::error(fmt::format("chown(\"{}\") failed ({})", dir, errno_text(errno)));
      ::rmdir(dir.c_str());
      return st;
    }
    sock_dir_ = std::move(dir);
    sock_path_ = std::move(path);
    set("PORTICO_SOCKET", sock_path_);
  }

  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0)
    return Status::error("pipe2() failed (" + errno_text(errno) + ")");
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    return Status::error("pipe2() failed (" + errno_text(errno) + ")");
  }
  spec.out_fd = out[1];
  spec.err_fd = err[1];
  pid_t pid = -1;
  Status st = spawn_process(spec, &pid);
  ::close(out[1]);
  ::close(err[1]);
  if (!st) {
    ::close(out[0]);
    ::close(err[0]);
    remove_socket();
    return st;
  }
  pid_ = pid;
  started_ms_ = app_->loop().now_ms();
  out_fd_ = out[0];
  err_fd_ = err[0];
  ::fcntl(out_fd_, F_SETFL, O_NONBLOCK);
  ::fcntl(err_fd_, F_SETFL, O_NONBLOCK);
  ChildHost& host = app_->host();
  if (Status st = host.watch_child(pid, [this](const ChildExit& e) { on_exit(e); }); !st) {
    ::kill(-pid, SIGKILL);
    ::kill(pid, SIGKILL);
    return st;  // the zombie stays: without a pidfd nothing can reap it safely
  }
  (void)host.watch_pipe(out_fd_, [this](int fd) { read_pipe(fd, 0); });
  (void)host.watch_pipe(err_fd_, [this](int fd) { read_pipe(fd, 1); });
  LOG_NOTICE("app \"{}\": started process {} on {}", c.name, pid_, where());
  start_timer_.fn = [this] {
    if (state_ != State::kSpawning) return;
    LOG_ERROR("app \"{}\" process {} not ready after {} ms, killed", app_->conf().name, pid_,
              app_->conf().start_timeout_ms);
    app_->note_error(
        fmt::format("process {} not ready after {} ms", pid_, app_->conf().start_timeout_ms));
    close_probe();
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
  };
  app_->loop().schedule(&start_timer_, c.start_timeout_ms);
  probe_timer_.fn = [this] { start_probe(); };
  live_timeout_timer_.fn = [this] { probe_failed(); };
  app_->loop().schedule(&probe_timer_, kProbeIntervalMs);
  return Status::ok();
}

bool Supervisor::Process::read_pipe(int fd, int stream) {
  if (fd < 0) return false;
  char buf[16384];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return false;
  if (n <= 0) {
    if (!partial_[stream].empty()) {
      write_line(stream, partial_[stream]);
      partial_[stream].clear();
    }
    host_.unwatch_pipe(fd);
    ::close(fd);
    (stream == 0 ? out_fd_ : err_fd_) = -1;
    return false;
  }
  std::string_view data(buf, size_t(n));
  std::string& part = partial_[stream];
  while (!data.empty()) {
    size_t nl = data.find('\n');
    if (nl == std::string_view::npos) {
      part.append(data);
      while (part.size() >= kMaxLine) {  // bounded: a line without end goes out in pieces
        write_line(stream, std::string_view(part).substr(0, kMaxLine));
        part.erase(0, kMaxLine);
      }
      break;
    }
    if (part.empty()) {
      write_line(stream, data.substr(0, nl));
    } else {
      part.append(data.substr(0, nl));
      write_line(stream, part);
      part.clear();
    }
    data.remove_prefix(nl + 1);
  }
  return true;
}

void Supervisor::Process::write_line(int stream, std::string_view line) {
  const char* name = stream == 0 ? "stdout" : "stderr";
  if (stream == 1) app_->note_stderr(line);
  const int fd = app_->log_fd();
  if (fd < 0) {
    // Without a log of its own: the error log, stderr at warn, stdout at notice.
    PORTICO_LOG(stream == 0 ? LogLevel::kNotice : LogLevel::kWarn, 0, "[app {} pid {} {}] {}",
                app_->conf().name, pid_, name, line);
    return;
  }
  char ts[32];
  time_t now = ::time(nullptr);
  tm t;
  ::localtime_r(&now, &t);
  size_t tl = ::strftime(ts, sizeof ts, "%Y/%m/%d %H:%M:%S", &t);
  std::string s = fmt::format("{} [pid {} {}] {}\n", std::string_view(ts, tl), pid_, name, line);
  // A regular file: the write does not wait for a reader. Errors are dropped (like a full disk
  // for the error log); the app never waits for its log.
  (void)!::write(fd, s.data(), s.size());
}

void Supervisor::Process::close_pipes() {
  for (int* fd : {&out_fd_, &err_fd_}) {
    if (*fd < 0) continue;
    host_.unwatch_pipe(*fd);
    ::close(*fd);
    *fd = -1;
  }
}

// The check a probe runs: the readiness check while starting, the liveness check once ready.
const ReadyCheck& Supervisor::Process::check() const {
  return state_ == State::kSpawning ? app_->conf().ready : app_->conf().liveness.check;
}

bool Supervisor::Process::probing() const {
  return state_ == State::kSpawning || (state_ == State::kReady && app_->conf().liveness.enabled());
}

void Supervisor::Process::start_probe() {
  if (!probing()) return;
  close_probe();
  if (state_ == State::kReady)  // a liveness probe gets an answer in time or fails
    app_->loop().schedule(&live_timeout_timer_, app_->conf().liveness.timeout_ms);
  const bool unix = !sock_path_.empty();
  int fd = ::socket(unix ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    probe_failed();
    return;
  }
  int rc;
  if (unix) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, sock_path_.data(), sock_path_.size());  // checked at spawn
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(uint16_t(port_));
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  }
  if (rc < 0 && errno != EINPROGRESS) {
    ::close(fd);
    probe_failed();
    return;
  }
  probe_fd_ = fd;
  probe_sent_ = false;
  probe_buf_.clear();
  if (!app_->loop().add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, this)) {
    close_probe();
    probe_failed();
  }
}

void Supervisor::Process::close_probe() {
  loop_.cancel(&live_timeout_timer_);
  if (probe_fd_ < 0) return;
  loop_.remove(probe_fd_);
  ::close(probe_fd_);
  probe_fd_ = -1;
}

void Supervisor::Process::probe_failed() {
  close_probe();
  if (state_ == State::kSpawning) {
    app_->loop().schedule(&probe_timer_, kProbeIntervalMs);
    return;
  }
  if (state_ != State::kReady) return;
  const LivenessCheck& lc = app_->conf().liveness;
  if (++live_fails_ < lc.fails) {
    app_->loop().schedule(&probe_timer_, lc.interval_ms);
    return;
  }
  // Hung: no new requests, and stopped now (SIGKILL after stop_timeout); requests in flight on
  // it fail and idempotent ones are retried elsewhere. The pool starts its replacement at once.
  const std::string why =
      fmt::format("process {} failed {} liveness check(s) in a row, replaced", pid_, live_fails_);
  LOG_ERROR("app \"{}\" {}", app_->conf().name, why);
  app_->note_error(why);
  app_->count_restart();
  stop(app_->conf().stop_timeout_ms);
  app_->reconcile();
}

void Supervisor::Process::probe_passed() {
  close_probe();
  if (state_ == State::kSpawning) {
    became_ready();
    return;
  }
  live_fails_ = 0;
  if (state_ == State::kReady)
    app_->loop().schedule(&probe_timer_, app_->conf().liveness.interval_ms);
}

void Supervisor::Process::on_io(uint32_t events) {
  if (probe_fd_ < 0 || !probing()) return;
  if (!probe_sent_) {
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(probe_fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      probe_failed();
      return;
    }
    const ReadyCheck& rc = check();
    if (rc.kind == ReadyCheck::Kind::kTcp) {
      probe_passed();
      return;
    }
    std::string req = fmt::format(
        "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: portico-{}-check\r\n\r\n", rc.uri,
        sock_path_.empty() ? fmt::format("127.0.0.1:{}", port_) : std::string("localhost"),
        state_ == State::kSpawning ? "ready" : "liveness");
    if (::send(probe_fd_, req.data(), req.size(), MSG_NOSIGNAL) != ssize_t(req.size())) {
      probe_failed();
      return;
    }
    probe_sent_ = true;
  }
  char buf[512];
  for (;;) {
    ssize_t n = ::recv(probe_fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) break;
    probe_buf_.append(buf, size_t(n));
    if (probe_buf_.find("\r\n") != std::string::npos || probe_buf_.size() > 1024) break;
  }
  // "HTTP/1.x NNN ..."
  bool ok = probe_buf_.size() >= 12 && probe_buf_.compare(0, 5, "HTTP/") == 0 &&
            (probe_buf_[9] == '2' || probe_buf_[9] == '3');
  if (ok)
    probe_passed();
  else
    probe_failed();
}

void Supervisor::Process::became_ready() {
  state_ = State::kReady;
  ready_ms_ = app_->loop().now_ms();
  if (ready_ms_ == 0) ready_ms_ = 1;
  app_->loop().cancel(&start_timer_);
  app_->loop().cancel(&probe_timer_);
  LOG_NOTICE("app \"{}\" process {} ready on {} after {} ms", app_->conf().name, pid_, where(),
             ready_ms_ - started_ms_);
  if (app_->conf().liveness.enabled())
    app_->loop().schedule(&probe_timer_, app_->conf().liveness.interval_ms);
  publish(app_->conf());
  app_->process_ready(this);
}

void Supervisor::Process::publish(const AppConf& conf) {
  join(conf);
  // Groups of an older snapshot are forgotten (they go away with it).
  std::erase_if(peers_, [&](const auto& e) {
    for (const auto& g : conf.groups)
      if (g == e.first) return false;
    requests_left_ += e.second->requests.load(std::memory_order_relaxed);
    return true;
  });
}

void Supervisor::Process::join(const AppConf& conf) {
  if (state_ != State::kReady) return;
  for (const auto& g : conf.groups) {
    bool have = false;
    for (const auto& [pg, ps] : peers_) have = have || pg == g;
    if (have) continue;
    upstream::PeerConfig pc;
    pc.server = "app:" + conf.name;
    if (sock_path_.empty()) {
      pc.name = fmt::format("127.0.0.1:{}", port_);
      pc.addr.v4.sin_family = AF_INET;
      pc.addr.v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      pc.addr.v4.sin_port = htons(uint16_t(port_));
    } else {
      pc.name = "unix:" + sock_path_;  // the connector takes the path from the name
      pc.addr.sa.sa_family = AF_UNIX;
    }
    pc.max_fails = 0;  // the supervisor knows when a process is gone
    pc.max_conns = conf.concurrency;
    pc.max_request_ms = conf.max_request_time_ms;
    std::shared_ptr<upstream::PeerState> state;
    if (Status st = g->add_peer(pc, &state); !st) {
      LOG_ALERT("app \"{}\": adding process {} to upstream \"{}\" failed: {}", conf.name, pid_,
                g->name(), st.message());
      continue;
    }
    peers_.emplace_back(g, std::move(state));
  }
}

void Supervisor::Process::unpublish() {
  for (const auto& [g, state] : peers_) {
    (void)g->remove_peer(*state);
    requests_left_ += state->requests.load(std::memory_order_relaxed);
  }
  peers_.clear();
}

uint64_t Supervisor::Process::requests() const {
  uint64_t n = requests_left_;
  for (const auto& [g, state] : peers_) n += state->requests.load(std::memory_order_relaxed);
  return n;
}

uint32_t Supervisor::Process::active() const {
  uint32_t n = 0;
  for (const auto& [g, state] : peers_) n += state->active.load(std::memory_order_relaxed);
  return n;
}

uint64_t Supervisor::Process::overtime() const {
  uint64_t n = 0;
  for (const auto& [g, state] : peers_) n += state->overtime.load(std::memory_order_relaxed);
  return n;
}

void Supervisor::Process::sample() {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/smaps_rollup", int(pid_));
  (void)parse_smaps_rollup(read_small_file(path), &rss_kb_, &pss_kb_);
  std::snprintf(path, sizeof path, "/proc/%d/stat", int(pid_));
  (void)parse_stat_cpu_ticks(read_small_file(path), &cpu_ticks_);
}

void Supervisor::Process::drain_then_stop() {
  if (state_ != State::kReady) return;
  state_ = State::kDraining;
  stop_requested_ = true;
  for (const auto& [g, state] : peers_) (void)g->drain_peer(*state);
  drain_started_ms_ = app_->loop().now_ms();
  drain_timer_.fn = [this] {
    uint32_t active = 0;
    for (const auto& [g, state] : peers_) active += state->active.load();
    const uint64_t took = app_->loop().now_ms() - drain_started_ms_;
    if (active == 0 || took >= app_->conf().drain_timeout_ms) {
      if (active)
        LOG_WARN("app \"{}\" process {}: drain_timeout with {} request(s) in flight",
                 app_->conf().name, pid_, active);
      stop(app_->conf().stop_timeout_ms);
      return;
    }
    if (took / 1000 != (took - kDrainPollMs) / 1000 && took >= 1000)
      LOG_INFO("app \"{}\" process {} draining: {} request(s) in flight", app_->conf().name, pid_,
               active);
    app_->loop().schedule(&drain_timer_, kDrainPollMs);
  };
  app_->loop().schedule(&drain_timer_, 0);
}

void Supervisor::Process::stop(uint64_t kill_after_ms) {
  if (state_ == State::kExited) return;
  const bool again = state_ == State::kStopping;
  stop_requested_ = true;
  state_ = State::kStopping;
  close_probe();
  app_->loop().cancel(&probe_timer_);
  app_->loop().cancel(&start_timer_);
  app_->loop().cancel(&drain_timer_);
  unpublish();
  if (!again) {
    const int sig = kill_after_ms == 0 ? SIGKILL : app_->conf().stop_signal;
    ::kill(-pid_, sig);
    ::kill(pid_, sig);
  }
  // A later stop() may shorten the wait (fast stop after a graceful one), never lengthen it.
  const uint64_t due = app_->loop().now_ms() + kill_after_ms;
  if (kill_timer_.armed() && kill_timer_.expire_ms <= due) return;
  kill_timer_.fn = [this] {
    LOG_WARN("app \"{}\" process {} did not stop, sending SIGKILL", app_->conf().name, pid_);
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
  };
  app_->loop().schedule(&kill_timer_, kill_after_ms);
}

void Supervisor::Process::on_exit(const ChildExit& e) {
  state_ = State::kExited;
  app_->loop().cancel(&probe_timer_);
  app_->loop().cancel(&start_timer_);
  app_->loop().cancel(&kill_timer_);
  app_->loop().cancel(&drain_timer_);
  close_probe();
  unpublish();
  // What the process wrote last is read now (bounded: its own children may still hold the
  // pipes and write on), then the pipes are closed.
  for (int s = 0; s < 2; ++s)
    for (int i = 0; i < 64 && read_pipe(s == 0 ? out_fd_ : err_fd_, s); ++i) {
    }
  for (int s = 0; s < 2; ++s) {
    if (!partial_[s].empty()) write_line(s, partial_[s]);
    partial_[s].clear();
  }
  close_pipes();
  remove_socket();
  ::kill(-pid_, SIGKILL);  // whatever the app left behind in its process group
  app_->process_ended(this, e);
}

// ---- Supervisor ----------------------------------------------------------------------------

namespace {
std::atomic<std::shared_ptr<const nlohmann::json>> g_published_status;
}  // namespace

Supervisor::Supervisor(ChildHost& host) : host_(host) {
  publish_timer_.owner = this;
  publish_timer_.cb = [](Timer* t) { static_cast<PublishTimer*>(t)->owner->publish_status(); };
}

std::shared_ptr<const nlohmann::json> Supervisor::published_status() {
  return g_published_status.load();
}

nlohmann::json Supervisor::status_object() const {
  nlohmann::json apps = nlohmann::json::array();
  for (const auto& [name, app] : apps_)
    if (!app->retiring()) apps.push_back(app->status());
  nlohmann::json out;
  out["apps"] = std::move(apps);
  return out;
}

void Supervisor::publish_status() {
  g_published_status.store(std::make_shared<const nlohmann::json>(status_object()));
  if (!stopping_ && !apps_.empty() && !publish_timer_.armed())
    host_.loop().schedule(&publish_timer_, 1000);
}

Supervisor::~Supervisor() {
  host_.loop().cancel(&publish_timer_);
  for (auto& [name, app] : apps_)
    for (auto& p : app->procs())
      if (p->alive() && p->pid() > 0) {
        ::kill(-p->pid(), SIGKILL);
        ::kill(p->pid(), SIGKILL);
      }
  apps_.clear();
  if (!loader_dir_.empty()) {
    if (!node_shim_path_.empty()) ::unlink(node_shim_path_.c_str());
    if (!wsgi_loader_path_.empty()) ::unlink(wsgi_loader_path_.c_str());
    ::rmdir(loader_dir_.c_str());
  }
}

namespace {

bool write_file(const std::string& path, std::string_view text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size());
  ::close(fd);
  return ok;
}

}  // namespace

const std::string& Supervisor::runtime_dir() {
  if (loader_dir_.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/portico-apps-XXXXXX";
    if (::mkdtemp(tmpl.data())) {
      ::chmod(tmpl.c_str(), 0755);  // apps may run as another user
      loader_dir_ = tmpl;
    }
  }
  return loader_dir_;
}

const std::string& Supervisor::node_shim() {
  if (node_shim_path_.empty()) {
    runtime_dir();
    std::string path = loader_dir_ + "/node-listen-shim.js";
    if (!loader_dir_.empty() && write_file(path, kNodeShim)) node_shim_path_ = path;
  }
  return node_shim_path_;
}

const std::string& Supervisor::wsgi_loader() {
  if (wsgi_loader_path_.empty()) {
    runtime_dir();
    std::string path = loader_dir_ + "/wsgi-loader.py";
    if (!loader_dir_.empty() && write_file(path, kWsgiLoader)) wsgi_loader_path_ = path;
  }
  return wsgi_loader_path_;
}

void Supervisor::prepare(const std::vector<std::shared_ptr<const AppConf>>& apps) {
  // Changed apps too: their current processes serve until their replacements are ready.
  for (const auto& c : apps) {
    auto it = apps_.find(c->name);
    if (it == apps_.end() || it->second->retiring()) continue;
    for (auto& p : it->second->procs()) p->join(*c);
  }
}

void Supervisor::configure(const std::vector<std::shared_ptr<const AppConf>>& apps) {
  if (stopping_) return;
  std::set<std::string> names;
  for (const auto& c : apps) {
    names.insert(c->name);
    auto it = apps_.find(c->name);
    if (it != apps_.end() && it->second->retiring()) {
      // Still stopping from an earlier reload: let it finish under another key.
      auto app = std::move(it->second);
      apps_.erase(it);
      apps_.emplace("\x01" + c->name + std::to_string(uintptr_t(app.get())), std::move(app));
      it = apps_.end();
    }
    if (it == apps_.end()) {
      LOG_NOTICE("app \"{}\": starting {} process(es)", c->name,
                 std::max<uint32_t>(c->min_instances, 1));
      auto app = std::make_unique<App>(this, c);
      App* raw = app.get();
      apps_.emplace(c->name, std::move(app));
      raw->reconcile();
      continue;
    }
    App& app = *it->second;
    const bool same = app.conf().same_processes(*c);
    if (!same) LOG_NOTICE("app \"{}\" changed: replacing its processes one at a time", c->name);
    app.set_conf(c, !same);
    for (auto& p : app.procs()) p->publish(*c);  // ready ones join the new groups
    app.reconcile();
  }
  for (auto& [name, app] : apps_) {
    if (names.count(name) || app->retiring()) continue;
    LOG_NOTICE("app \"{}\" removed from the configuration: stopping it", name);
    app->retire();
  }
  std::erase_if(apps_, [](const auto& e) { return e.second->retiring() && e.second->empty(); });
  publish_status();
}

void Supervisor::stop(bool graceful, std::function<void()> done) {
  done_ = std::move(done);
  stopping_ = true;
  for (auto& [name, app] : apps_)
    app->stop_all(graceful ? app->conf().stop_timeout_ms
                           : std::min<uint64_t>(app->conf().stop_timeout_ms, 1000));
  maybe_done();
}

void Supervisor::maybe_done() {
  std::erase_if(apps_, [](const auto& e) { return e.second->retiring() && e.second->empty(); });
  if (!stopping_ || !done_) return;
  for (auto& [name, app] : apps_)
    if (!app->empty()) return;
  auto fn = std::move(done_);
  done_ = nullptr;
  fn();
}

void Supervisor::reopen_logs() {
  for (auto& [name, app] : apps_) app->open_log();
}

std::vector<int> Supervisor::ready_pids(const std::string& name) const {
  std::vector<int> out;
  auto it = apps_.find(name);
  if (it == apps_.end()) return out;
  for (auto& p : it->second->procs())
    if (p->state() == Process::State::kReady) out.push_back(p->pid());
  return out;
}

Status Supervisor::restart(const std::string& name) {
  auto it = apps_.find(name);
  if (it == apps_.end() || it->second->retiring()) return Status::error("no app \"" + name + "\"");
  if (stopping_) return Status::error("stopping");
  it->second->restart("portico app restart");
  return Status::ok();
}

Status Supervisor::scale(const std::string& name, uint32_t n) {
  auto it = apps_.find(name);
  if (it == apps_.end() || it->second->retiring()) return Status::error("no app \"" + name + "\"");
  if (stopping_) return Status::error("stopping");
  if (n == 0 || n > 10000) return Status::error("invalid number of processes");
  it->second->scale(n);
  return Status::ok();
}

std::string Supervisor::status_json() const {
  return status_object().dump(2) + "\n";
}

std::string Supervisor::status_text() const {
  std::string out;
  for (const auto& [name, app] : apps_) {
    if (app->retiring()) continue;
    const nlohmann::json a = app->status();
    out += fmt::format(
        "app {}: {}, generation {}, {} process(es) wanted ({}..{}), {} waiting, {} restart(s)\n",
        a["name"].get<std::string>(), a["state"].get<std::string>(),
        a["generation"].get<uint64_t>(), a["processes_wanted"].get<uint32_t>(),
        a["min_instances"].get<uint32_t>(), a["max_instances"].get<uint32_t>(),
        a["requests_waiting"].get<uint32_t>(), a["restarts"].get<uint64_t>());
    if (!a["last_error"].get<std::string>().empty())
      out += "  last error: " + a["last_error"].get<std::string>() + "\n";
    out += fmt::format("  {:>8} {:>9} {:>4} {:>6} {:>9} {:>10} {:>9} {:>8} {:>9}  {}\n", "pid",
                       "state", "gen", "port", "in flight", "requests", "PSS kB", "CPU s",
                       "uptime s", "recycle");
    for (const auto& p : a["processes"])
      out += fmt::format(
          "  {:>8} {:>9} {:>4} {:>6} {:>9} {:>10} {:>9} {:>8.2f} {:>9}  {}\n", p["pid"].get<int>(),
          p["state"].get<std::string>(), p["generation"].get<uint64_t>(),
          p.contains("port") ? std::to_string(p["port"].get<int>()) : std::string("unix"),
          p["requests_in_flight"].get<uint32_t>(), p["requests"].get<uint64_t>(),
          p["pss_kb"].get<uint64_t>(), p["cpu_seconds"].get<double>(),
          p["uptime_ms"].get<uint64_t>() / 1000, p["recycle_reason"].get<std::string>());
  }
  if (out.empty()) out = "no apps\n";
  return out;
}

size_t Supervisor::process_count() const {
  size_t n = 0;
  for (auto& [name, app] : apps_) n += app->procs().size();
  return n;
}

}  // namespace portico::apps
