// ringrift-resilience with real processes on 127.0.0.1: kill -9 and SIGSTOP of the daemon lead
// to a restart (direct spawn), a daemon still starting is left alone, one watchdog and one
// daemon per directory, disk pressure asks the daemon for cleanup, registration makes a leader
// find a node it did not know, and both programs speak sd_notify. Every wait is bounded.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "orchestrator/base/pid_lock.h"
#include "tests/harness/cluster.h"

namespace rift::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kToken[] = "watchdog-test-token-0123456789";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

// The node's settings, shared by its daemon and its watchdog (as node.conf would be).
std::map<std::string, std::string> NodeEnv(const std::string& id, const std::string& dir,
                                           const std::string& voters) {
  return {{"NODE_ID", id},
          {"RINGRIFT_DIR", dir},
          {"P2P_PORT", "0"},
          {"BIND_HOST", "127.0.0.1"},
          {"RINGRIFT_CLUSTER_AUTH_TOKEN", kToken},
          {"RINGRIFT_P2P_VOTERS", voters},
          {"RINGRIFT_TIMER_PROFILE", "fast"}};
}

// A daemon the watchdog may have started: found through its lock and port files.
struct Found {
  pid_t pid = 0;
  int port = 0;
};
std::optional<Found> HealthyDaemon(const std::string& dir) {
  auto holder = ReadLockHolder(dir + "/state/p2p.lock");
  if (!holder || !IsRunning(*holder)) return std::nullopt;
  std::ifstream in(dir + "/state/p2p.port");
  int port = 0;
  if (!(in >> port) || port <= 0) return std::nullopt;
  if (HttpRequest("GET", "http://127.0.0.1:" + std::to_string(port), "/health").status != 200) {
    return std::nullopt;
  }
  return Found{holder->pid, port};
}

// Kills whatever daemon holds the directory's lock (one the watchdog spawned is not our child).
void KillLockHolder(const std::string& dir) {
  auto holder = ReadLockHolder(dir + "/state/p2p.lock");
  if (!holder || !IsRunning(*holder)) return;
  ::kill(holder->pid, SIGKILL);
  WaitFor([&] { return !IsRunning(*holder); }, seconds(10));
}

class WatchdogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    node_dir_ = tmp_.path() + "/w1";
    env_ = NodeEnv("w1", node_dir_, "w1");
  }
  void TearDown() override {
    if (::testing::Test::HasFailure()) {
      std::fprintf(stderr, "--- watchdog log ---\n%s\n", watchdog_.Log().c_str());
      std::fprintf(stderr, "--- spawned daemon log ---\n%s\n",
                   ReadFile(node_dir_ + "/logs/p2p.log").c_str());
    }
    watchdog_.Stop();
    daemon_.reset();
    KillLockHolder(node_dir_);
  }

  void StartDaemon(const std::map<std::string, std::string>& extra = {}) {
    DaemonOptions o;
    o.node_id = "w1";
    o.env = env_;
    for (const auto& [k, v] : extra) o.env[k] = v;
    o.env.erase("NODE_ID");
    o.env.erase("RINGRIFT_DIR");
    o.env.erase("P2P_PORT");
    daemon_ = std::make_unique<Daemon>(DaemonBinary(), o, node_dir_);
    std::string error;
    ASSERT_TRUE(daemon_->Start(&error)) << error;
  }

  struct WatchdogOptions {
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    std::string daemon_binary = DaemonBinary();
    std::string startup_grace = "2s";
    bool fallback = false;
  };

  // A watchdog with fast timers, restarting by direct spawn.
  void StartWatchdog() { StartWatchdog(WatchdogOptions()); }
  void StartWatchdog(const WatchdogOptions& w) {
    std::vector<std::string> argv = {ResilienceBinary(),
                                     "--service-manager", "none",
                                     "--daemon-binary",   w.daemon_binary,
                                     "--interval",        "200ms",
                                     "--health-timeout",  "1s",
                                     "--startup-grace",   w.startup_grace,
                                     w.fallback ? "--fallback" : "--no-fallback"};
    argv.insert(argv.end(), w.args.begin(), w.args.end());
    const auto& extra = w.env;
    auto env = env_;
    env["RINGRIFT_WATCHDOG_BACKOFF_INITIAL"] = "200ms";
    env["RINGRIFT_WATCHDOG_BACKOFF_MAX"] = "1s";
    for (const auto& [k, v] : extra) env[k] = v;
    ASSERT_TRUE(watchdog_.Start(argv, env, tmp_.path() + "/resilience.log"));
    ASSERT_TRUE(WaitFor([&] { return watchdog_.Log().find("watching node") != std::string::npos; },
                        seconds(20)))
        << watchdog_.Log();
  }

  // Waits until a daemon other than `old_pid` is healthy on the node's directory.
  std::optional<Found> WaitForReplacement(pid_t old_pid) {
    std::optional<Found> found;
    WaitFor(
        [&] {
          found = HealthyDaemon(node_dir_);
          return found && found->pid != old_pid;
        },
        seconds(60), milliseconds(50));
    if (found && found->pid == old_pid) return std::nullopt;
    return found;
  }

  int Restarts() {
    json j = json::parse(ReadFile(node_dir_ + "/state/resilience.json"), nullptr, false);
    return j.is_object() ? static_cast<int>(j.value("restarts_ms", json::array()).size()) : -1;
  }

  TempDir tmp_{"rift-watchdog-test"};
  std::string node_dir_;
  std::map<std::string, std::string> env_;
  std::unique_ptr<Daemon> daemon_;
  Process watchdog_;
};

