#pragma once
// Node settings: one struct, loaded from (highest precedence first) flags > environment >
// node.conf > config/distributed_hosts.yaml > defaults. yaml-cpp stays in the .cc files.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "orchestrator/base/priority.h"
#include "orchestrator/base/status.h"
#include "orchestrator/base/time.h"

namespace rift::settings {

// One entry of `hosts:` in distributed_hosts.yaml (the original's keys, plus ours).
struct Host {
  std::string id;
  std::string ssh_host;
  std::string ssh_user;
  int ssh_port = 22;
  std::string ssh_key;
  std::string ringrift_path;
  std::string venv_activate;
  double memory_gb = 0;
  int cpus = 0;
  std::string gpu;
  std::string role;              // selfplay | nn_training | cmaes | all ...
  std::string status = "ready";  // ready | disabled | maintenance
  std::vector<std::string> capabilities;
  int max_parallel_jobs = 0;
  bool p2p_voter = false;
  bool nat_blocked = false;  // outbound-only
  std::string p2p_url;       // ours: where its daemon listens (default http://ssh_host:8770)
  int line = 0;              // line in the YAML file (for error messages)
};

struct Timers {
  std::chrono::milliseconds probe_interval{1000};
  std::chrono::milliseconds probe_timeout{500};
  std::chrono::milliseconds suspicion_min{2000};
  std::chrono::milliseconds suspicion_max{12000};
  std::chrono::milliseconds dead_reap_ttl{600000};
  std::chrono::milliseconds heartbeat_interval{500};
  std::chrono::milliseconds election_timeout{3000};
};
// Named timer profiles: "default" (conservative), "etcd" (100 ms / 1000 ms, etcd's defaults),
// "fast" (50 ms / 250 ms). Returns nullopt for an unknown name.
std::optional<Timers> TimerProfile(const std::string& name);

// One entry of `file_classes:` in distributed_hosts.yaml. Settings does not depend on the
// inventory: the node maps these to inventory::FileClass (same fields, same meaning).
struct FileClassConfig {
  std::string name;
  std::vector<std::string> prefixes;  // relative to the data root, e.g. "selfplay/"
  int replication = 2;                // copies on distinct nodes, >= 1
  bool training_needs_all = false;
  bool protect = false;
  int cleanup_rank = 50;
  int line = 0;  // line in the YAML file (for error messages)
};

// `sync:` in distributed_hosts.yaml.
struct SyncSettings {
  std::chrono::seconds interval{60};      // leader's training + replication rounds
                                          // (RINGRIFT_SYNC_INTERVAL_S)
  std::chrono::seconds quiet_period{30};  // unchanged this long -> sealed
                                          // (RINGRIFT_QUIET_PERIOD_S)
  int max_concurrent_transfers = 4;
  int bandwidth_limit_mbps = 0;          // 0 = no cap
  uint64_t small_file_bytes = 1u << 20;  // files up to this size travel batched
  // `.part` files untouched this long, of no transfer in progress, are removed.
  std::chrono::seconds part_max_age{std::chrono::hours(24)};
  // CPU priority of the data service's threads (scans and hashing, pulls, pushes): they run
  // behind the control plane and jobs (RINGRIFT_SYNC_CPU_PRIORITY; docs/decisions.md 10).
  CpuPriority cpu_priority = CpuPriority::kIdle;
};

// `cleanup:` in distributed_hosts.yaml. Fractions of the data volume; 0 < low < high < 1.
struct CleanupSettings {
  double high_watermark = 0.80;  // start above (RINGRIFT_CLEANUP_HIGH_WATERMARK)
  double low_watermark = 0.70;   // stop at or below (RINGRIFT_CLEANUP_LOW_WATERMARK)
  std::chrono::seconds interval{300};
};

// `jobs:` in distributed_hosts.yaml (docs/jobs.md). Templates (argv words, env values, out_dir,
// cwd) are literal text with {name} placeholders; see SplitTemplate.
//
// One argv item: a word, or an optional group (a nested list in YAML, e.g. [--model, "{model}"])
// that is dropped as a whole when any of its placeholders has no value.
struct JobArg {
  std::vector<std::string> words;
  bool optional = false;
};

// One entry of `jobs.catalogue`: how this node runs one kind of job.
struct JobKind {
  std::string name;  // selfplay, gpu_selfplay, training.nnue, training.cmaes, eval, promote,
                     // fallback_selfplay, or a kind of your own
  std::vector<JobArg> argv;
  std::map<std::string, std::string> env;
  int gpus = 0;                     // GPUs the job needs (assigned through CUDA_VISIBLE_DEVICES)
  std::string out_dir;              // relative to the data root; "" = jobs/{kind}/{node}/{job_id}
  std::string cwd;                  // "" = {ringrift_dir}
  std::chrono::seconds timeout{0};  // 0 = none
  int max_per_node = 0;             // 0 = only the node's cap
  std::map<std::string, std::string> params;  // defaults for request params
  int line = 0;                               // line in the YAML file (for error messages)
};

struct JobsSettings {
  int max_jobs = 8;  // running jobs per node; 0 = number of CPUs (hosts[NODE_ID].max_parallel_jobs
                     // wins when set)
  std::chrono::seconds stop_grace{10};  // SIGTERM -> SIGKILL
  uint64_t log_cap_bytes = 8u << 20;    // per job log (plus one rotated copy)
  // Kinds configured here replace the built-in kind of the same name; the other built-in
  // kinds stay (empty = the built-in defaults only).
  std::vector<JobKind> catalogue;
};

// A template split into literal text and placeholders. "{name}" is a placeholder (name:
// [A-Za-z0-9_.]+), "{{" and "}}" are literal braces. kInvalidArgument names the problem (an
// unclosed or empty placeholder, a stray '}', a bad name).
struct TemplatePiece {
  bool placeholder = false;
  std::string text;  // the literal text, or the placeholder's name
};
Result<std::vector<TemplatePiece>> SplitTemplate(std::string_view text);

// `improvement:` in distributed_hosts.yaml: the leader's selfplay scheduler and the improvement
// loop (docs/improvement.md). The loop's keys are the defaults of POST /improvement/start.
struct ImprovementSettings {
  bool background_selfplay = true;  // keep every node at its target selfplay load
  std::chrono::seconds scheduler_interval{5};
  int selfplay_per_gpu = 1;             // gpu_selfplay jobs per GPU
  int cpu_selfplay_max = 4;             // CPU selfplay jobs per node at most (cpus / 2 below that)
  double memory_pressure_percent = 85;  // above: no new jobs on that node
  int selfplay_games = 200;             // games per background selfplay job
  std::chrono::seconds poll_interval{3};  // outbound-only nodes ask the leader for commands
  std::string training_node;              // "" = the first of TrainingNodeIds()
  int iterations = 2;
  int games_per_iteration = 2000;
  int eval_games = 200;
  double promote_win_rate = 0.55;
  std::string board = "6x7";
  std::chrono::seconds sync_timeout{600};        // then train on what the trainer holds
  std::chrono::seconds distribute_timeout{300};  // then go on without the nodes missing it
  int max_attempts = 3;                          // per stage job
};

// `pipeline:` in distributed_hosts.yaml: what `riftctl pipeline run` does (docs/pipeline.md).
// Empty strings and missing map entries mean the built-in defaults, which run the bundled example
// workload; the pipeline checks the templates' placeholders (settings only checks the keys).
struct PipelineSettings {
  // Shell command templates per step: selfplay, train, eval, eval_baseline, promote.
  std::map<std::string, std::string> commands;
  int games = 200;                  // selfplay games per host and iteration
  int min_games = 0;                // games to wait for in total; 0 = games x selfplay hosts
  int eval_games = 100;             // games of the evaluation match
  double promote_threshold = 0.55;  // the candidate's (wins + draws/2) / games to promote
  // Host id or "local"; default: the first ready host with a training role (IsTrainingRole),
  // else the coordinator itself.
  std::string training_host;
  std::string selfplay_dir;   // template; default {ringrift_path}/data/selfplay/pipeline/{host}
  std::string bin_dir;        // template for remote hosts; default {ringrift_path}/bin
  std::string local_bin_dir;  // the coordinator's workload binaries; default: riftctl's dir
  std::string state_file;     // default $RINGRIFT_DIR/state/pipeline.json
  std::string known_hosts;    // default ~/.ssh/known_hosts
  std::chrono::seconds connect_timeout{10};
  int retries = 3;                                // per SSH operation, after the first try
  std::chrono::milliseconds retry_backoff{1000};  // first pause; doubled per retry
  std::chrono::milliseconds poll_interval{2000};  // how often remote steps are checked
  // Per step (selfplay = the wait for games, train, eval, promote); missing = the default.
  std::map<std::string, std::chrono::seconds> timeouts;
  int line = 0;  // line of `pipeline:` in the YAML file (0 = absent)
};

// `watchdog:` in distributed_hosts.yaml and RINGRIFT_WATCHDOG_* (ringrift-resilience; see
// docs/watchdog.md). Durations accept "500ms", "10s", "5m", "1h" or plain seconds ("0.5").
struct WatchdogSettings {
  Duration interval = std::chrono::seconds(10);         // between passes
  Duration health_timeout = std::chrono::seconds(3);    // one local /health probe
  int down_probes = 2;  // consecutive refused probes: the daemon is down
  int hang_probes = 3;  // consecutive unanswered probes: the daemon is hung
  Duration startup_grace = std::chrono::seconds(60);    // a starting daemon is left alone
  Duration backoff_initial = std::chrono::seconds(5);   // between restarts, doubling
  Duration backoff_max = std::chrono::minutes(5);
  int restart_budget = 5;                               // restarts per window, then stop
  Duration budget_window = std::chrono::hours(1);
  std::string service_manager = "auto";                 // auto | systemd | launchd | none
  std::string daemon_binary;  // for a direct spawn; default: ringrift-p2p beside the watchdog
  bool fallback = true;       // fallback selfplay while disconnected
  Duration disconnect_grace = std::chrono::minutes(3);
  int fallback_max_jobs = 4;  // one per GPU (or one CPU job), at most this many
  Duration register_interval = std::chrono::minutes(5);  // POST /register to the leader
  Duration cleanup_interval = std::chrono::minutes(5);   // at most one cleanup request per
  std::string log_file;                                  // empty: stderr
};

struct Settings {
  std::string node_id;
  int port = 8770;
  std::string bind_host = "0.0.0.0";
  std::string advertise_url;  // default: http://<hostname>:<port>, or loopback if bound there
  std::string coordinator_url;
  std::vector<std::string> extra_peers;
  std::string ringrift_dir = ".";   // state in <dir>/state, data in <dir>/data
  std::vector<std::string> voters;  // RINGRIFT_P2P_VOTERS, else YAML p2p_voters, else hosts
                                    // with p2p_voter: true
  std::string preferred_leader;
  std::string leader_mode = "elected";  // elected | static
  std::string auth_token;               // resolved token (never logged)
  std::string auth_token_file;
  bool require_auth = false;
  int ssh_port = 22;
  std::string hosts_file;  // path of distributed_hosts.yaml actually read ("" = none)
  std::vector<Host> hosts;
  std::string timer_profile = "default";
  Timers timers;
  std::string log_file;  // empty: stderr
  bool outbound_only = false;
  // Data plane. Empty file_classes: the built-in defaults (docs/data-plane.md).
  std::vector<FileClassConfig> file_classes;
  SyncSettings sync;
  CleanupSettings cleanup;
  JobsSettings jobs;
  ImprovementSettings improvement;
  PipelineSettings pipeline;
  WatchdogSettings watchdog;

