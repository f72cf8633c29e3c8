// ringrift-resilience: keeps the node daemon alive, runs fallback selfplay while the node is cut
// off, asks for cleanup under disk pressure and re-registers the node with the leader. Settings
// come from the same sources as the daemon's (flags > environment > node.conf >
// distributed_hosts.yaml); see docs/watchdog.md.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "orchestrator/base/log.h"
#include "orchestrator/base/pid_lock.h"
#include "orchestrator/base/sd_notify.h"
#include "orchestrator/jobs/gpu.h"
#include "orchestrator/jobs/process.h"
#include "orchestrator/settings/settings.h"
#include "resilience/job_fallback.h"
#include "resilience/watchdog.h"

namespace {

namespace fs = std::filesystem;
using rift::settings::Problem;

constexpr int kExitAlreadyRunning = 3;
constexpr int kMaxOncePasses = 32;  // --once: enough to confirm a failure, never unbounded

struct Flag {
  const char* name;
  const char* key;
  const char* help;
  bool daemon;  // also passed on to a daemon we spawn
};

const Flag kFlags[] = {
    {"--node-id", "NODE_ID", "this node's id (NODE_ID)", true},
    {"--port", "P2P_PORT", "the daemon's HTTP port (P2P_PORT, default 8770)", true},
    {"--peers", "EXTRA_PEERS", "comma-separated peer URLs (EXTRA_PEERS)", true},
    {"--ringrift-path", "RINGRIFT_DIR", "state and data directory (RINGRIFT_DIR)", true},
    {"--auth-token", "RINGRIFT_CLUSTER_AUTH_TOKEN",
     "cluster token (prefer RINGRIFT_CLUSTER_AUTH_TOKEN_FILE)", true},
    {"--advertise-url", "ADVERTISE_URL", "the daemon's URL for peers (ADVERTISE_URL)", true},
    {"--bind", "BIND_HOST", "address the daemon listens on (BIND_HOST)", true},
    {"--voters", "RINGRIFT_P2P_VOTERS", "comma-separated voter ids", true},
    {"--coordinator", "COORDINATOR_URL", "first seed URL (COORDINATOR_URL)", true},
    {"--interval", "RINGRIFT_WATCHDOG_INTERVAL", "time between passes (10s)", false},
    {"--health-timeout", "RINGRIFT_WATCHDOG_HEALTH_TIMEOUT", "one /health probe (3s)", false},
    {"--startup-grace", "RINGRIFT_WATCHDOG_STARTUP_GRACE",
     "a daemon younger than this is left to start (60s)", false},
    {"--restart-budget", "RINGRIFT_WATCHDOG_RESTART_BUDGET", "restarts per window (5)", false},
    {"--budget-window", "RINGRIFT_WATCHDOG_BUDGET_WINDOW", "the budget's window (1h)", false},
    {"--service-manager", "RINGRIFT_WATCHDOG_SERVICE_MANAGER", "auto | systemd | launchd | none",
     false},
    {"--daemon-binary", "RINGRIFT_WATCHDOG_DAEMON_BINARY",
     "daemon to spawn without a service manager (default: ringrift-p2p beside this program)",
     false},
    {"--disconnect-grace", "RINGRIFT_WATCHDOG_DISCONNECT_GRACE",
     "cut off this long before fallback selfplay starts (3m)", false},
    {"--log-file", "RINGRIFT_RESILIENCE_LOG_FILE", "append the watchdog's log here", false},
};

std::string SelfDir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "" : exe.parent_path().string();
}

std::string DefaultDaemonBinary() {
  std::string dir = SelfDir();
  std::error_code ec;
  if (!dir.empty() && fs::exists(fs::path(dir) / "ringrift-p2p", ec)) {
    return (fs::path(dir) / "ringrift-p2p").string();
  }
  return "ringrift-p2p";  // from PATH
}

