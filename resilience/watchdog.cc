#include "resilience/watchdog.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "orchestrator/base/log.h"
#include "orchestrator/base/pid_lock.h"
#include "orchestrator/net/api_client.h"
#include "orchestrator/net/http_client.h"
#include "resilience/memory_file.h"
#include "resilience/probe.h"
#include "resilience/spawn.h"

namespace rift::resilience {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr size_t kMaxSeedProbes = 8;
constexpr size_t kMaxKnownPeers = 16;

std::string UrlHost(const std::string& host) {
  return host.find(':') != std::string::npos && host.front() != '[' ? "[" + host + "]" : host;
}

void Write(const LogLine& l) {
  switch (l.level) {
    case LogLine::Level::kInfo:
      log::Info(l.message);
      break;
    case LogLine::Level::kWarn:
      log::Warn(l.message);
      break;
    case LogLine::Level::kError:
      log::Error(l.message);
      break;
  }
}

milliseconds Ms(Duration d) { return std::chrono::duration_cast<milliseconds>(d); }

}  // namespace

PolicyConfig MakePolicyConfig(const settings::Settings& s, int fallback_slots) {
  const settings::WatchdogSettings& w = s.watchdog;
  PolicyConfig c;
  c.interval = w.interval;
  c.retry_interval = std::min<Duration>(w.interval, seconds(1));
  c.down_probes = w.down_probes;
  c.hang_probes = w.hang_probes;
  c.startup_grace = w.startup_grace;
  c.backoff_initial = w.backoff_initial;
  c.backoff_max = w.backoff_max;
  c.stable_period = std::max<Duration>(std::chrono::minutes(10), 2 * w.startup_grace);
  c.restart_budget = w.restart_budget;
  c.budget_window = w.budget_window;
  c.fallback = w.fallback;
  c.fallback_slots = std::clamp(fallback_slots, 1, w.fallback_max_jobs);
  c.disconnect_grace = w.disconnect_grace;
  // A finished job (the example workload's take well under a second) is replaced at the next
  // pass; a crashing one costs one start per pass, no more.
  c.fallback_relaunch_gap = w.interval;
  c.high_watermark = s.cleanup.high_watermark;
  c.cleanup_interval = w.cleanup_interval;
  c.register_interval = w.register_interval;
  c.coordinator_url = s.coordinator_url;
  return c;
}

struct Watchdog::Impl {
  Impl(WatchdogConfig c, CommandRunner* r, FallbackJobs* f, const sd::Notifier* n)
      : config(std::move(c)),
        runner(r),
        fallback(f),
        notifier(n),
        policy(MakePolicyConfig(config.settings, config.fallback_slots), Clock::now()),
        dir(config.settings.ringrift_dir) {}

  WatchdogConfig config;
  CommandRunner* runner;
  FallbackJobs* fallback;
  const sd::Notifier* notifier;
  WatchdogPolicy policy;
  fs::path dir;
  std::vector<std::string> known_peers;  // member URLs from the last /status
  std::optional<ClusterView> last_cluster;
  bool status_warned = false;
  bool ready_sent = false;

  const settings::Settings& s() const { return config.settings; }
  std::string State(const std::string& name) const { return (dir / "state" / name).string(); }

  int DaemonPort() const {
    if (s().port != 0) return s().port;
    std::ifstream in(State("p2p.port"));
    int port = 0;
    return in >> port ? port : 0;
  }

  std::string ProbeHost() const {
    const std::string& b = s().bind_host;
    if (b.empty() || b == "0.0.0.0") return "127.0.0.1";
    if (b == "::" || b == "[::]") return "::1";
    return b;
  }

  std::string LocalUrl(int port) const {
    return "http://" + UrlHost(ProbeHost()) + ":" + std::to_string(port);
  }

  net::ApiClient Client(const std::string& url) const {
    const auto t = Ms(s().watchdog.health_timeout);
    return net::ApiClient({url}, s().auth_token, net::ApiTimeouts{t, t});
  }

  Observation Observe() {
    Observation o;
    const int port = DaemonPort();
    if (port == 0) {
      o.health = Health::kRefused;
      o.health_detail = "no port file: the daemon is not running";
    } else {
      ProbeResult p = ProbeHealth(ProbeHost(), port, s().watchdog.health_timeout);
      o.health = p.health;
      o.health_detail = p.detail;
    }
    if (auto holder = ReadLockHolder(State("p2p.lock")); holder && IsRunning(*holder)) {
      o.daemon_process = true;
      auto age = ProcessAgeSeconds(holder->pid);
      o.daemon_age = std::chrono::duration_cast<Duration>(
          std::chrono::duration<double>(age.value_or(1e9)));
    }
    if (o.health == Health::kOk) {
      o.cluster = ReadCluster(port);
      last_cluster = o.cluster;
    } else if (s().watchdog.fallback) {
      ProbeSeeds(o);
    }
    o.disk_used = DiskUsed();
    o.fallback_running = fallback ? fallback->Running() : 0;
    return o;
  }