TEST_F(WatchdogTest, KillNineDaemonIsRestartedByDirectSpawn) {
  StartDaemon();
  StartWatchdog();
  const pid_t old_pid = daemon_->pid();
  daemon_->Kill(SIGKILL);
  auto found = WaitForReplacement(old_pid);
  ASSERT_TRUE(found) << "no healthy replacement daemon";
  EXPECT_EQ(Restarts(), 1);
  EXPECT_NE(watchdog_.Log().find("daemon down"), std::string::npos);
  // The replacement runs with the node's settings and logs to the daemon's log.
  auto status = HttpRequest("GET", "http://127.0.0.1:" + std::to_string(found->port), "/status",
                            kToken);
  ASSERT_EQ(status.status, 200) << status.body;
  EXPECT_EQ(json::parse(status.body)["node_id"], "w1");
  EXPECT_NE(ReadFile(node_dir_ + "/logs/p2p.log").find("listening"), std::string::npos);
}

TEST_F(WatchdogTest, StoppedDaemonIsDetectedAsHungKilledAndReplaced) {
  StartDaemon();
  StartWatchdog();
  const pid_t old_pid = daemon_->pid();
  daemon_->Signal(SIGSTOP);  // the kernel still accepts connections; nobody answers
  auto found = WaitForReplacement(old_pid);
  ASSERT_TRUE(found) << "no healthy replacement daemon";
  EXPECT_FALSE(IsRunning(LockHolder{old_pid, 0}));  // killed, not left stopped
  EXPECT_NE(watchdog_.Log().find("daemon hung"), std::string::npos);
  EXPECT_NE(watchdog_.Log().find("killed the hung daemon (pid " + std::to_string(old_pid)),
            std::string::npos);
}