// The daemon's own log file if configured, else the runbook's location when it exists, else
// <RINGRIFT_DIR>/logs/p2p.log.
std::string DaemonLog(const rift::settings::Settings& s) {
  if (!s.log_file.empty()) return s.log_file;
  std::error_code ec;
#ifdef __APPLE__
  const char* home = std::getenv("HOME");
  fs::path mac = fs::path(home ? home : "") / "Library/Logs/RingRift";
  if (home && fs::is_directory(mac, ec)) return (mac / "p2p.log").string();
#else
  if (fs::is_directory("/var/log/ringrift", ec) && ::access("/var/log/ringrift", W_OK) == 0) {
    return "/var/log/ringrift/p2p.log";
  }
#endif
  return (fs::path(s.ringrift_dir) / "logs" / "p2p.log").string();
}

// One fallback slot per GPU (nvidia-smi, or Apple's MPS), else one CPU slot; at most `cap`.
std::vector<std::string> FallbackSlots(int cap) {
  std::vector<std::string> slots;
  for (const auto& gpu : rift::jobs::DetectGpus()) {
    if (static_cast<int>(slots.size()) < cap) slots.push_back(gpu.index);
  }
  if (slots.empty()) slots.push_back("");
  return slots;
}

// SIGINT/SIGTERM end the loop; the waiting thread takes them synchronously.
struct StopSignal {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  // Sleeps up to `d`; false once a stop was requested.
  bool SleepFor(rift::Duration d) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, d, [this] { return stop; });
    return !stop;
  }
};

}  // namespace

