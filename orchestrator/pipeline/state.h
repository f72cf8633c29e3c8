#pragma once
// The pipeline's durable state: one JSON file, rewritten atomically (temp + fsync + rename +
// directory fsync) after every phase and every host step, so a killed `riftctl pipeline run`
// resumes exactly where it was. nlohmann stays in state.cc.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "orchestrator/base/status.h"

namespace rift::pipeline {

// The phases, in order.
inline const std::vector<std::string>& PhaseNames() {
  static const std::vector<std::string> kNames = {"selfplay", "wait",    "pull", "train",
                                                  "eval",     "promote", "push"};
  return kNames;
}
bool IsPhase(std::string_view name);

// Status strings used for phases and host steps.
inline constexpr char kPending[] = "pending";
inline constexpr char kStarting[] = "starting";  // a host step about to be launched
inline constexpr char kRunning[] = "running";
inline constexpr char kDone[] = "done";
inline constexpr char kFailed[] = "failed";
inline constexpr char kSkipped[] = "skipped";

struct HostStep {
  std::string status = kPending;
  int attempt = 0;  // detached step attempt (names its directory on the host)
  int64_t pid = 0;
  int64_t games = 0;
  std::string detail;  // what happened, for humans
  std::string error;
  std::string error_code;  // CodeName of the error; UNAVAILABLE = the step may still be running
};

struct PhaseState {
  std::string status = kPending;
  int attempt = 0;  // for single-host steps (train, eval, promote)
  int64_t started_ms = 0;
  int64_t ended_ms = 0;
  std::string detail;
  std::string error;
  std::string error_code;  // as in HostStep
  std::map<std::string, HostStep> hosts;
};

// One data file pulled from a host into the coordinator's content-addressed store.
struct PulledFile {
  std::string sha256;
  uint64_t bytes = 0;
  uint64_t records = 0;  // lines
  int64_t mtime = 0;     // the host's mtime when hashed (a changed file is hashed again)
  std::string run_id;    // the run that pulled it
};

struct RunState {
  int version = 1;
  std::string run_id;
  int64_t created_ms = 0;
  int64_t updated_ms = 0;
  bool completed = false;
  int games = 0;                   // selfplay games per host
  int64_t target_games = 0;        // what the wait phase waits for (fixed when selfplay starts)
  std::vector<std::string> hosts;  // the ready hosts when the run started (fixed for the run)
  std::string training_host;       // host id or "local"
  std::map<std::string, PhaseState> phases;
  // "<host>:<path>" -> file. Carried over into the next run so unchanged files are not hashed
  // again; the store itself (named by content) is what prevents duplicates.
  std::map<std::string, PulledFile> pulled;
  std::string candidate_sha;
  std::string train_result;  // the workload's last JSON line
  std::string eval_mode;     // "current" or "baseline"
  std::string eval_result;
  std::optional<double> win_rate;
  std::optional<bool> promote;  // the decision, once eval is done
  bool promoted = false;
  std::string model_sha;  // the promoted model

  PhaseState& Phase(const std::string& name) { return phases[name]; }
  const PhaseState* FindPhase(const std::string& name) const;
  // The first phase that is neither done nor skipped ("" when none).
  std::string NextPhase() const;
};

std::string EncodeState(const RunState& state);
// kInvalidArgument naming `where` when the text is not a state file of a known version.
Result<RunState> DecodeState(std::string_view text, const std::string& where);

// nullopt when the file does not exist.
Result<std::optional<RunState>> LoadState(const std::string& path);
// Atomic replace; parents created.
Status SaveState(const std::string& path, const RunState& state);

// An exclusive lock on `<path>.lock` for the life of the object: two pipeline runs on one
// state file would race each other's hosts.
class StateLock {
 public:
  static Result<StateLock> Acquire(const std::string& state_path);
  StateLock(StateLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  StateLock& operator=(StateLock&&) = delete;
  StateLock(const StateLock&) = delete;
  ~StateLock();

 private:
  explicit StateLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace rift::pipeline