TEST_F(WatchdogTest, ADaemonStillStartingIsNotKilled) {
  // The replacement takes 3 s before it even binds: within the startup grace it is left alone.
  const std::string slow = tmp_.path() + "/slow-p2p.sh";
  std::ofstream(slow) << "#!/bin/sh\nsleep 3\nexec " << DaemonBinary() << " \"$@\"\n";
  fs::permissions(slow, fs::perms::owner_all);
  StartDaemon();
  WatchdogOptions w;
  w.daemon_binary = slow;
  w.startup_grace = "20s";
  StartWatchdog(w);
  const pid_t old_pid = daemon_->pid();
  daemon_->Kill(SIGKILL);
  ASSERT_TRUE(WaitForReplacement(old_pid));
  // Give a would-be second restart every chance: a few more passes.
  std::this_thread::sleep_for(seconds(1));
  EXPECT_EQ(Restarts(), 1);
  EXPECT_EQ(Count(watchdog_.Log(), "restarting"), 1u) << watchdog_.Log();
}

TEST_F(WatchdogTest, ASecondWatchdogOnTheSameDirectoryRefuses) {
  StartDaemon();
  StartWatchdog();
  Process second;
  ASSERT_TRUE(second.Start({ResilienceBinary(), "--service-manager", "none"}, env_,
                           tmp_.path() + "/second.log"));
  ASSERT_TRUE(WaitFor([&] { return !second.Running(); }, seconds(20)));
  EXPECT_EQ(second.ExitCode(), 3);
  EXPECT_NE(second.Log().find("another ringrift-resilience is already running"),
            std::string::npos)
      << second.Log();
  EXPECT_TRUE(watchdog_.Running());
}

TEST_F(WatchdogTest, ASecondDaemonOnTheSameDirectoryRefuses) {
  StartDaemon();
  Process second;
  ASSERT_TRUE(second.Start({DaemonBinary()}, env_, tmp_.path() + "/second-daemon.log"));
  ASSERT_TRUE(WaitFor([&] { return !second.Running(); }, seconds(20)));
  EXPECT_EQ(second.ExitCode(), 3);
  EXPECT_NE(second.Log().find("another ringrift-p2p is already running on " + node_dir_),
            std::string::npos)
      << second.Log();
  EXPECT_NE(second.Log().find("pid " + std::to_string(daemon_->pid())), std::string::npos);
  EXPECT_EQ(daemon_->Request("GET", "/health").status, 200);  // the first one is untouched
}

TEST_F(WatchdogTest, DiskAboveTheHighWatermarkAsksTheDaemonForCleanup) {
  fs::create_directories(node_dir_ + "/data");
  struct statvfs st {};
  ASSERT_EQ(::statvfs((node_dir_ + "/data").c_str(), &st), 0);
  const double used = static_cast<double>(st.f_blocks - st.f_bfree) /
                      static_cast<double>(st.f_blocks - st.f_bfree + st.f_bavail);
  if (used < 0.03) GTEST_SKIP() << "the temp volume is nearly empty";
  char high[16], low[16];
  std::snprintf(high, sizeof high, "%.3f", used - 0.02);  // below current usage
  std::snprintf(low, sizeof low, "%.3f", (used - 0.02) / 2);
  std::map<std::string, std::string> marks = {{"RINGRIFT_CLEANUP_HIGH_WATERMARK", high},
                                              {"RINGRIFT_CLEANUP_LOW_WATERMARK", low}};
  for (const auto& [k, v] : marks) env_[k] = v;
  StartDaemon();
  StartWatchdog();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto m = daemon_->Request("GET", "/metrics", kToken);
        // The daemon counts the request before the watchdog has read the answer and logged
        // it: wait for both.
        return m.body.find("ringrift_http_requests_total{route=\"/cleanup\",code=\"200\"}") !=
                   std::string::npos &&
               watchdog_.Log().find("cleanup: ") != std::string::npos;
      },
      seconds(30)))
      << watchdog_.Log();
  EXPECT_NE(watchdog_.Log().find("asking the daemon for local cleanup"), std::string::npos);
  EXPECT_NE(watchdog_.Log().find("cleanup: "), std::string::npos);
}

