#include "tls/slot.h"

#include <fmt/format.h>

#include "core/log.h"

namespace portico::tls {

namespace {

constexpr uint64_t kLookMs = 1000;

// The files of `now` that differ from `before`, for the log line.
std::string changed_files(const std::vector<FileStamp>& before, const std::vector<FileStamp>& now) {
  std::string out;
  for (size_t i = 0; i < now.size(); ++i) {
    if (i < before.size() && before[i] == now[i]) continue;
    if (out.find(now[i].path) != std::string::npos) continue;  // a file named twice (cert = key)
    if (!out.empty()) out += ", ";
    out += '"' + now[i].path + '"';
  }
  return out;
}

}  // namespace

ContextSlot::ContextSlot(std::shared_ptr<const Context> first)
    : cur_(first.get()), seen_(first->inputs()), tried_(first->inputs()) {
  kept_.push_back(std::move(first));
}

void ContextSlot::refresh() {
  const Context& cur = current();
  std::vector<FileStamp> now = Context::stamp_inputs(cur.settings());
  if (now == tried_ || now != seen_) {  // as built, or still changing: look again next time
    seen_ = std::move(now);
    return;
  }
  const std::string what = changed_files(tried_, now);
  tried_ = now;
  if (kept_.size() > kMaxReloads) {
    LOG_WARN(
        "{} changed on disk, not picked up: the TLS files of this server changed {} times "
        "since the configuration was loaded; reload to pick them up",
        what, kMaxReloads);
    return;
  }
  std::vector<BuildError> errors;
  std::shared_ptr<const Context> next = Context::build(cur.settings(), cur.owner(), &errors);
  if (!next) {
    for (const BuildError& e : errors) {
      if (e.at.file.empty())
        LOG_ERROR("{}", e.message);
      else
        LOG_ERROR("{} in {}:{}", e.message, e.at.file, e.at.line);
    }
    LOG_ERROR("{} changed on disk and did not load: new handshakes keep the files loaded before",
              what);
    return;
  }
  cur_.store(next.get(), std::memory_order_release);
  kept_.push_back(std::move(next));
  reloads_.store(kept_.size() - 1, std::memory_order_relaxed);
  LOG_NOTICE("{} changed on disk: new handshakes use the new files", what);
}

CertWatch::CertWatch(EventLoop& loop) : loop_(loop) {
  tick_.owner = this;
  tick_.cb = &CertWatch::on_tick;
}

CertWatch::~CertWatch() {
  loop_.cancel(&tick_);
}

void CertWatch::configure(std::vector<std::shared_ptr<ContextSlot>> slots) {
  slots_ = std::move(slots);
  if (slots_.empty())
    loop_.cancel(&tick_);
  else if (!tick_.armed())
    loop_.schedule(&tick_, kLookMs);
}

void CertWatch::on_tick(Timer* t) {
  CertWatch* w = static_cast<Tick*>(t)->owner;
  for (const auto& s : w->slots_) s->refresh();
  if (!w->slots_.empty()) w->loop_.schedule(&w->tick_, kLookMs);
}

}  // namespace portico::tls
