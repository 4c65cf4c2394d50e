// tls::ContextSlot: where the handshakes of one server find its current TLS context, so that a
// certificate renewed on disk is served without a reload (nginx needs `nginx -s reload` for it).
//
// Built with the context the configuration produced; the control thread calls refresh() once a
// second (CertWatch): when a file the context was built from (certificate, key, client CAs,
// trusted CAs, CRL, stapling file, dhparam, ticket keys) changed and has stayed the same for one
// more look (a renewal writes the certificate and the key one after the other), a new context is
// built from the same settings and published. New handshakes use it; connections keep the
// context they started with. A new context that does not build (a key that does not match the
// certificate, a file half written) is not published: the current one stays, the error is
// logged once, and the next change is tried again.
//
// Threads: get() is any worker's (one acquire load and a reference count: no lock); refresh()
// is the control thread's. Every context the slot published stays alive as long as the slot
// (the snapshot) does, since a worker may have just read the pointer; after kMaxReloads changes
// the slot stops following the files and says a reload is needed.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/event_loop.h"
#include "tls/context.h"

namespace portico::tls {

class ContextSlot {
 public:
  static constexpr size_t kMaxReloads = 64;

  explicit ContextSlot(std::shared_ptr<const Context> first);
  ContextSlot(const ContextSlot&) = delete;
  ContextSlot& operator=(const ContextSlot&) = delete;

  // The context a handshake starts with now.
  std::shared_ptr<const Context> get() const {
    return cur_.load(std::memory_order_acquire)->shared_from_this();
  }
  const Context& current() const { return *cur_.load(std::memory_order_acquire); }
  // How many times a changed file was picked up (any thread: the status pages read it).
  size_t reloads() const { return reloads_.load(std::memory_order_relaxed); }

  // Control thread: looks at the files and publishes a new context when they changed (see
  // above). Logs what it did.
  void refresh();

 private:
  std::atomic<const Context*> cur_;
  std::atomic<size_t> reloads_{0};
  // Every context published, oldest first: the control thread's alone (workers read cur_).
  std::vector<std::shared_ptr<const Context>> kept_;
  std::vector<FileStamp> seen_;   // the files at the previous look
  std::vector<FileStamp> tried_;  // the files the last build (or the first context) read
};

// The control thread's once-a-second look at every slot of the running configuration.
class CertWatch {
 public:
  explicit CertWatch(EventLoop& loop);
  ~CertWatch();
  CertWatch(const CertWatch&) = delete;
  CertWatch& operator=(const CertWatch&) = delete;

  // The slots to follow from now on (those of the snapshot that just went live); empty stops.
  void configure(std::vector<std::shared_ptr<ContextSlot>> slots);

 private:
  static void on_tick(Timer* t);
  struct Tick : Timer {
    CertWatch* owner = nullptr;
  };
  EventLoop& loop_;
  Tick tick_;
  std::vector<std::shared_ptr<ContextSlot>> slots_;
};

}  // namespace portico::tls
