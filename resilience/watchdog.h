#pragma once
// The watchdog's IO layer: observes (local /health and /status, the daemon's lock holder, the
// seeds when the daemon is down, the data volume, fallback jobs), hands the observation to
// WatchdogPolicy and carries out its actions (restart through the service manager or a direct
// spawn, fallback jobs, POST /cleanup, POST /register). One thread calls Pass().
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "orchestrator/base/sd_notify.h"
#include "orchestrator/settings/settings.h"
#include "resilience/fallback.h"
#include "resilience/policy.h"
#include "resilience/service_manager.h"

namespace rift::resilience {

struct WatchdogConfig {
  settings::Settings settings;
  ServiceManager manager;
  // A direct spawn starts the daemon as the operator configured the watchdog: the settings given
  // to us as flags travel as environment variables, node.conf and the hosts file as flags.
  std::string daemon_binary;
  std::vector<std::string> daemon_args;
  std::map<std::string, std::string> daemon_env;
  std::string daemon_log;  // stdout/stderr of a spawned daemon are appended here
  int fallback_slots = 1;
};

// The policy's settings from the node's (watchdog:, cleanup:, COORDINATOR_URL).
PolicyConfig MakePolicyConfig(const settings::Settings& s, int fallback_slots);

class Watchdog {
 public:
  // `runner`, `fallback` and `notifier` must outlive the watchdog; `fallback` may be null
  // (fallback selfplay unavailable).
  Watchdog(WatchdogConfig config, CommandRunner* runner, FallbackJobs* fallback,
           const sd::Notifier* notifier);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Observe, decide, act, persist. Returns when to pass again.
  Duration Pass();
  const WatchdogPolicy& policy() const;

  // Where things live under RINGRIFT_DIR.
  std::string StatePath(const std::string& name) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rift::resilience
