#pragma once
// Helpers shared by the settings loaders. Not part of the public API: only settings/*.cc include
// this.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "orchestrator/settings/settings.h"

namespace YAML {
class Node;
}

namespace rift::settings::internal {

// One raw value with where it came from, so conversion errors can point at file:line.
struct Value {
  std::string value;
  std::string file;  // path, "environment" or "flags"
  int line = 0;
  std::string name;  // key as spelled in its source ("NODE_ID", "timers.heartbeat_ms")
};
// Canonical key -> value, for one source.
using Layer = std::map<std::string, Value>;

inline constexpr char kDefaultNodeConf[] = "/etc/ringrift/node.conf";
inline constexpr int kDefaultP2pPort = 8770;

// Parses a shell-style KEY=VALUE file. Unknown keys are warnings; malformed lines are errors.
Layer ParseNodeConf(const std::string& path, std::vector<Problem>* problems);

// What distributed_hosts.yaml contributes: the hosts (YAML order) and the top-level settings,
// already mapped to canonical keys (p2p_voters -> RINGRIFT_P2P_VOTERS, comma-joined).
// Data-plane values that only the YAML sets go straight into `file_classes`, `sync` and
// `cleanup`; the ones with an environment override (intervals, watermarks) go to `values`.
struct HostsFile {
  std::vector<Host> hosts;
  Layer values;
  std::vector<FileClassConfig> file_classes;
  SyncSettings sync;
  CleanupSettings cleanup;
  JobsSettings jobs;
  ImprovementSettings improvement;
  PipelineSettings pipeline;
};
HostsFile ParseHostsYaml(const std::string& path, std::vector<Problem>* problems);

Problem MakeError(std::string file, int line, std::string key, std::string message);
Problem MakeWarning(std::string file, int line, std::string key, std::string message);

bool IsKnownKey(std::string_view key);
bool IsValidId(std::string_view id);  // [A-Za-z0-9._-]{1,64}
// http(s)://host[:port][/path]; host may be a bracketed IPv6 literal; port 1..65535.
bool IsValidUrl(std::string_view url);
// Trailing slashes removed, so "http://a:1/" and "http://a:1" compare equal.
std::string NormalizeUrl(std::string_view url);
std::string Trim(std::string_view s);
// Comma-separated list; items trimmed, empty items dropped.
std::vector<std::string> SplitList(std::string_view s);
// " (did you mean 'X'?)" when a candidate is within a small edit distance, else "".
std::string DidYouMean(std::string_view key, const std::vector<std::string>& candidates);
// http://<host>:<port>, bracketing IPv6 literals.
std::string HttpUrl(const std::string& host, int port);

// --- watchdog.cc ---
// "500ms", "10s", "5m", "1h", or plain (possibly fractional) seconds; nullopt if malformed.
std::optional<Duration> ParseDuration(std::string_view text);
std::string FormatDuration(Duration d);  // "10s", "5m", "250ms"
// The canonical RINGRIFT_WATCHDOG_* keys (and RINGRIFT_RESILIENCE_LOG_FILE).
const std::vector<std::string>& WatchdogKeys();
// `watchdog:` in distributed_hosts.yaml, as values under the canonical keys.
void ParseWatchdogYaml(const std::string& path, const YAML::Node& section, Layer* values,
                       std::vector<Problem>* problems);
// Converts and validates the watchdog keys found through `find` (precedence already applied).
void ResolveWatchdog(const std::function<const Value*(const std::string&)>& find,
                     std::vector<Problem>* problems, WatchdogSettings* out);

}  // namespace rift::settings::internal
