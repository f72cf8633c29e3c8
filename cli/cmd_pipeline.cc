// riftctl pipeline run | status: the SSH-driven improvement iteration (docs/pipeline.md).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/output.h"
#include "cli/pipeline_cli.h"
#include "cli/riftctl.h"
#include "orchestrator/pipeline/local_remote.h"
#include "orchestrator/pipeline/ssh_remote.h"

namespace rift::cli {
namespace {

using json = nlohmann::json;

struct RunFlags {
  ClusterFlags cluster;
  std::string phase;
  bool resume = false;
  bool fresh = false;
  int games = 0;
  std::string state;
};

json PhaseJson(const pipeline::PhaseState& p) {
  json hosts = json::object();
  for (const auto& [id, h] : p.hosts) {
    hosts[id] = {{"status", h.status},
                 {"attempt", h.attempt},
                 {"games", h.games},
                 {"detail", h.detail},
                 {"error", h.error}};
  }
  return {{"status", p.status},
          {"attempt", p.attempt},
          {"detail", p.detail},
          {"error", p.error},
          {"hosts", std::move(hosts)}};
}

uint64_t StoredRecords(const pipeline::RunState& s, uint64_t* files) {
  std::map<std::string, uint64_t> by_sha;  // one count per content
  for (const auto& [key, f] : s.pulled) by_sha[f.sha256] = f.records;
  uint64_t records = 0;
  for (const auto& [sha, n] : by_sha) records += n;
  *files = by_sha.size();
  return records;
}

json SummaryJson(const pipeline::RunState& s, const std::string& state_file,
                 const std::vector<std::string>& ran, const std::vector<std::string>& skipped,
                 const Status& status) {
  json phases = json::object();
  for (const auto& name : pipeline::PhaseNames()) {
    if (const auto* p = s.FindPhase(name)) phases[name] = PhaseJson(*p);
  }
  uint64_t files = 0;
  uint64_t records = StoredRecords(s, &files);
  json j = {{"ok", status.ok()},
            {"run_id", s.run_id},
            {"state_file", state_file},
            {"completed", s.completed},
            {"next_phase", s.NextPhase()},
            {"ran", ran},
            {"skipped", skipped},
            {"hosts", s.hosts},
            {"training_host", s.training_host},
            {"target_games", s.target_games},
            {"pulled_files", files},
            {"pulled_records", records},
            {"candidate_sha", s.candidate_sha},
            {"eval_mode", s.eval_mode},
            {"promoted", s.promoted},
            {"model_sha", s.model_sha},
            {"phases", std::move(phases)}};
  j["win_rate"] = s.win_rate ? json(*s.win_rate) : json(nullptr);
  if (!status.ok()) {
    j["error"] = {{"code", std::string(CodeName(status.code()))}, {"message", status.message()}};
  }
  return j;
}

void PrintSummary(std::ostream& out, const pipeline::RunState& s, const std::string& state_file) {
  std::string phases;
  for (const auto& name : pipeline::PhaseNames()) {
    const auto* p = s.FindPhase(name);
    phases += (phases.empty() ? "" : "  ") + name + ":" + (p ? p->status : "pending");
  }
  uint64_t files = 0;
  uint64_t records = StoredRecords(s, &files);
  std::vector<std::pair<std::string, std::string>> rows = {
      {"run", s.run_id + (s.completed ? " (completed)" : " (next: " + s.NextPhase() + ")")},
      {"state", state_file},
      {"phases", phases},
      {"pulled", std::to_string(records) + " records in " + std::to_string(files) + " files"}};
  if (s.win_rate) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", *s.win_rate);
    rows.push_back({"win rate", std::string(buf) + " vs " + s.eval_mode});
  }
  rows.push_back({"model", s.promoted ? "promoted " + s.model_sha.substr(0, 12) : "unchanged"});
  PrintKeyValues(out, rows);
}

Result<pipeline::Config> ResolveConfig(Context& ctx, const RunFlags& f) {
  RIFT_ASSIGN_OR_RETURN(settings::Settings s, LoadClusterSettings(ctx, f.cluster));
  pipeline::ConfigInputs in;
  in.local_bin_dir = SelfDir();
  in.home = ctx.Env("HOME").empty() ? pipeline::ExpandHome("~") : ctx.Env("HOME");
  in.games_override = f.games;
  in.state_override = f.state;
  in.known_hosts_override = KnownHostsFile(ctx, f.cluster, s);
  return pipeline::MakeConfig(s, in);
}

int RunPipelineCommand(Context& ctx, const RunFlags& f) {
  Result<pipeline::Config> config = ResolveConfig(ctx, f);
  if (!config.ok()) {
    ctx.err << "riftctl: pipeline configuration: " << config.status().message() << '\n';
    return kExitUsage;
  }
  const pipeline::Config& c = *config;
  pipeline::RemoteFactory factory =
      [&c](const pipeline::HostSpec& h) -> std::unique_ptr<pipeline::Remote> {
    if (h.local) return std::make_unique<pipeline::LocalRemote>();
    return std::make_unique<pipeline::SshRemote>(
        SshOptionsFor(h.host, c.known_hosts, c.connect_timeout));
  };
  // Live progress goes to stdout, or to stderr when stdout carries the JSON summary.
  std::ostream& live = ctx.json() ? ctx.err : ctx.out;
  const int fd = ctx.json() ? (&ctx.err == &std::cerr ? STDERR_FILENO : -1)
                            : (&ctx.out == &std::cout ? STDOUT_FILENO : -1);
  std::unique_ptr<pipeline::Progress> progress = MakeProgress(live, fd);
  pipeline::RunOptions options;
  options.phase = f.phase;
  options.resume = f.resume;
  options.fresh = f.fresh;
  Result<pipeline::RunReport> report =
      pipeline::RunPipeline(c, options, factory, *progress, pipeline::RealWaiter(), RealTime());

  pipeline::RunState state;
  std::vector<std::string> ran, skipped;
  if (report.ok()) {
    state = report->state;
    ran = report->ran;
    skipped = report->skipped;
  } else if (auto saved = pipeline::LoadState(c.state_file); saved.ok() && saved->has_value()) {
    state = **saved;
  }
  if (ctx.json()) {
    ctx.out << SummaryJson(state, c.state_file, ran, skipped, report.status()).dump(2) << '\n';
  } else if (!state.run_id.empty()) {
    PrintSummary(ctx.out, state, c.state_file);
  }
  if (!report.ok()) {
    ctx.err << "riftctl: pipeline: " << report.status().message() << '\n';
    return PipelineExitCode(report.status());
  }
  return kExitOk;
}

int StatusCommand(Context& ctx, const RunFlags& f) {
  std::string path = f.state;
  if (path.empty()) {
    Result<pipeline::Config> config = ResolveConfig(ctx, f);
    if (!config.ok()) {
      ctx.err << "riftctl: pipeline configuration: " << config.status().message() << '\n';
      return kExitUsage;
    }
    path = config->state_file;
  }
  auto loaded = pipeline::LoadState(path);
  if (!loaded.ok()) return ReportStatus(ctx, loaded.status());
  if (!loaded->has_value()) {
    ctx.err << "riftctl: no pipeline state in " << path << '\n';
    return kExitRemote;
  }
  const pipeline::RunState& s = **loaded;
  if (ctx.json()) {
    ctx.out << SummaryJson(s, path, {}, {}, Status::Ok()).dump(2) << '\n';
    return kExitOk;
  }
  PrintSummary(ctx.out, s, path);
  ctx.out << '\n';
  Table t({"PHASE", "HOST", "STATUS", "TRY", "DETAIL"});
  for (const auto& name : pipeline::PhaseNames()) {
    const auto* p = s.FindPhase(name);
    if (p == nullptr) continue;
    t.AddRow({name, "", p->status, p->attempt ? std::to_string(p->attempt) : "",
              p->error.empty() ? p->detail : p->error});
    for (const auto& [id, h] : p->hosts) {
      t.AddRow({"", id, h.status, h.attempt ? std::to_string(h.attempt) : "",
                h.error.empty() ? h.detail : h.error});
    }
  }
  t.Print(ctx.out);
  return kExitOk;
}

void AddClusterOptions(CLI::App* cmd, ClusterFlags* f) {
  cmd->add_option("--hosts", f->hosts_yaml,
                  "distributed_hosts.yaml (default: $RINGRIFT_DIR/config/distributed_hosts.yaml)");
  cmd->add_option("--config", f->node_conf,
                  "node.conf (default: /etc/ringrift/node.conf when present)");
  cmd->add_option("--known-hosts", f->known_hosts,
                  "known_hosts file (default: pipeline.known_hosts, else ~/.ssh/known_hosts)");
}

}  // namespace