  std::optional<ClusterView> ReadCluster(int port) {
    auto r = Client(LocalUrl(port)).Get("/status");
    std::string problem;
    if (!r.ok()) {
      problem = r.status().message();
    } else if (!r->ok()) {
      problem = "HTTP " + std::to_string(r->status) + ": " + net::ParseApiError(*r).message;
    }
    json j;
    if (problem.empty()) {
      j = json::parse(r->body, nullptr, false);
      if (!j.is_object()) problem = "malformed /status answer";
    }
    if (!problem.empty()) {
      if (!status_warned) log::Warn("cannot read the daemon's /status (" + problem + ")");
      status_warned = true;
      return std::nullopt;
    }
    status_warned = false;
    ClusterView v;
    v.self_url = j.value("url", "");
    v.self_leader = j.value("role", "") == "leader";
    std::string leader_id = j["leader_id"].is_string() ? j["leader_id"].get<std::string>() : "";
    v.leader_url = j["leader_url"].is_string() ? j["leader_url"].get<std::string>() : "";
    v.leader_alive = v.self_leader;
    std::vector<std::string> peers;
    for (const auto& m : j.value("members", json::array())) {
      if (!m.is_object()) continue;
      const bool alive = m.value("state", "") == "alive";
      v.alive_peers += alive;
      if (alive && !leader_id.empty() && m.value("node_id", "") == leader_id) {
        v.leader_alive = true;
      }
      std::string url = m.value("url", "");
      if (!url.empty() && peers.size() < kMaxKnownPeers) peers.push_back(url);
    }
    if (!peers.empty()) known_peers = std::move(peers);
    return v;
  }

  // Our own view when the daemon cannot give one: does any seed or known peer answer /health?
  void ProbeSeeds(Observation& o) {
    std::vector<std::string> targets;
    for (const auto& list : {s().Seeds(), known_peers}) {
      for (const auto& url : list) {
        if (targets.size() < kMaxSeedProbes &&
            std::find(targets.begin(), targets.end(), url) == targets.end()) {
          targets.push_back(url);
        }
      }
    }
    std::vector<char> answered(targets.size(), 0);
    std::vector<std::thread> threads;
    const auto t = Ms(s().watchdog.health_timeout);
    for (size_t i = 0; i < targets.size(); ++i) {
      threads.emplace_back([&, i] {
        auto client = net::HttpClient::Create(targets[i], net::ClientOptions{t, t, t, ""});
        if (!client.ok()) return;
        answered[i] = (*client)->Get("/health").ok();
      });
    }
    for (auto& th : threads) th.join();
    o.seeds_probed = static_cast<int>(targets.size());
    o.seeds_reachable = static_cast<int>(std::count(answered.begin(), answered.end(), 1));
  }

  // As df: used / (used + available to unprivileged users), of the data volume.
  std::optional<double> DiskUsed() const {
    std::string path = (dir / "data").string();
    struct statvfs st {};
    if (::statvfs(path.c_str(), &st) != 0 && ::statvfs(dir.string().c_str(), &st) != 0) {
      return std::nullopt;
    }
    double used = static_cast<double>(st.f_blocks - st.f_bfree);
    double avail = static_cast<double>(st.f_bavail);
    if (used + avail <= 0) return std::nullopt;
    return used / (used + avail);
  }

  void Restart(const Actions::Restart& r) {
    const ServiceManager& m = config.manager;
    if (m.kind != ManagerKind::kNone) {
      std::vector<std::string> argv = RestartCommand(m);
      std::string cmd;
      for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
      // `systemctl restart` waits for the new daemon's READY=1 (up to its TimeoutStartSec):
      // keep our own systemd watchdog fed meanwhile.
      auto pending = std::async(std::launch::async,
                                [this, argv] { return runner->Run(argv, seconds(120)); });
      while (pending.wait_for(seconds(1)) != std::future_status::ready) {
        if (notifier && notifier->watchdog_interval()) (void)notifier->Notify("WATCHDOG=1");
      }
      CommandRunner::Outcome out = pending.get();
      if (out.exit_code == 0) {
        log::Info("ran `" + cmd + "`");
      } else {
        log::Error("`" + cmd + "` failed (exit " + std::to_string(out.exit_code) +
                   "): " + out.output);
      }
      return;
    }
    // Direct spawn: whoever still holds the daemon's lock (hung, or alive but deaf) goes first,
    // or the new daemon would refuse to start.
    auto killed = KillLockHolder(State("p2p.lock"), seconds(10));
    if (!killed.ok()) {
      log::Error("cannot restart: " + killed.status().ToString());
      return;
    }
    if (*killed) {
      log::Warn("killed the " + std::string(r.hung ? "hung" : "unresponsive") + " daemon (pid " +
                std::to_string(**killed) + ") with SIGKILL");
    }
    SpawnSpec spec;
    spec.binary = config.daemon_binary;
    spec.args = config.daemon_args;
    spec.env = config.daemon_env;
    spec.unset_env = {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS",
                      "LISTEN_PID"};
    spec.log_path = config.daemon_log;
    auto pid = SpawnDetached(spec);
    if (pid.ok()) {
      log::Info("started " + spec.binary + " (pid " + std::to_string(*pid) + "), output in " +
                spec.log_path);
    } else {
      log::Error("cannot start the daemon: " + pid.status().ToString());
    }
  }

