#pragma once
// Test harness: real `ringrift-p2p` processes on loopback (or inside network namespaces),
// each in its own temp RINGRIFT_DIR, started with port 0 unless told otherwise. Every wait is
// bounded by a deadline. Used by integration, cluster and benchmark programs.
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace rift::testing {

// A temp directory removed (recursively) on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "rift-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct MemberInfo {
  std::string node_id, url, state;
  uint64_t incarnation = 0;
  bool voter = false;
};

// The parts of GET /status the tests look at.
struct StatusView {
  std::string node_id, role, leader_url;
  std::optional<std::string> leader_id;
  uint64_t term = 0;
  bool quorum = false;
  std::vector<MemberInfo> members;
  size_t CountState(const std::string& state) const;
  const MemberInfo* Find(const std::string& id) const;
};

struct HttpResult {
  int status = 0;  // 0 = transport error
  std::string body;
  std::string error;
};

// HTTP to a URL ("http://host:port"), with optional token.
HttpResult HttpRequest(const std::string& method, const std::string& base_url,
                       const std::string& path, const std::string& token = "",
                       const std::string& body = "",
                       const std::map<std::string, std::string>& headers = {},
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
// The same, made from inside the named network namespace (a forked child joins it).
HttpResult HttpRequestInNetns(const std::string& netns, const std::string& method,
                              const std::string& base_url, const std::string& path,
                              const std::string& token = "", const std::string& body = "",
                              std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));

// The cluster-file section that turns the leader's background selfplay off; tests that write
// their own distributed_hosts.yaml append it (see DaemonOptions::background_selfplay).
inline constexpr char kNoBackgroundSelfplayYaml[] = "improvement:\n  background_selfplay: false\n";

struct DaemonOptions {
  std::string node_id;
  std::map<std::string, std::string> env;  // NODE_ID, RINGRIFT_DIR and P2P_PORT are set for you
  std::vector<std::string> args;
  std::string netns;   // run inside `ip netns exec <netns>`
  std::string host = "127.0.0.1";  // address used to reach it (and BIND_HOST default)
  int port = 0;        // 0 = ephemeral (read back from state/p2p.port)
  // Without RINGRIFT_HOSTS_FILE in `env`, Start writes <dir>/config/distributed_hosts.yaml (if
  // absent) turning the leader's background selfplay off unless this is true: a test starts
  // only the jobs it asks for.
  bool background_selfplay = false;
};

// One daemon process.
class Daemon {
 public:
  Daemon(std::string binary, DaemonOptions options, std::string dir);
  ~Daemon();  // SIGKILL if still running
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Starts and waits until /health answers (bounded). Returns false with a reason in `error`.
  bool Start(std::string* error, std::chrono::milliseconds deadline = std::chrono::seconds(20));
  void Kill(int signal = 9);  // and reap (for 9/15)
  void Signal(int signal);   // no reap (SIGSTOP/SIGCONT)
  bool Running();
  std::optional<StatusView> Status(const std::string& token = "") const;
  // HTTP to this daemon (from inside its netns when it has one).
  HttpResult Request(const std::string& method, const std::string& path,
                     const std::string& token = "", const std::string& body = "") const;
  const std::string& url() const { return url_; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& node_id() const { return options_.node_id; }
  const std::string& dir() const { return dir_; }
  std::string LogTail(size_t bytes = 4000) const;
  DaemonOptions& options() { return options_; }

 private:
  std::string binary_;
  DaemonOptions options_;
  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string url_;
};

// Writes `bytes` bytes of `fill` to `path` (parents created) and back-dates its mtime by
// `age_days` days: data files of a known size and age for sync and cleanup tests.
void WriteFilledFile(const std::string& path, size_t bytes, char fill, int age_days);

// Polls `pred` every `step` until true or `timeout`; returns whether it became true.
bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
             std::chrono::milliseconds step = std::chrono::milliseconds(20));

// Path of the daemon binary under test (from the RIFT_P2P_BINARY compile definition or env).
std::string DaemonBinary();
std::string RiftctlBinary();

// Path of ringrift-resilience (RIFT_RESILIENCE_BINARY compile definition or env).
std::string ResilienceBinary();

// Any program as a child process with a clean environment (only PATH plus `env`), its own
// process group, stdout and stderr appended to `log_path`. SIGKILLed on destruction.
class Process {
 public:
  Process() = default;
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;
  bool Start(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
             const std::string& log_path);
  bool Running();                    // reaps it if it has exited
  std::optional<int> ExitCode() const { return exit_code_; }  // after it exited
  // Sends `signal` and waits (bounded) for the exit; SIGKILL after `grace`. Returns the exit code
  // (or 128 + signal).
  int Stop(int signal = 15, std::chrono::milliseconds grace = std::chrono::seconds(10));
  pid_t pid() const { return pid_; }
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string log_path_;
};

// Runs a command, returns exit code and combined output (bounded by `timeout`).
int RunCommand(const std::vector<std::string>& argv, std::string* output,
               std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace rift::testing