TEST_F(WatchdogTest, RegistrationMakesTheLeaderProbeANodeItDidNotKnow) {
  // n1 leads alone; w1 knows nobody. Only w1's watchdog knows the coordinator.
  Daemon leader(DaemonBinary(), [] {
    DaemonOptions o;
    o.node_id = "n1";
    o.env = {{"RINGRIFT_CLUSTER_AUTH_TOKEN", kToken},
             {"RINGRIFT_P2P_VOTERS", "n1"},
             {"RINGRIFT_TIMER_PROFILE", "fast"}};
    return o;
  }(), tmp_.path() + "/n1");
  std::string error;
  ASSERT_TRUE(leader.Start(&error)) << error;
  env_["RINGRIFT_P2P_VOTERS"] = "n1";
  StartDaemon();
  WatchdogOptions w;
  w.args = {"--coordinator", leader.url()};
  w.env = {{"RINGRIFT_WATCHDOG_REGISTER_INTERVAL", "1s"}};
  StartWatchdog(w);
  EXPECT_TRUE(WaitFor(
      [&] {
        auto s = leader.Status(kToken);
        const MemberInfo* m = s ? s->Find("w1") : nullptr;
        return m && m->state == "alive";
      },
      seconds(30)))
      << watchdog_.Log();
  EXPECT_TRUE(WaitFor(
      [&] {
        auto s = daemon_->Status(kToken);
        return s && s->leader_id == std::optional<std::string>("n1");
      },
      seconds(30)));
  EXPECT_NE(watchdog_.Log().find("registered " + daemon_->url() + " with " + leader.url()),
            std::string::npos)
      << watchdog_.Log();
}

TEST_F(WatchdogTest, OncePassRestartsADeadDaemonAndStepsAsideForARunningWatchdog) {
  StartDaemon();
  const pid_t old_pid = daemon_->pid();
  daemon_->Kill(SIGKILL);
  Process once;
  ASSERT_TRUE(once.Start({ResilienceBinary(), "--once", "--service-manager", "none",
                          "--daemon-binary", DaemonBinary(), "--no-fallback"},
                         env_, tmp_.path() + "/once.log"));
  ASSERT_TRUE(WaitFor([&] { return !once.Running(); }, seconds(60))) << once.Log();
  EXPECT_EQ(once.ExitCode(), 0) << once.Log();
  EXPECT_TRUE(WaitForReplacement(old_pid)) << once.Log();
  EXPECT_EQ(Restarts(), 1);
  // cron's next pass while the service's watchdog runs: nothing to do, no error.
  StartWatchdog();
  Process again;
  ASSERT_TRUE(again.Start({ResilienceBinary(), "--once"}, env_, tmp_.path() + "/again.log"));
  ASSERT_TRUE(WaitFor([&] { return !again.Running(); }, seconds(20)));
  EXPECT_EQ(again.ExitCode(), 0) << again.Log();
  EXPECT_NE(again.Log().find("nothing to do"), std::string::npos) << again.Log();
}

// The cluster for the fallback tests: n1 the only voter (and the coordinator), w1 and maybe w2
// workers seeded with it. A fallback_selfplay kind made of /bin/sh stands in for the workload:
// it records its pid in its output dir and sleeps.
class FallbackTest : public WatchdogTest {
 protected:
  void SetUp() override {
    WatchdogTest::SetUp();
    DaemonOptions o;
    o.node_id = "n1";
    o.env = {{"RINGRIFT_CLUSTER_AUTH_TOKEN", kToken},
             {"RINGRIFT_P2P_VOTERS", "n1"},
             {"RINGRIFT_TIMER_PROFILE", "fast"}};
    leader_ = std::make_unique<Daemon>(DaemonBinary(), o, tmp_.path() + "/n1");
    std::string error;
    ASSERT_TRUE(leader_->Start(&error)) << error;
    const std::string hosts = tmp_.path() + "/hosts.yaml";
    std::ofstream(hosts) << kNoBackgroundSelfplayYaml
                            << "jobs:\n"
                            "  stop_grace_s: 2\n"
                            "  catalogue:\n"
                            "    fallback_selfplay:\n"
                            "      argv: [/bin/sh, -c, 'echo $$ > {out_dir}/pid; exec sleep 600']\n";
    env_["RINGRIFT_P2P_VOTERS"] = "n1";
    env_["COORDINATOR_URL"] = leader_->url();
    env_["RINGRIFT_HOSTS_FILE"] = hosts;
  }
  void TearDown() override {
    WatchdogTest::TearDown();  // stops the watchdog, which stops its fallback jobs
    for (pid_t pid : FallbackPids()) ::kill(pid, SIGKILL);
  }

