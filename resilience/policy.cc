#include "resilience/policy.h"

#include <algorithm>
#include <cstdio>

namespace rift::resilience {
namespace {

std::string Secs(Duration d) {
  const double s = std::chrono::duration<double>(d).count();
  char buf[32];
  if (s >= 3600 && static_cast<int64_t>(s) % 3600 == 0) {
    std::snprintf(buf, sizeof buf, "%.0fh", s / 3600);
  } else if (s >= 60 && static_cast<int64_t>(s) % 60 == 0) {
    std::snprintf(buf, sizeof buf, "%.0fm", s / 60);
  } else {
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  }
  return buf;
}

std::string Percent(double fraction) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f%%", fraction * 100);
  return buf;
}

void Log(Actions& out, LogLine::Level level, std::string message) {
  out.log.push_back({level, std::move(message)});
}

constexpr auto kInfo = LogLine::Level::kInfo;
constexpr auto kWarn = LogLine::Level::kWarn;
constexpr auto kError = LogLine::Level::kError;

}  // namespace

const char* HealthName(Health h) {
  switch (h) {
    case Health::kOk:
      return "ok";
    case Health::kRefused:
      return "refused";
    case Health::kTimeout:
      return "timeout";
    case Health::kError:
      return "error";
  }
  return "?";
}

WatchdogPolicy::WatchdogPolicy(PolicyConfig config, TimePoint) : config_(std::move(config)) {}

Actions WatchdogPolicy::Step(TimePoint now, const Observation& obs) {
  Actions out;
  out.next_pass = config_.interval;
  StepHealth(now, obs, out);
  StepConnectivity(now, obs, out);
  StepDisk(now, obs, out);
  StepRegister(now, obs, out);
  out.next_pass = std::max<Duration>(out.next_pass, milliseconds(1));
  return out;
}

Duration WatchdogPolicy::Backoff() const {
  if (consecutive_restarts_ <= 0) return Duration::zero();
  Duration d = config_.backoff_initial;
  for (int i = 1; i < consecutive_restarts_ && d < config_.backoff_max; ++i) d *= 2;
  return std::min(d, config_.backoff_max);
}

