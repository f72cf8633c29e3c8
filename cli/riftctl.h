#pragma once
// riftctl as a function: parses `args` (without the program name), runs the selected command and
// returns its exit code (see ExitCode in cli/common.h). Output goes to `out`, diagnostics to
// `err`; `env` stands in for the process environment.
#include <ostream>
#include <string>
#include <vector>

#include "cli/common.h"

namespace rift::cli {

int RunRiftctl(std::vector<std::string> args, std::ostream& out, std::ostream& err,
               Environment env);
inline int RunRiftctl(std::vector<std::string> args, std::ostream& out, std::ostream& err) {
  return RunRiftctl(std::move(args), out, err, ProcessEnvironment());
}

// One registration function per command group (cmd_<group>.cc).
void RegisterStatusCommands(CLI::App& app, Commands& commands);
void RegisterConfigCommands(CLI::App& app, Commands& commands);
void RegisterSyncCommands(CLI::App& app, Commands& commands);
void RegisterCleanupCommands(CLI::App& app, Commands& commands);
void RegisterImprovementCommands(CLI::App& app, Commands& commands);
void RegisterPipelineCommands(CLI::App& app, Commands& commands);
void RegisterSshCommands(CLI::App& app, Commands& commands);
void RegisterJobsCommands(CLI::App& app, Commands& commands);

}  // namespace rift::cli