void RegisterPipelineCommands(CLI::App& app, Commands& commands) {
  CLI::App* pipeline = app.add_subcommand("pipeline", "SSH-driven improvement iteration");
  pipeline->require_subcommand(1);

  auto run_flags = std::make_shared<RunFlags>();
  CLI::App* run = pipeline->add_subcommand(
      "run", "selfplay -> wait -> pull -> train -> eval -> promote -> push over SSH");
  AddClusterOptions(run, &run_flags->cluster);
  run->add_option("--phase", run_flags->phase,
                  "Run only this phase (again, if it is done): selfplay, wait, pull, train, "
                  "eval, promote, push");
  auto* resume = run->add_flag("--resume", run_flags->resume,
                               "Continue the unfinished run in the state file (skips finished "
                               "phases, re-attaches to remote steps still running)");
  run->add_flag("--fresh", run_flags->fresh, "Start a new run even if one is unfinished")
      ->excludes(resume);
  run->add_option("--games", run_flags->games, "Selfplay games per host (default: pipeline.games)")
      ->check(CLI::PositiveNumber);
  run->add_option("--state", run_flags->state,
                  "State file (default: pipeline.state_file, else $RINGRIFT_DIR/state/"
                  "pipeline.json)");
  commands.Add(run, [run_flags](Context& ctx) { return RunPipelineCommand(ctx, *run_flags); });

  auto status_flags = std::make_shared<RunFlags>();
  CLI::App* status = pipeline->add_subcommand("status", "Show the state file of the last run");
  AddClusterOptions(status, &status_flags->cluster);
  status->add_option("--state", status_flags->state, "State file");
  commands.Add(status, [status_flags](Context& ctx) { return StatusCommand(ctx, *status_flags); });
}

}  // namespace rift::cli
