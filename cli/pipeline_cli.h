#pragma once
// Shared by `riftctl pipeline` and `riftctl ssh`: the cluster file, the SSH options of a host,
// exit codes for pipeline errors and the live progress printers.
#include <memory>
#include <optional>
#include <string>

#include "cli/common.h"
#include "orchestrator/pipeline/pipeline.h"
#include "orchestrator/pipeline/ssh_remote.h"
#include "orchestrator/settings/settings.h"

namespace rift::cli {

// Where the cluster file and node.conf come from (--hosts, --config).
struct ClusterFlags {
  std::string hosts_yaml;
  std::string node_conf;
  std::string known_hosts;  // --known-hosts
};

// Loads settings without requiring NODE_ID. On failure every problem has been printed to
// ctx.err and the exit code is returned instead.
Result<settings::Settings> LoadClusterSettings(Context& ctx, const ClusterFlags& flags);

// The known_hosts file: --known-hosts, else pipeline.known_hosts, else ~/.ssh/known_hosts.
std::string KnownHostsFile(const Context& ctx, const ClusterFlags& flags,
                           const settings::Settings& s);

pipeline::SshOptions SshOptionsFor(const settings::Host& host, const std::string& known_hosts,
                                   std::chrono::seconds connect_timeout);

// 2 for configuration problems, 3 when hosts are unreachable, 1 for everything else.
int PipelineExitCode(const Status& status);

// Progress for a terminal (one line per host, redrawn in place, cut to the width) when
// `terminal_fd` is a terminal (-1: never), else for logs (plain lines, a host's line at most
// every few seconds unless its phase ends).
std::unique_ptr<pipeline::Progress> MakeProgress(std::ostream& out, int terminal_fd);

// The directory riftctl runs from ("" when unknown): the default for pipeline.local_bin_dir.
std::string SelfDir();

}  // namespace rift::cli