  bool SeesLeader(Daemon& d) {
    auto s = d.Status(kToken);
    return s && s->leader_id == std::optional<std::string>("n1");
  }

  // Pids recorded by fallback jobs that still run.
  std::vector<pid_t> FallbackPids() {
    std::vector<pid_t> pids;
    std::error_code ec;
    const fs::path root = fs::path(node_dir_) / "data/selfplay/fallback/w1";
    if (!fs::is_directory(root, ec)) return pids;
    for (const auto& job : fs::directory_iterator(root, ec)) {
      std::ifstream in(job.path() / "pid");
      pid_t pid = 0;
      if (in >> pid && pid > 0 && IsRunning(LockHolder{pid, 0})) pids.push_back(pid);
    }
    return pids;
  }

  void StartFallbackWatchdog() {
    WatchdogOptions w;
    w.fallback = true;
    w.args = {"--disconnect-grace", "2s"};
    StartWatchdog(w);
  }

  std::unique_ptr<Daemon> leader_;
};

TEST_F(FallbackTest, ACutOffNodeRunsFallbackAfterTheGraceAndStopsItOnReconnect) {
  StartDaemon();
  ASSERT_TRUE(WaitFor([&] { return SeesLeader(*daemon_); }, seconds(30)));
  StartFallbackWatchdog();
  leader_->Kill(SIGKILL);  // w1's only peer
  ASSERT_TRUE(WaitFor([&] { return FallbackPids().size() == 1; }, seconds(60)))
      << watchdog_.Log();
  const pid_t job = FallbackPids()[0];
  const std::string log = watchdog_.Log();
  EXPECT_NE(log.find("cut off: the daemon knows no live leader and no alive peer"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("starting fallback selfplay (1 job(s))"), std::string::npos) << log;
  // The peer comes back: fallback stops, its data stays where the data plane syncs it.
  std::string error;
  ASSERT_TRUE(leader_->Start(&error)) << error;
  ASSERT_TRUE(WaitFor([&] { return !IsRunning(LockHolder{job, 0}); }, seconds(60)))
      << watchdog_.Log();
  EXPECT_NE(watchdog_.Log().find("reconnected: stopping fallback selfplay"), std::string::npos);
  std::error_code ec;
  EXPECT_TRUE(fs::exists(node_dir_ + "/data/selfplay/fallback/w1", ec));
  EXPECT_TRUE(WaitFor([&] { return fs::is_empty(node_dir_ + "/state/fallback", ec); },
                      seconds(20)));
}

TEST_F(FallbackTest, AWatchdogKilledDuringFallbackIsSucceededByOneThatStopsTheSameJob) {
  StartDaemon();
  ASSERT_TRUE(WaitFor([&] { return SeesLeader(*daemon_); }, seconds(30)));
  StartFallbackWatchdog();
  leader_->Kill(SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return FallbackPids().size() == 1; }, seconds(60)))
      << watchdog_.Log();
  const pid_t job = FallbackPids()[0];
  watchdog_.Stop(SIGKILL);  // its job lives on under its shim
  ASSERT_TRUE(IsRunning(LockHolder{job, 0}));
  StartFallbackWatchdog();  // adopts it: no second job for the same slot
  std::this_thread::sleep_for(seconds(1));
  EXPECT_EQ(FallbackPids(), std::vector<pid_t>{job});
  std::string error;
  ASSERT_TRUE(leader_->Start(&error)) << error;
  EXPECT_TRUE(WaitFor([&] { return !IsRunning(LockHolder{job, 0}); }, seconds(60)))
      << watchdog_.Log();
}

