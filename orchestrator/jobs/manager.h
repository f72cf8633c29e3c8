#pragma once
// JobManager: the jobs of one node. Starts jobs from the catalogue through the ProcessRunner,
// keeps their records in SQLite (<RINGRIFT_DIR>/state/jobs.db), enforces the node's caps,
// answers idempotent retries with the job they started (keys are persisted, so this holds
// across restarts), re-adopts running jobs after a daemon restart by identity, records exits
// (also those that happened while the daemon was down), parses each job's result (the last
// JSON line of its log) and seals a finished job's output files in the inventory.
//
// Threads: one monitor thread (GPU detection at start, exit detection, stop deadlines,
// retention). StartJob() blocks until the program runs (a few ms; never on the /health path);
// StopJob() only signals: the SIGKILL after the grace comes from the shim (and, should the shim
// be gone, from the monitor thread). Every method is safe from any thread; one mutex guards the
// records and is never held across I/O.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/base/status.h"
#include "orchestrator/jobs/gpu.h"
#include "orchestrator/jobs/process.h"
#include "orchestrator/settings/settings.h"

namespace rift::jobs {

struct ManagerOptions {
  std::string node_id;
  std::string ringrift_dir;  // absolute
  std::string data_root;     // absolute <ringrift_dir>/data
  std::string bin_dir;       // {bin_dir}: where the workload binaries are
  std::string db_path;       // <ringrift_dir>/state/jobs.db
  std::string jobs_dir;      // <ringrift_dir>/state/jobs: one dir per job (log, status)
  settings::JobsSettings settings;
  int max_jobs = 0;  // effective cap (0 = number of CPUs)
  // The jobs' base environment ("K=V"); nullopt = this process's environment. The cluster
  // token, NOTIFY_SOCKET and systemd's LISTEN_* / WATCHDOG_* never reach a job.
  std::optional<std::vector<std::string>> base_env;
  std::function<std::vector<GpuInfo>()> detect_gpus = DetectGpus;
  // Seals one finished output file (path relative to the data root); empty = no sealing.
  std::function<Status(const std::string& rel_path)> seal;
  RunnerOptions runner;
  std::chrono::milliseconds poll_interval{250};  // exit checks for jobs of an earlier daemon
  size_t keep_finished = 1000;                   // finished records (and dirs) kept
};

struct JobRecord {
  std::string id, kind, node;
  std::string state;  // starting | running | exited | failed | stopped | lost
  std::optional<int> exit_code, signal;
  std::string error;
  int pid = 0;
  int64_t created_ms = 0, started_ms = 0, ended_ms = 0;
  std::vector<std::string> argv;
  std::map<std::string, std::string> params;
  std::string out_dir;   // relative to the data root
  std::string log_path;  // absolute
  std::string idempotency_key;
  std::optional<uint64_t> term;
  std::vector<std::string> gpus;
  bool stop_requested = false, timed_out = false;
  std::string result;  // the JSON object from the log's last JSON line ("" = none)
  // Internal bookkeeping (persisted, not shown by the API).
  std::string job_dir;
  Launched launched;
  int64_t timeout_ms = 0;

  bool Finished() const;
};

struct StartRequest {
  std::string kind;
  std::map<std::string, std::string> params;
  std::string idempotency_key;  // "" = none
  std::optional<uint64_t> term;
};

struct StartOutcome {
  JobRecord job;
  bool created = false;  // false: the idempotency key was seen before; this is that job
};

struct JobCounts {
  int running = 0, selfplay = 0, training = 0;
};

class JobManager {
 public:
  // Opens the store and loads the records (running ones are re-checked by the monitor).
  static Result<std::unique_ptr<JobManager>> Open(ManagerOptions options);
  ~JobManager();  // Stop()s; jobs keep running
  JobManager(const JobManager&) = delete;
  JobManager& operator=(const JobManager&) = delete;

  void Start();  // the monitor thread
  void Stop();   // joins it; running jobs are left alone (a later manager re-adopts them)
  // Ends log follows at once (before the HTTP server stops).
  void BeginShutdown();
  bool ShuttingDown() const;

  // kInvalidArgument: unknown kind, bad params or template; kResourceExhausted: a cap (node,
  // kind, or all GPUs busy); kFailedPrecondition: the kind needs GPUs this node lacks, or the
  // program could not be started (the failed job stays listed); kAlreadyExists: the key was used
  // for another kind or other params.
  Result<StartOutcome> StartJob(const StartRequest& request);
  // By id, or else by idempotency key. kNotFound if unknown. A finished job is returned as is.
  Result<JobRecord> StopJob(const std::string& id, const std::string& idempotency_key = "");

  Result<JobRecord> Get(const std::string& id) const;
  // Newest first; empty filters match everything.
  std::vector<JobRecord> List(const std::string& kind = "", const std::string& state = "") const;
  JobCounts Counts() const;
  std::vector<GpuInfo> Gpus() const;
  const std::vector<settings::JobKind>& catalogue() const;
  // Blocks up to `timeout` or until some job changes state (or shutdown begins).
  void WaitForChange(std::chrono::milliseconds timeout) const;

 private:
  struct Impl;
  explicit JobManager(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The result of a job: the JSON object on the last line of its log that holds one ("" = none).
std::string ParseResult(const std::string& log_tail);

}  // namespace rift::jobs
