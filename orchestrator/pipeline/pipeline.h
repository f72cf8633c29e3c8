#pragma once
// `riftctl pipeline run`: one improvement iteration driven over SSH from a coordinator.
//
//   selfplay  start the selfplay command, detached, on every ready host
//   wait      poll until the hosts have written enough games (this run's output directories)
//   pull      copy every finished data file to the coordinator over SFTP, verified (sha256sum on
//             the host, SHA-256 of the bytes received) into a store named by content: a file
//             pulled twice, or by two runs, is stored once, so records are never duplicated
//   train     stage the store on the training host (if remote), run the train command there
//   eval      play the candidate against the current model (or the baseline when none)
//   promote   when the win rate reaches the threshold, run the promote command
//   push      copy the promoted model to every other ready host (.part, verified, renamed)
//
// The state file is rewritten after every phase and host step. Remote commands run detached
// (see steps.h), so a killed coordinator or a dropped SSH session loses nothing: `--resume`
// re-attaches to what is still running and skips what is done. Transport errors are retried
// with exponential backoff; host key refusals and authentication failures are not.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "orchestrator/base/status.h"
#include "orchestrator/base/time.h"
#include "orchestrator/pipeline/config.h"
#include "orchestrator/pipeline/remote.h"
#include "orchestrator/pipeline/state.h"

namespace rift::pipeline {

// Live progress. Called from the thread running the pipeline.
class Progress {
 public:
  virtual ~Progress() = default;
  virtual void PhaseStart(const std::string& phase, const std::vector<std::string>& hosts) = 0;
  // The current state of one host in this phase ("launched pid 4242", "120/200 games").
  virtual void Host(const std::string& phase, const std::string& host, const std::string& text) = 0;
  // status: done | skipped | failed.
  virtual void PhaseEnd(const std::string& phase, const std::string& status,
                        const std::string& detail) = 0;
  // Something worth a line of its own (a retry, a note).
  virtual void Note(const std::string& text) = 0;
};

// Pauses between polls and retries (tests may shorten them).
class Waiter {
 public:
  virtual ~Waiter() = default;
  virtual void Sleep(Duration d) = 0;
};
Waiter& RealWaiter();

using RemoteFactory = std::function<std::unique_ptr<Remote>(const HostSpec&)>;

struct RunOptions {
  std::string phase;    // "" = every phase not yet done; else only this one (run again if done)
  bool resume = false;  // continue the unfinished run in the state file
  bool fresh = false;   // abandon an unfinished run and start a new one
};

struct RunReport {
  RunState state;
  std::vector<std::string> ran;      // phases run by this call
  std::vector<std::string> skipped;  // phases not run because they were already done
};

// Runs the pipeline. The error of the first failing phase is returned (its state is saved with
// the error). Refuses (kFailedPrecondition) to start a new run over an unfinished one unless
// `resume` or `fresh` says what to do with it, and while another run holds the state file.
Result<RunReport> RunPipeline(const Config& config, const RunOptions& options,
                              const RemoteFactory& factory, Progress& progress, Waiter& waiter,
                              TimeSource& time);

// The pulled-data store on the coordinator: <ringrift_dir>/pipeline/pulled. The pipeline's
// working files stay out of data/ so the data plane does not replicate copies of copies.
std::string LocalStoreDir(const Config& config);

}  // namespace rift::pipeline