int main(int argc, char** argv) {
  // Fallback jobs run under a shim that is this program re-executed (orchestrator/jobs).
  if (auto rc = rift::jobs::RunShimIfRequested(argc, argv)) return *rc;
  CLI::App app{
      "ringrift-resilience: keeps ringrift-p2p alive, runs fallback selfplay while the node is "
      "cut off, triggers cleanup under disk pressure, re-registers with the leader"};
  std::string config, hosts;
  bool once = false, with_fallback = false, no_fallback = false, version = false;
  std::map<std::string, std::string> given;
  for (const auto& f : kFlags) app.add_option(f.name, given[f.key], f.help);
  app.add_option("--config", config, "node.conf (default /etc/ringrift/node.conf if present)");
  app.add_option("--hosts", hosts, "distributed_hosts.yaml");
  app.add_flag("--once", once, "one pass (confirming a failure if needed), then exit: for cron");
  app.add_flag("--fallback", with_fallback, "run fallback selfplay while cut off (default)");
  app.add_flag("--no-fallback", no_fallback, "never run fallback selfplay");
  app.add_flag("--version", version, "print the version and exit");
  CLI11_PARSE(app, argc, argv);
  if (version) {
    std::printf("ringrift-resilience %s\n", RIFT_VERSION);
    return 0;
  }
  if (with_fallback && no_fallback) {
    std::fprintf(stderr, "ringrift-resilience: --fallback and --no-fallback exclude each other\n");
    return 2;
  }

  rift::settings::Sources sources;
  std::map<std::string, std::string> daemon_env;
  for (const auto& f : kFlags) {
    if (app.count(f.name) == 0) continue;
    sources.flags[f.key] = given[f.key];
    if (f.daemon) daemon_env[f.key] = given[f.key];
  }
  if (with_fallback || no_fallback) {
    sources.flags["RINGRIFT_WATCHDOG_FALLBACK"] = with_fallback ? "1" : "0";
  }
  sources.env = rift::settings::ProcessEnvironment();
  std::vector<std::string> daemon_args;
  if (!config.empty()) {
    sources.node_conf_path = config;
    daemon_args.insert(daemon_args.end(), {"--config", config});
  }
  if (!hosts.empty()) {
    sources.hosts_yaml_path = hosts;
    daemon_args.insert(daemon_args.end(), {"--hosts", hosts});
  }
  std::vector<Problem> problems;
  auto loaded = rift::settings::Load(sources, &problems);
  if (!loaded.ok()) {
    rift::settings::PrintProblems(problems);
    std::fprintf(stderr, "ringrift-resilience: %s\n", loaded.status().message().c_str());
    return 2;
  }
  rift::settings::Settings s = std::move(loaded).value();
  rift::log::Init("ringrift-resilience", s.watchdog.log_file);
  for (const auto& p : problems) rift::log::Warn(p.ToString());

  // Before any thread: signals are taken by one thread, and children never see NOTIFY_SOCKET.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  const rift::sd::Notifier notifier = rift::sd::Notifier::FromEnvironment(true);

  std::error_code ec;
  const fs::path state_dir = fs::path(s.ringrift_dir) / "state";
  fs::create_directories(state_dir, ec);
  auto lock = rift::PidLock::Acquire((state_dir / "resilience.lock").string());
  if (!lock.ok() && once && lock.status().code() == rift::Code::kAlreadyExists) {
    // cron's backup pass while the service runs: nothing to do, and nothing wrong.
    rift::log::Info("another ringrift-resilience is watching " + s.ringrift_dir + " (" +
                    lock.status().message() + "); nothing to do");
    return 0;
  }
  if (!lock.ok()) {
    const bool held = lock.status().code() == rift::Code::kAlreadyExists;
    std::string msg = held ? "another ringrift-resilience is already running on " +
                                 s.ringrift_dir + " (" + lock.status().message() + ")"
                           : "cannot take the watchdog lock: " + lock.status().message();
    rift::log::Error(msg);
    if (!s.watchdog.log_file.empty()) std::fprintf(stderr, "ringrift-resilience: %s\n", msg.c_str());
    return held ? kExitAlreadyRunning : 1;
  }

  auto runner = rift::resilience::MakeCommandRunner();
  auto manager = rift::resilience::ResolveServiceManager(s.watchdog.service_manager, *runner,
                                                         rift::resilience::RealHostFacts());
  if (!manager.ok()) {
    rift::log::Error(manager.status().message());
    return 2;
  }
  rift::resilience::WatchdogConfig wc;
  wc.manager = *manager;
  wc.daemon_binary =
      s.watchdog.daemon_binary.empty() ? DefaultDaemonBinary() : s.watchdog.daemon_binary;
  wc.daemon_args = daemon_args;
  wc.daemon_env = daemon_env;
  wc.daemon_log = DaemonLog(s);
  std::unique_ptr<rift::resilience::FallbackJobs> fallback;
  if (s.watchdog.fallback) {
    rift::resilience::JobFallbackOptions fo;
    fo.node_id = s.node_id;
    fo.ringrift_dir = fs::absolute(s.ringrift_dir).lexically_normal().string();
    fo.bin_dir = SelfDir();
    fo.jobs = s.jobs;
    fo.slots = FallbackSlots(s.watchdog.fallback_max_jobs);
    wc.fallback_slots = static_cast<int>(fo.slots.size());
    auto made = rift::resilience::MakeJobFallback(std::move(fo));
    if (made.ok()) {
      fallback = std::move(made).value();
    } else {
      rift::log::Error("fallback selfplay disabled: " + made.status().message());
    }
  }
  wc.settings = s;
  rift::resilience::Watchdog watchdog(std::move(wc), runner.get(), fallback.get(), &notifier);
  rift::log::Info("watching node " + s.node_id + " in " + s.ringrift_dir + " (restart via " +
                  manager->Describe() + (once ? ", one pass" : "") + ")");

  StopSignal stop;
  std::thread signals([&stop, set] {
    int sig = 0;
    sigwait(&set, &sig);
    std::lock_guard lock(stop.mu);
    stop.stop = true;
    stop.cv.notify_all();
  });
  if (once) {
    for (int i = 0; i < kMaxOncePasses; ++i) {
      rift::Duration next = watchdog.Pass();
      if (!watchdog.policy().Confirming() || !stop.SleepFor(next)) break;
    }
  } else {
    while (stop.SleepFor(watchdog.Pass())) {
    }
    rift::log::Info("stopping");
    (void)notifier.Notify("STOPPING=1");
    // Nobody would stop them after us (a --once run leaves them to the next run instead).
    if (fallback && fallback->Running() > 0) {
      rift::log::Info("stopping fallback selfplay");
      fallback->StopAll();
    }
  }
  {
    std::lock_guard guard(stop.mu);
    if (!stop.stop) pthread_kill(signals.native_handle(), SIGTERM);
  }
  signals.join();
  return 0;
}
