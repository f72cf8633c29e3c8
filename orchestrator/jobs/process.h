#pragma once
// The process runner: starts a job under a tiny supervisor (the "shim") and tells what became of
// it, also for jobs started by an earlier daemon process.
//
//   daemon ──fork+exec──> shim (own session; `<shim_path> --job-shim <job_dir>`)
//                           └─fork+exec──> job (own process group, pgid == job pid)
//
// - Only fds 0 (/dev/null), 1 and 2 (the job's log, O_APPEND) reach the job; the shim also holds
//   fd 3 (its report pipe to the launcher, close-on-exec for the job). Every other descriptor of
//   the launching process (listening sockets included) is closed before the shim runs.
// - The shim waits for the job and writes <job_dir>/status.json atomically (exit code or signal,
//   whether a stop was requested, whether the timeout hit): the exit is recorded even while the
//   daemon is down or restarting. It also enforces the timeout, does the stop sequence (SIGTERM to
//   the group, SIGKILL after the grace), kills whatever is left of the group after the job exits,
//   and caps the log by copytruncate (run.log -> run.log.1, then truncate run.log: the job keeps
//   its O_APPEND descriptor and writes on at offset 0).
// - Identity = pid + kernel start time (+ boot id), never a pid alone, so a reused pid is never
//   mistaken for the job.
//
// Thread-safety: ProcessRunner is safe from several threads. Launch() blocks until the job's
// program is running (exec done) or has failed to start; it never runs on the /health path.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/base/status.h"

namespace rift::jobs {

// Which process, exactly.
struct ProcessIdentity {
  int pid = 0;
  uint64_t start_time = 0;  // Linux: /proc/<pid>/stat field 22 (ticks since boot)
  std::string boot_id;
  bool valid() const { return pid > 0; }
};
// The identity of the live process `pid`; kNotFound if there is none (or it is a zombie).
Result<ProcessIdentity> IdentityOf(int pid);
// True while the very process `id` names runs (same pid, start time and boot; not a zombie).
bool IsAlive(const ProcessIdentity& id);

struct LaunchSpec {
  std::vector<std::string> argv;  // argv[0] without '/' is looked up in the PATH of `env`
  std::vector<std::string> env;   // the job's complete environment, "KEY=VALUE"
  std::string cwd;
  std::string job_dir;  // created; holds spec.json, started.json, status.json, run.log[.1]
  uint64_t log_cap_bytes = 8u << 20;
  std::chrono::milliseconds timeout{0};  // 0 = none; on expiry the shim stops the job
  std::chrono::milliseconds grace{10000};  // SIGTERM -> SIGKILL
};

struct Launched {
  ProcessIdentity job;  // the process group leader
  ProcessIdentity shim;
  int64_t started_ms = 0;  // wall clock
};

struct ExitRecord {
  std::optional<int> exit_code;
  std::optional<int> signal;
  bool stop_requested = false;
  bool timed_out = false;
  std::string error;  // why the program did not start, or what the shim could not do
  int64_t ended_ms = 0;
};

struct RunnerOptions {
  // Run as `<shim_path> --job-shim <job_dir>`; that program must call RunShimIfRequested()
  // first thing in main(). Empty = `ringrift-job-shim` when it sits beside this program, else
  // this program itself (/proc/self/exe).
  std::string shim_path;
  std::chrono::milliseconds start_timeout{10000};
};

enum class JobState {
  kRunning,   // the shim (and so the job) runs
  kExited,    // status.json is there: `exit` says how it ended
  kOrphaned,  // the job runs but its shim is gone (killed): no exit status will come
  kGone,      // neither runs and nothing was recorded
};

class ProcessRunner {
 public:
  explicit ProcessRunner(RunnerOptions options = {});
  ~ProcessRunner();  // closes its pipes; never touches running jobs
  ProcessRunner(const ProcessRunner&) = delete;
  ProcessRunner& operator=(const ProcessRunner&) = delete;

  // Starts the job. kInvalidArgument for an empty argv; kNotFound / kPermissionDenied /
  // kFailedPrecondition when the program cannot be started (the reason says why; status.json
  // records it too); kUnavailable / kInternal when the shim could not be started.
  Result<Launched> Launch(const LaunchSpec& spec);

  // What became of the job of `job_dir` (reaps the shim when it is our own child).
  struct Probe {
    JobState state = JobState::kGone;
    ExitRecord exit;  // for kExited
  };
  Probe Check(const std::string& job_dir, const Launched& launched);

  // Asks the shim to stop the job (SIGTERM to the group, SIGKILL after the grace); with the shim
  // gone, sends SIGTERM to the job's group itself. kNotFound when neither runs.
  Status Stop(const Launched& launched);
  // SIGKILL to the job's group and to the shim (each only if its identity still matches).
  void Kill(const Launched& launched);

  // Blocks up to `timeout`, returning early when a shim started here exits or Wake() is called;
  // reaps the shims started here that have exited. Call it from one thread at a time.
  void WaitForActivity(std::chrono::milliseconds timeout);
  void Wake();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// started.json / status.json of a job dir (nullopt when absent or unreadable).
std::optional<Launched> ReadStarted(const std::string& job_dir);
std::optional<ExitRecord> ReadExit(const std::string& job_dir);

// The job's log (run.log) and its rotated part (run.log.1).
std::string LogPath(const std::string& job_dir);
std::string RotatedLogPath(const std::string& job_dir);
// The last `bytes` bytes of the log, the rotated part first.
std::string ReadLogTail(const std::string& job_dir, uint64_t bytes);

// The hidden shim mode: returns the exit code when argv is `<prog> --job-shim <job_dir>` (after
// running the shim), nullopt otherwise. Call it first thing in main().
std::optional<int> RunShimIfRequested(int argc, char** argv);

// Runs a short command (argv[0] looked up in PATH) with stdin and stderr on /dev/null and
// returns its stdout. kNotFound when the program is missing, kDeadlineExceeded (after killing
// it) when it runs past `timeout`, kFailedPrecondition on a non-zero exit.
Result<std::string> RunCapture(const std::vector<std::string>& argv,
                               std::chrono::milliseconds timeout);

// The absolute path of the running program ("" if unknown).
std::string CurrentExecutable();

// Looks `program` up in a PATH-style list ("" when not found); a name with '/' is returned as is.
std::string FindProgram(const std::string& program, const std::string& path_list);

}  // namespace rift::jobs