void WatchdogPolicy::StepHealth(TimePoint now, const Observation& obs, Actions& out) {
  if (obs.health == Health::kOk) {
    if (!healthy_since_) {
      healthy_since_ = now;
      if (awaiting_recovery_ && last_restart_) {
        Log(out, kInfo, "daemon healthy " + Secs(now - *last_restart_) + " after the restart");
      }
    }
    awaiting_recovery_ = false;
    grace_until_.reset();  // it answered: no longer starting
    failures_ = 0;
    backoff_logged_ = false;
    if (budget_exhausted_) {
      budget_exhausted_ = false;
      Log(out, kInfo, "daemon healthy again; restarts allowed again when needed");
    }
    if (consecutive_restarts_ > 0 && now - *healthy_since_ >= config_.stable_period) {
      consecutive_restarts_ = 0;  // stable: the next failure is restarted without delay
    }
    return;
  }
  healthy_since_.reset();
  if (grace_until_ && now < *grace_until_) {
    failures_ = 0;
    out.next_pass = std::min(out.next_pass, config_.retry_interval);
    return;
  }
  grace_until_.reset();
  if (obs.daemon_process && obs.daemon_age < config_.startup_grace) {
    failures_ = 0;  // someone (systemd, an operator) just started it: let it start
    out.next_pass = std::min(out.next_pass, config_.retry_interval);
    return;
  }
  const bool down = obs.health == Health::kRefused;
  needed_ = std::max(1, down ? config_.down_probes : config_.hang_probes);
  if (++failures_ < needed_) {
    out.next_pass = std::min(out.next_pass, config_.retry_interval);
    return;
  }
  failures_ = needed_;  // confirmed; stays confirmed while we wait for budget or backoff
  const std::string what = std::string(down ? "down" : "hung") + " (" +
                           std::to_string(needed_) + " probes " + HealthName(obs.health) +
                           (obs.health_detail.empty() ? "" : ": " + obs.health_detail) + ")";
  while (!restarts_.empty() && now - restarts_.front() >= config_.budget_window) {
    restarts_.pop_front();
  }
  if (static_cast<int>(restarts_.size()) >= config_.restart_budget) {
    if (!budget_exhausted_) {
      budget_exhausted_ = true;
      Log(out, kError,
          "daemon " + what + " but the restart budget is exhausted: " +
              std::to_string(restarts_.size()) + " restarts within " +
              Secs(config_.budget_window) + "; NOT restarting for another " +
              Secs(restarts_.front() + config_.budget_window - now) +
              " - the daemon keeps failing, read its log");
    }
    out.next_pass = std::min(out.next_pass, restarts_.front() + config_.budget_window - now);
    return;
  }
  if (last_restart_ && now < *last_restart_ + Backoff()) {
    Duration wait = *last_restart_ + Backoff() - now;
    if (!backoff_logged_) {
      backoff_logged_ = true;
      Log(out, kWarn, "daemon " + what + "; backing off " + Secs(wait) + " before restart #" +
                          std::to_string(consecutive_restarts_ + 1));
    }
    out.next_pass = std::min(out.next_pass, wait);
    return;
  }
  restarts_.push_back(now);
  last_restart_ = now;
  grace_until_ = now + config_.startup_grace;
  awaiting_recovery_ = true;
  ++consecutive_restarts_;
  failures_ = 0;
  backoff_logged_ = false;
  out.restart = Actions::Restart{!down, "daemon " + what};
  Log(out, kWarn,
      "daemon " + what + ": restarting (" + std::to_string(restarts_.size()) + " of " +
          std::to_string(config_.restart_budget) + " restarts allowed per " +
          Secs(config_.budget_window) + ")");
  out.next_pass = std::min(out.next_pass, config_.retry_interval);
}

void WatchdogPolicy::StepConnectivity(TimePoint now, const Observation& obs, Actions& out) {
  if (!config_.fallback) {
    if (obs.fallback_running > 0) out.stop_fallback = true;
    return;
  }
  enum class Link { kUnknown, kConnected, kDisconnected } link = Link::kUnknown;
  std::string why;
  if (obs.health == Health::kOk) {
    if (obs.cluster) {
      const bool cut = !obs.cluster->leader_alive && obs.cluster->alive_peers == 0;
      link = cut ? Link::kDisconnected : Link::kConnected;
      why = "the daemon knows no live leader and no alive peer";
    }
  } else if (obs.seeds_probed > 0) {
    link = obs.seeds_reachable > 0 ? Link::kConnected : Link::kDisconnected;
    why = "the daemon is not answering and none of " + std::to_string(obs.seeds_probed) +
          " seed(s) answers";
  }
  if (link == Link::kDisconnected) {
    if (!disconnected_since_) {
      disconnected_since_ = now;
      if (!fallback_active_) {
        Log(out, kWarn, "cut off: " + why + "; fallback selfplay in " +
                            Secs(config_.disconnect_grace) + " unless a peer comes back");
      }
    }
    const TimePoint due = *disconnected_since_ + config_.disconnect_grace;
    if (!fallback_active_ && now >= due) {
      fallback_active_ = true;
      last_fallback_launch_.reset();
      Log(out, kWarn, "disconnected for " + Secs(now - *disconnected_since_) +
                          ": starting fallback selfplay (" +
                          std::to_string(config_.fallback_slots) + " job(s))");
    } else if (!fallback_active_) {
      out.next_pass = std::min(out.next_pass, due - now);
    }
  } else if (link == Link::kConnected) {
    if (disconnected_since_ && !fallback_active_) {
      Log(out, kInfo, "a peer is reachable again before the grace ended; no fallback");
    }
    disconnected_since_.reset();
    if (fallback_active_) {
      fallback_active_ = false;
      Log(out, kInfo, "reconnected: stopping fallback selfplay");
    }
  }
  if (!fallback_active_) {
    if (obs.fallback_running > 0) out.stop_fallback = true;
    return;
  }
  const int missing = config_.fallback_slots - obs.fallback_running;
  if (missing <= 0) return;
  if (!last_fallback_launch_ || now >= *last_fallback_launch_ + config_.fallback_relaunch_gap) {
    out.start_fallback = missing;
    last_fallback_launch_ = now;
  } else {
    out.next_pass =
        std::min(out.next_pass, *last_fallback_launch_ + config_.fallback_relaunch_gap - now);
  }
}

