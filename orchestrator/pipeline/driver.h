#pragma once
// Internal to orchestrator/pipeline: the object behind RunPipeline, shared by pipeline.cc
// (control flow, retries, detached steps, state) and the phases_*.cc files.
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "orchestrator/pipeline/pipeline.h"
#include "orchestrator/pipeline/steps.h"
#include "orchestrator/pipeline/template.h"

namespace rift::pipeline::internal {

// What a finished detached step left behind.
struct StepResult {
  int exit_code = 0;
  StepOutput output;
  std::string result_line;  // the last JSON line of its stdout ("" when none)
};

class Driver {
 public:
  Driver(const Config& config, const RunOptions& options, const RemoteFactory& factory,
         Progress& progress, Waiter& waiter, TimeSource& time)
      : config_(config),
        options_(options),
        factory_(factory),
        progress_(progress),
        waiter_(waiter),
        time_(time) {}

  Result<RunReport> Run();

  // Phases (phases_data.cc, phases_model.cc). Each leaves the phase's detail in state.
  Status Selfplay();
  Status Wait();
  Status Pull();
  Status Train();
  Status Eval();
  Status Promote();
  Status Push();

  // --- helpers (pipeline.cc) ---
  const Config& config() const { return config_; }
  RunState& state() { return state_; }
  PhaseState& phase() { return state_.Phase(current_phase_); }
  Progress& progress() { return progress_; }
  Remote& RemoteFor(const HostSpec& host);
  Status Save();
  // Saves at most every second (for per-file bookkeeping; phases end with Save()).
  Status SaveSoon();
  void HostUpdate(const std::string& host, const std::string& text);

  // Runs `fn` (returning Status or Result) against `host`, retrying transport errors
  // (kUnavailable) with exponential backoff; the last error is returned.
  template <typename Fn>
  auto Retry(const HostSpec& host, const std::string& what, Fn fn) -> decltype(fn(RemoteFor(host)));

  // Exec that treats a non-zero exit as an error (with stderr in the message).
  Result<std::string> Check(const HostSpec& host, const std::string& what,
                            const std::string& script);

  // Placeholders for `host`, for command templates.
  Vars VarsFor(const HostSpec& host, const std::string& step, int attempt) const;
  std::string StepDir(const HostSpec& host, const std::string& step, int attempt) const;
  std::string ModelsDir(const HostSpec& host) const { return host.ringrift_path + "/data/models"; }
  std::string DataDir(const HostSpec& host) const;
  std::string CandidatePath(const HostSpec& host) const;
  std::string OutDir(const HostSpec& host) const { return host.selfplay_dir + "/" + state_.run_id; }

  // Starts `step` (already expanded) on `host` detached, or attaches to it; returns its pid.
  Result<LaunchReply> Launch(const HostSpec& host, const std::string& step, int attempt,
                             const std::string& command);
  Result<Probe> ProbeStep(const HostSpec& host, const std::string& step, int attempt,
                          const std::string& games_dir);
  // Launches (or attaches), then polls until it ends or `timeout` passes (then kills it).
  Result<StepResult> RunStep(const HostSpec& host, const std::string& step, int attempt,
                             const std::string& command, Duration timeout);
  Result<StepOutput> ReadOutput(const HostSpec& host, const std::string& step, int attempt);
  // sha256 of files on the host (missing files are absent from the map).
  Result<std::map<std::string, std::string>> RemoteSha256(const HostSpec& host,
                                                          const std::vector<std::string>& paths);
  // Uploads `local` to `remote` via `remote`.part-<run>, verified on the host, then renamed.
  Status PutVerified(const HostSpec& host, const std::string& local, const std::string& remote,
                     const std::string& sha256);
  // Downloads `remote` into `local` via `local`.part, verified against `sha256`, renamed.
  Result<Transferred> GetVerified(const HostSpec& host, const std::string& remote,
                                  const std::string& local, const std::string& sha256);

 private:
  Status RunPhase(const std::string& name);
  Result<RunState> NewRun(const std::optional<RunState>& previous);

  const Config& config_;
  const RunOptions& options_;
  const RemoteFactory& factory_;
  Progress& progress_;
  Waiter& waiter_;
  TimeSource& time_;
  RunState state_;
  std::string current_phase_;
  std::map<std::string, std::unique_ptr<Remote>> remotes_;
  TimePoint last_save_{};
  uint64_t jitter_ = 0x9e3779b97f4a7c15ull;
};

template <typename Fn>
auto Driver::Retry(const HostSpec& host, const std::string& what, Fn fn)
    -> decltype(fn(RemoteFor(host))) {
  Duration pause = config_.retry_backoff;
  for (int attempt = 0;; ++attempt) {
    auto r = fn(RemoteFor(host));
    Status st;
    if constexpr (std::is_same_v<decltype(r), Status>) {
      st = r;
    } else {
      st = r.status();
    }
    if (st.code() != Code::kUnavailable || attempt >= config_.retries) return r;
    RemoteFor(host).Disconnect();
    // Up to 25% jitter so hosts that failed together do not retry together.
    jitter_ = jitter_ * 6364136223846793005ull + 1442695040888963407ull;
    Duration wait = pause + pause * static_cast<int64_t>(jitter_ >> 62) / 8;
    progress_.Note(host.id + ": " + what + ": " + st.message() + "; retry " +
                   std::to_string(attempt + 1) + "/" + std::to_string(config_.retries) + " in " +
                   std::to_string(ToMillis(wait)) + " ms");
    waiter_.Sleep(wait);
    pause = std::min<Duration>(pause * 2, seconds(60));
  }
}

// "exit 3: <last line of stderr>" for messages.
std::string ExitSummary(int exit_code, const std::string& err);

}  // namespace rift::pipeline::internal
