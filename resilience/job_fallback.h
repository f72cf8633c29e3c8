#pragma once
// FallbackJobs on the job runner of orchestrator/jobs: each job is the catalogue kind
// `fallback_selfplay` (jobs: section, else the built-in one), writing into its out_dir (default
// data/selfplay/fallback/<node>/<job_id>), under a shim in its own session with its own log. Jobs
// live in <RINGRIFT_DIR>/state/fallback/<job_id>/, one per slot (a GPU, or the CPU), so a later
// watchdog run counts and stops them by identity (pid + start time), never by name.
#include <memory>
#include <string>
#include <vector>

#include "orchestrator/settings/settings.h"
#include "resilience/fallback.h"

namespace rift::resilience {

struct JobFallbackOptions {
  std::string node_id;
  std::string ringrift_dir;  // absolute
  std::string bin_dir;       // {bin_dir}: where rift-c4 and the daemon are
  settings::JobsSettings jobs;
  // One slot per entry: the GPU index for CUDA_VISIBLE_DEVICES ("0", "1", "mps"), or "" for a
  // CPU job. Empty list = one CPU slot.
  std::vector<std::string> slots;
  // The shim program (`<shim> --job-shim <dir>`); empty = this program, which must call
  // jobs::RunShimIfRequested() first thing in main().
  std::string shim_path;
};

// kInvalidArgument when the catalogue has no usable fallback_selfplay kind.
Result<std::unique_ptr<FallbackJobs>> MakeJobFallback(JobFallbackOptions options);

}  // namespace rift::resilience
