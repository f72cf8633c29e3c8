#pragma once
// The job catalogue: built-in kinds (the bundled example workload, {bin_dir}/rift-c4), merged
// with the configured ones, and the expansion of a kind into one job's command. Pure logic.
//
// Placeholders: the built-ins {gpu} {out_dir} (absolute) {data_dir} {models_dir} {node} {job_id}
// {kind} {ringrift_dir} {bin_dir}, and params: the request's, over the kind's defaults. {seed}
// gets a random value when no param gives one. An optional argv group is dropped when any of
// its placeholders has no value or an empty one; anywhere else a placeholder without a value is
// an error naming it.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "orchestrator/base/status.h"
#include "orchestrator/settings/settings.h"

namespace rift::jobs {

// The built-in kinds: selfplay, gpu_selfplay, fallback_selfplay, training.nnue, training.cmaes,
// eval, promote.
std::vector<settings::JobKind> BuiltinCatalogue();
// Configured kinds replace the built-in kind of the same name; the other built-ins stay.
std::vector<settings::JobKind> MergeCatalogue(const std::vector<settings::JobKind>& configured);

// Values of the built-in placeholders for one job ({out_dir} is computed by BuildCommand).
struct CommandContext {
  std::string node, job_id, ringrift_dir, data_dir, models_dir, bin_dir;
  std::string gpu;  // "0,1", "mps", or "" for a job without GPUs
};

struct Command {
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;  // the kind's env, expanded
  std::string out_dir;                     // relative to the data root, normalised
  std::string out_dir_abs;
  std::string cwd;                            // absolute
  std::map<std::string, std::string> params;  // effective: defaults, request, seed
};

// kInvalidArgument names what is wrong: an unknown placeholder, a missing param, a reserved or
// malformed param name, an out_dir leaving the data root.
Result<Command> BuildCommand(const settings::JobKind& kind,
                             const std::map<std::string, std::string>& request_params,
                             const CommandContext& context, uint64_t seed);

// True for the names BuildCommand fills itself (a request may not set them).
bool IsReservedParam(const std::string& name);

}  // namespace rift::jobs