void WatchdogPolicy::StepDisk(TimePoint now, const Observation& obs, Actions& out) {
  if (!obs.disk_used) return;
  const double used = *obs.disk_used;
  if (used <= config_.high_watermark) {
    disk_warned_ = false;
    return;
  }
  const std::string level = "data volume " + Percent(used) + " full, above the high watermark " +
                            Percent(config_.high_watermark);
  if (obs.health != Health::kOk) {
    if (!disk_warned_) {
      disk_warned_ = true;
      Log(out, kWarn, level + ": cleanup needs the daemon, which is not answering");
    }
    return;
  }
  if (last_cleanup_ && now < *last_cleanup_ + config_.cleanup_interval) return;
  last_cleanup_ = now;
  out.cleanup = true;
  Log(out, kWarn, level + ": asking the daemon for local cleanup");
}

void WatchdogPolicy::StepRegister(TimePoint now, const Observation& obs, Actions& out) {
  if (obs.health != Health::kOk || !obs.cluster || obs.cluster->self_url.empty()) return;
  if (last_register_ && now < *last_register_ + config_.register_interval) return;
  const ClusterView& c = *obs.cluster;
  if (c.self_leader) return;  // the leader knows itself
  std::string target =
      c.leader_alive && !c.leader_url.empty() ? c.leader_url : config_.coordinator_url;
  if (target.empty() || target == c.self_url) return;
  out.register_with = target;
  last_register_ = now;
}

PolicyMemory WatchdogPolicy::Save(TimePoint now, int64_t wall_now_ms) const {
  auto wall = [&](TimePoint t) { return wall_now_ms - ToMillis(now - t); };
  PolicyMemory m;
  for (TimePoint t : restarts_) m.restarts_ms.push_back(wall(t));
  m.consecutive_restarts = consecutive_restarts_;
  m.disconnected_since_ms = disconnected_since_ ? wall(*disconnected_since_) : 0;
  m.fallback_active = fallback_active_;
  m.last_cleanup_ms = last_cleanup_ ? wall(*last_cleanup_) : 0;
  m.last_register_ms = last_register_ ? wall(*last_register_) : 0;
  return m;
}

void WatchdogPolicy::Restore(const PolicyMemory& m, TimePoint now, int64_t wall_now_ms) {
  // A time from the future (clock stepped back) counts as now.
  auto steady = [&](int64_t ms) {
    return now - milliseconds(std::max<int64_t>(0, wall_now_ms - ms));
  };
  restarts_.clear();
  for (int64_t ms : m.restarts_ms) {
    TimePoint t = steady(ms);
    if (now - t < config_.budget_window) restarts_.push_back(t);
  }
  std::sort(restarts_.begin(), restarts_.end());
  last_restart_.reset();
  if (!restarts_.empty()) last_restart_ = restarts_.back();
  consecutive_restarts_ = m.consecutive_restarts;
  disconnected_since_.reset();
  if (m.disconnected_since_ms > 0) disconnected_since_ = steady(m.disconnected_since_ms);
  fallback_active_ = m.fallback_active;
  last_cleanup_.reset();
  if (m.last_cleanup_ms > 0) last_cleanup_ = steady(m.last_cleanup_ms);
  last_register_.reset();
  if (m.last_register_ms > 0) last_register_ = steady(m.last_register_ms);
}

}  // namespace rift::resilience