TEST_F(FallbackTest, ANodeThatStillReachesAPeerDoesNotFallBackWhenTheLeaderDies) {
  // w1 and w2 lose their only voter but still see each other: neither is cut off.
  Daemon w2(DaemonBinary(), [&] {
    DaemonOptions o;
    o.node_id = "w2";
    o.env = env_;
    o.env.erase("NODE_ID");
    o.env.erase("RINGRIFT_DIR");
    o.env.erase("P2P_PORT");
    return o;
  }(), tmp_.path() + "/w2");
  std::string error;
  ASSERT_TRUE(w2.Start(&error)) << error;
  StartDaemon();
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = daemon_->Status(kToken);
        const MemberInfo* peer = s ? s->Find("w2") : nullptr;
        return SeesLeader(*daemon_) && peer && peer->state == "alive";
      },
      seconds(30)));
  StartFallbackWatchdog();
  leader_->Kill(SIGKILL);
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = daemon_->Status(kToken);
        const MemberInfo* n1 = s ? s->Find("n1") : nullptr;
        return n1 && n1->state == "dead";
      },
      seconds(30)));
  // Past the grace, with many passes: a cut-off rule that ignored w2 would have started by now.
  std::this_thread::sleep_for(seconds(4));
  EXPECT_TRUE(FallbackPids().empty());
  EXPECT_EQ(watchdog_.Log().find("starting fallback"), std::string::npos) << watchdog_.Log();
}

// A datagram socket standing in for systemd's NOTIFY_SOCKET.
class NotifySocket {
 public:
  explicit NotifySocket(std::string path) : path_(std::move(path)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~NotifySocket() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  bool bound() const { return bound_; }
  // Collects datagrams until one contains `what` (true) or the deadline passes.
  bool WaitFor(const std::string& what, milliseconds deadline = milliseconds(20000)) {
    const auto until = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < until) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) != 1) continue;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) continue;
      std::string msg(buf, static_cast<size_t>(n));
      received_ += msg + "|";
      if (msg.find(what) != std::string::npos) return true;
    }
    return false;
  }
  const std::string& received() const { return received_; }

 private:
  std::string path_;
  int fd_ = -1;
  bool bound_ = false;
  std::string received_;
};

TEST_F(WatchdogTest, TheDaemonNotifiesReadyWatchdogAndStopping) {
  NotifySocket sock(tmp_.path() + "/notify.sock");
  ASSERT_TRUE(sock.bound());
  StartDaemon({{"NOTIFY_SOCKET", tmp_.path() + "/notify.sock"}, {"WATCHDOG_USEC", "400000"}});
  EXPECT_TRUE(sock.WaitFor("READY=1")) << sock.received();
  EXPECT_TRUE(sock.WaitFor("WATCHDOG=1")) << sock.received();
  daemon_->Kill(SIGTERM);
  EXPECT_TRUE(sock.WaitFor("STOPPING=1")) << sock.received();
}

TEST_F(WatchdogTest, TheWatchdogNotifiesReadyAndWatchdog) {
  NotifySocket sock(tmp_.path() + "/notify.sock");
  ASSERT_TRUE(sock.bound());
  StartDaemon();
  WatchdogOptions w;
  w.env = {{"NOTIFY_SOCKET", tmp_.path() + "/notify.sock"}, {"WATCHDOG_USEC", "2000000"}};
  StartWatchdog(w);
  EXPECT_TRUE(sock.WaitFor("READY=1")) << sock.received();
  EXPECT_TRUE(sock.WaitFor("WATCHDOG=1\nSTATUS=daemon ok")) << sock.received();
  watchdog_.Stop();
  EXPECT_TRUE(sock.WaitFor("STOPPING=1")) << sock.received();
}

}  // namespace
}  // namespace rift::testing