  // Seed URLs in the order to try: COORDINATOR_URL, EXTRA_PEERS, then hosts' p2p URLs (YAML
  // order; http://<ssh_host>:8770 when p2p_url is unset). Deduplicated (trailing '/' ignored);
  // never contains our own advertise_url or our own host entry.
  std::vector<std::string> Seeds() const;
  // The `hosts:` entry with this id, or nullptr.
  const Host* FindHost(std::string_view id) const;
};

// A problem found while loading, with where it was found. `line` is 0 when not applicable.
struct Problem {
  enum class Severity { kError, kWarning };
  Severity severity = Severity::kError;
  std::string file;  // path, "environment", "flags" or "" (derived)
  int line = 0;
  std::string key;
  std::string message;
  std::string ToString() const;  // "node.conf:3: P2P_PORT: expected an integer, got 'abc'"
                                 // warnings: "node.conf:7: FOO: warning: unknown key"
};

// Training nodes: hosts (not `status: disabled`) whose role contains `nn_training` or is `all`;
// with none, the hosts with the strongest GPU by GpuScore (all of them on a tie); with no GPU
// host either, none. In YAML order.
std::vector<std::string> TrainingNodeIds(const Settings& s);
bool IsTrainingRole(const std::string& role);
// Relative training strength of a `gpu:` string ("H100", "2x RTX 4090", "Apple M2"): 0 for
// empty/none/cpu, a table score for known models (times a leading "Nx" count), 10 for unknown.
double GpuScore(const std::string& gpu);

// True if any problem is an error (warnings alone do not fail a load).
bool HasErrors(const std::vector<Problem>& problems);
// Writes each problem on its own line to stderr; returns how many are errors.
int PrintProblems(const std::vector<Problem>& problems);

// The canonical keys understood in flags, the environment and node.conf, e.g. "NODE_ID".
const std::vector<std::string>& KnownKeys();

// Where settings come from. Unset members mean "not given".
struct Sources {
  std::map<std::string, std::string> flags;   // canonical env-style keys, e.g. "NODE_ID"
  std::map<std::string, std::string> env;     // the process environment (only known keys used)
  std::optional<std::string> node_conf_path;  // --config; default /etc/ringrift/node.conf if
                                              // it exists and use_default_paths
  std::optional<std::string>
      hosts_yaml_path;  // default <RINGRIFT_DIR>/config/distributed_hosts.yaml
  bool use_default_paths = true;
  // False for tools that only need the cluster file (riftctl pipeline, ssh): a missing NODE_ID
  // is then not an error.
  bool require_node_id = true;
};

// Loads and validates. Every problem found is appended to `problems` (all of them, not only the
// first). Returns an error status if any problem is an error.
//
// Per key, the first source that gives a non-empty value wins: an empty value (`KEY=` in
// node.conf, an exported but empty variable) falls through to the next source. Timers: the
// profile (RINGRIFT_TIMER_PROFILE / timers.profile) sets all timers, then each individual
// override is applied from whichever source gives it. SSH_PORT defaults to hosts[NODE_ID].ssh_port
// and RINGRIFT_OUTBOUND_ONLY to hosts[NODE_ID].nat_blocked. Hosts without p2p_url get
// http://<ssh_host>:8770 filled in. An explicitly named file that is missing is an error; a
// default path that is missing is skipped.
Result<Settings> Load(const Sources& sources, std::vector<Problem>* problems);

// Environment of this process, restricted to the keys settings know.
std::map<std::string, std::string> ProcessEnvironment();

// Extra checks for --check-config / `riftctl config check`: token file permissions and
// readability, port availability (binds and releases), voter count (even -> warning), duplicate
// ids. Appends to `problems`.
void CheckDeployment(const Settings& s, std::vector<Problem>* problems);

}  // namespace rift::settings