  void Cleanup(int port) {
    auto r = Client(LocalUrl(port)).Post("/cleanup", "{}");
    if (!r.ok() || !r->ok()) {
      log::Warn("cleanup request failed: " +
                (r.ok() ? "HTTP " + std::to_string(r->status) + ": " +
                              net::ParseApiError(*r).message
                        : r.status().message()));
      return;
    }
    json j = json::parse(r->body, nullptr, false);
    if (!j.is_object()) return;
    log::Info("cleanup: " + std::to_string(j.value("deleted", json::array()).size()) +
              " file(s) deleted, " + std::to_string(j.value("bytes_freed", uint64_t{0})) +
              " bytes freed, " + std::to_string(j.value("refused", json::array()).size()) +
              " kept by policy");
  }

  void Register(const std::string& target) {
    if (!last_cluster) return;
    json body = {{"node_id", s().node_id}, {"url", last_cluster->self_url}};
    if (s().ssh_port > 0) body["ssh_port"] = s().ssh_port;
    auto r = Client(target).Post("/register", body.dump());
    if (r.ok() && r->ok()) {
      log::Info("registered " + last_cluster->self_url + " with " + target);
    } else {
      log::Warn("registration with " + target + " failed: " +
                (r.ok() ? "HTTP " + std::to_string(r->status) + ": " +
                              net::ParseApiError(*r).message
                        : r.status().message()));
    }
  }

  void Act(const Observation& o, const Actions& a) {
    for (const auto& l : a.log) Write(l);
    if (a.restart) Restart(*a.restart);
    if (fallback) {
      if (a.stop_fallback) fallback->StopAll();
      if (a.start_fallback > 0) {
        if (Status st = fallback->Start(a.start_fallback); !st.ok()) {
          log::Error("cannot start fallback selfplay: " + st.ToString());
        }
      }
    } else if (a.start_fallback > 0) {
      log::Warn("cut off, but fallback selfplay is unavailable (see the error at start)");
    }
    if (a.cleanup) Cleanup(DaemonPort());
    if (!a.register_with.empty()) Register(a.register_with);
    (void)o;
  }

  std::string Summary(const Observation& o) const {
    std::string s = "daemon " + std::string(HealthName(o.health));
    if (policy.budget_exhausted()) s += "; RESTART BUDGET EXHAUSTED";
    if (policy.fallback_active()) s += "; cut off, fallback selfplay running";
    return s;
  }

  void Notify(const Observation& o) {
    if (!notifier || !notifier->enabled()) return;
    std::string msg = "WATCHDOG=1\nSTATUS=" + Summary(o);
    if (!ready_sent) msg = "READY=1\n" + msg;
    if (Status st = notifier->Notify(msg); !st.ok()) {
      log::Warn("sd_notify: " + st.ToString());
    } else {
      ready_sent = true;
    }
  }
};

Watchdog::Watchdog(WatchdogConfig config, CommandRunner* runner, FallbackJobs* fallback,
                   const sd::Notifier* notifier)
    : impl_(std::make_unique<Impl>(std::move(config), runner, fallback, notifier)) {
  auto memory = LoadMemory(impl_->State("resilience.json"));
  if (memory.ok()) {
    impl_->policy.Restore(*memory, Clock::now(), RealTime().WallMillis());
  } else if (memory.status().code() != Code::kNotFound) {
    log::Warn("ignoring " + memory.status().message());
  }
}

Watchdog::~Watchdog() = default;

Duration Watchdog::Pass() {
  Impl& w = *impl_;
  Observation o = w.Observe();
  const TimePoint now = Clock::now();
  Actions a = w.policy.Step(now, o);
  w.Act(o, a);
  if (Status st = SaveMemory(w.State("resilience.json"), w.policy.Save(now, RealTime().WallMillis()));
      !st.ok()) {
    log::Warn(st.ToString());
  }
  w.Notify(o);
  Duration next = a.next_pass;
  if (w.notifier && w.notifier->watchdog_interval()) {
    next = std::min<Duration>(next, *w.notifier->watchdog_interval() / 2);
  }
  return next;
}

const WatchdogPolicy& Watchdog::policy() const { return impl_->policy; }

std::string Watchdog::StatePath(const std::string& name) const { return impl_->State(name); }

}  // namespace rift::resilience
