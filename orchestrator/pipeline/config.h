#pragma once
// What one pipeline run needs, resolved from settings (distributed_hosts.yaml `hosts:` and
// `pipeline:`) with the built-in defaults filled in and every template checked up front.
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "orchestrator/base/status.h"
#include "orchestrator/base/time.h"
#include "orchestrator/settings/settings.h"

namespace rift::pipeline {

inline constexpr char kLocalHost[] = "local";

// A host the pipeline uses: a ready host from the YAML, or the coordinator itself ("local").
struct HostSpec {
  std::string id;
  bool local = false;
  std::string ringrift_path;  // absolute
  std::string bin_dir;        // expanded
  std::string selfplay_dir;   // expanded
  settings::Host host;        // the YAML entry (ssh fields); empty for local
};

struct Config {
  std::map<std::string, std::string> commands;  // every step, defaults filled in
  int games = 200;
  int min_games = 0;
  int eval_games = 100;
  double promote_threshold = 0.55;
  std::vector<HostSpec> hosts;  // ready hosts, YAML order
  HostSpec trainer;             // a ready host, or local
  HostSpec local;               // the coordinator
  std::string state_file;
  std::string known_hosts;
  std::chrono::seconds connect_timeout{10};
  int retries = 3;
  Duration retry_backoff = milliseconds(1000);
  Duration poll_interval = milliseconds(2000);
  std::map<std::string, Duration> timeouts;  // selfplay (the wait), train, eval, promote
  Duration exec_timeout = seconds(120);      // one probe, listing or verification command

  const HostSpec* FindHost(const std::string& id) const;
};

// The built-in command templates (they run the bundled example workload `rift-c4`).
const std::map<std::string, std::string>& DefaultCommands();
// The placeholders each step's template may use.
const std::vector<std::string>& AllowedPlaceholders(const std::string& step);

struct ConfigInputs {
  std::string local_bin_dir;         // default for pipeline.local_bin_dir (riftctl's own directory)
  std::string home;                  // for the default known_hosts
  int games_override = 0;            // --games
  std::string state_override;        // --state
  std::string known_hosts_override;  // --known-hosts
};

// Every problem at once (kInvalidArgument, one per line): no ready host, a ready host without
// ssh_host or with a relative ringrift_path, an unknown training host, unknown placeholders.
Result<Config> MakeConfig(const settings::Settings& s, const ConfigInputs& in);

}  // namespace rift::pipeline
