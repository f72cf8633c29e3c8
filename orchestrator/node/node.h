#pragma once
// Composition root of the daemon: owns the settings, the vote store, the NodeCore (behind one
// mutex, never held across I/O), the ticker thread, the HTTP server and the peer transport.
//
// Threads: the ticker (Cron() every ~10 ms), the HTTP workers (Deliver/HasLease/CheckTerm take
// the core mutex briefly; State() only copies a shared_ptr), the transport workers (replies are
// fed back through Deliver's path).
#include <chrono>
#include <memory>
#include <string>

#include "orchestrator/base/status.h"
#include "orchestrator/settings/settings.h"

namespace rift::node {

class Node {
 public:
  explicit Node(settings::Settings settings);
  ~Node();  // Stop()s
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Creates <dir>/state and <dir>/data, opens <dir>/state/p2p.db, binds the HTTP port (writes
  // the bound port to <dir>/state/p2p.port), builds the core and starts every thread.
  Status Start();
  // Graceful: stops accepting, stops the ticker and the transport. Idempotent.
  void Stop();
  // The bound HTTP port (valid after Start()).
  int port() const;
  // The URL this node advertises (valid after Start()).
  std::string advertise_url() const;
  // When the ticker last finished a Cron() pass (the epoch before Start()). Thread-safe; the
  // systemd watchdog pings only while this stays fresh.
  std::chrono::steady_clock::time_point last_tick() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// `url` with a ":0" port replaced by `port` (the advertise URL derived before binding port 0).
std::string WithActualPort(const std::string& url, int port);

}  // namespace rift::node
