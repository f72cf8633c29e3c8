// ringrift-p2p: the node daemon. Flags keep the original's names; every setting also comes from
// the environment (as systemd passes node.conf), node.conf and distributed_hosts.yaml.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "orchestrator/base/log.h"
#include "orchestrator/base/pid_lock.h"
#include "orchestrator/base/sd_notify.h"
#include "orchestrator/jobs/process.h"
#include "orchestrator/node/node.h"
#include "orchestrator/settings/settings.h"

namespace {

using rift::settings::Problem;

int CheckConfig(const rift::settings::Sources& sources) {
  std::vector<Problem> problems;
  auto s = rift::settings::Load(sources, &problems);
  if (s.ok()) rift::settings::CheckDeployment(*s, &problems);
  int errors = rift::settings::PrintProblems(problems);
  int warnings = static_cast<int>(problems.size()) - errors;
  if (errors > 0) {
    std::fprintf(stderr, "configuration has %d error(s), %d warning(s)\n", errors, warnings);
    return 1;
  }
  std::printf("configuration OK: node %s, port %d, %zu voter(s), %zu seed(s), %d warning(s)\n",
              s->node_id.c_str(), s->port, s->voters.size(), s->Seeds().size(), warnings);
  return 0;
}

// Exit code of a daemon that finds another one running on the same RINGRIFT_DIR.
constexpr int kExitAlreadyRunning = 3;

// Waits for SIGINT/SIGTERM. Under a systemd watchdog (WatchdogSec=) it wakes every half interval
// and pings, but only while the node's ticker is alive: a wedged ticker stops the pings and
// systemd restarts the daemon.
int WaitForSignal(const sigset_t& set, const rift::node::Node& node,
                  const rift::sd::Notifier& notifier) {
#ifndef __APPLE__
  if (auto interval = notifier.watchdog_interval()) {
    const auto half = *interval / 2;
    for (;;) {
      timespec ts{static_cast<time_t>(half.count() / 1'000'000),
                  static_cast<long>(half.count() % 1'000'000) * 1000};
      int sig = sigtimedwait(&set, nullptr, &ts);
      if (sig > 0) return sig;
      if (errno != EAGAIN && errno != EINTR) break;
      auto age = std::chrono::steady_clock::now() - node.last_tick();
      if (age < half) {
        if (rift::Status st = notifier.Notify("WATCHDOG=1"); !st.ok()) {
          rift::log::Warn("sd_notify: " + st.ToString());
        }
      } else {
        rift::log::Error("ticker silent for " +
                         std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(age)
                                            .count()) +
                         " ms: withholding the systemd watchdog ping");
      }
    }
  }
#else
  (void)node;
  (void)notifier;
#endif
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace

int main(int argc, char** argv) {
  // `ringrift-p2p --job-shim <dir>`: the daemon re-executes itself as each job's supervisor.
  if (auto rc = rift::jobs::RunShimIfRequested(argc, argv)) return *rc;
  // glibc gives each thread that allocates its own arena (up to 8 per core); the HTTP pool grows
  // and shrinks with load, so cap the arenas to keep resident memory flat.
  mallopt(M_ARENA_MAX, 2);
  CLI::App app{"ringrift-p2p: RingRift cluster node daemon (membership, election, HTTP API)"};
  std::string config, hosts;
  bool require_auth = false, check_config = false, version = false;
  struct Flag {
    const char* name;
    const char* key;
    const char* help;
  };
  const Flag string_flags[] = {
      {"--node-id", "NODE_ID", "this node's id (NODE_ID)"},
      {"--port", "P2P_PORT", "HTTP port, 0 = any free port (P2P_PORT, default 8770)"},
      {"--peers", "EXTRA_PEERS", "comma-separated peer URLs (EXTRA_PEERS)"},
      {"--ringrift-path", "RINGRIFT_DIR", "state and data directory (RINGRIFT_DIR)"},
      {"--auth-token", "RINGRIFT_CLUSTER_AUTH_TOKEN",
       "cluster token (prefer RINGRIFT_CLUSTER_AUTH_TOKEN_FILE: flags are visible in ps)"},
      {"--advertise-url", "ADVERTISE_URL", "URL peers use to reach this node (ADVERTISE_URL)"},
      {"--bind", "BIND_HOST", "address to listen on (BIND_HOST, default 0.0.0.0)"},
      {"--voters", "RINGRIFT_P2P_VOTERS", "comma-separated voter node ids (RINGRIFT_P2P_VOTERS)"},
      {"--coordinator", "COORDINATOR_URL", "first seed URL (COORDINATOR_URL)"},
      {"--timer-profile", "RINGRIFT_TIMER_PROFILE", "default | etcd | fast"},
      {"--log-file", "RINGRIFT_LOG_FILE", "append logs here instead of stderr"},
  };
  std::map<std::string, std::string> given;
  for (const auto& f : string_flags) app.add_option(f.name, given[f.key], f.help);
  app.add_flag("--require-auth", require_auth, "refuse to start without a cluster token");
  app.add_option("--config", config, "node.conf (default /etc/ringrift/node.conf if present)");
  app.add_option("--hosts", hosts, "distributed_hosts.yaml");
  app.add_flag("--check-config", check_config,
               "report every configuration problem (file:line: key: message) and exit");
  app.add_flag("--version", version, "print the version and exit");
  CLI11_PARSE(app, argc, argv);
  if (version) {
    std::printf("ringrift-p2p %s\n", RIFT_VERSION);
    return 0;
  }

  rift::settings::Sources sources;
  for (const auto& f : string_flags) {
    if (app.count(f.name) > 0) sources.flags[f.key] = given[f.key];
  }
  if (require_auth) sources.flags["RINGRIFT_REQUIRE_AUTH"] = "true";
  sources.env = rift::settings::ProcessEnvironment();
  if (!config.empty()) sources.node_conf_path = config;
  if (!hosts.empty()) sources.hosts_yaml_path = hosts;
  if (check_config) return CheckConfig(sources);

  std::vector<Problem> problems;
  auto settings = rift::settings::Load(sources, &problems);
  if (!settings.ok()) {
    rift::settings::PrintProblems(problems);
    std::fprintf(stderr, "ringrift-p2p: %s\n", settings.status().message().c_str());
    return 2;
  }
  rift::log::Init("ringrift-p2p", settings->log_file);
  for (const auto& p : problems) rift::log::Warn(p.ToString());
  // Read before any thread starts, and kept from children (jobs must not notify for us).
  const rift::sd::Notifier notifier = rift::sd::Notifier::FromEnvironment(true);

  // Never two daemons on one directory (systemd, cron, a watchdog and an operator may all try).
  std::error_code ec;
  const auto state_dir = std::filesystem::path(settings->ringrift_dir) / "state";
  std::filesystem::create_directories(state_dir, ec);
  auto lock = rift::PidLock::Acquire((state_dir / "p2p.lock").string());
  if (!lock.ok()) {
    const bool held = lock.status().code() == rift::Code::kAlreadyExists;
    std::string msg = held ? "another ringrift-p2p is already running on " +
                                 settings->ringrift_dir + " (" + lock.status().message() + ")"
                           : "cannot take the daemon lock: " + lock.status().message();
    rift::log::Error(msg);
    std::fprintf(stderr, "ringrift-p2p: %s\n", msg.c_str());
    return held ? kExitAlreadyRunning : 1;
  }

  // Signals are taken synchronously by this thread; every thread started later inherits the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  rift::node::Node node(std::move(settings).value());
  if (rift::Status st = node.Start(); !st.ok()) {
    rift::log::Error("cannot start: " + st.ToString());
    std::fprintf(stderr, "ringrift-p2p: cannot start: %s\n", st.ToString().c_str());
    return 1;
  }
  if (rift::Status st = notifier.Notify("READY=1\nSTATUS=serving on port " +
                                       std::to_string(node.port()));
      !st.ok()) {
    rift::log::Warn("sd_notify: " + st.ToString());
  }
  int sig = WaitForSignal(set, node, notifier);
  rift::log::Info(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") +
                  ", shutting down");
  (void)notifier.Notify("STOPPING=1");
  node.Stop();
  return 0;
}
