#include "orchestrator/pipeline/config.h"

#include <filesystem>

#include "orchestrator/pipeline/template.h"

namespace rift::pipeline {
namespace {

namespace fs = std::filesystem;

constexpr char kDefaultSelfplayDir[] = "{ringrift_path}/data/selfplay/pipeline/{host}";
constexpr char kDefaultBinDir[] = "{ringrift_path}/bin";

std::string Absolute(const std::string& p) {
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  return (ec ? fs::path(p) : abs).lexically_normal().string();
}

std::string TrimSlash(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

}  // namespace

const std::map<std::string, std::string>& DefaultCommands() {
  // `$(test -f ... && echo ...)` adds the flag only when a model has been promoted before.
  static const std::map<std::string, std::string> kCommands = {
      {"selfplay",
       "{bin_dir}/rift-c4 selfplay --games {games} --out-dir {out_dir} --seed {seed}"
       " $(test -f {current_model} && echo --model {current_model})"},
      {"train",
       "{bin_dir}/rift-c4 train --data {data_dir} --out {candidate} --seed {seed}"
       " $(test -f {current_model} && echo --init {current_model})"},
      {"eval",
       "{bin_dir}/rift-c4 eval --candidate {candidate} --current {current_model}"
       " --games {eval_games} --seed {seed}"},
      {"eval_baseline",
       "{bin_dir}/rift-c4 eval --candidate {candidate} --baseline random"
       " --games {eval_games} --seed {seed}"},
      {"promote", "{bin_dir}/rift-c4 promote --candidate {candidate} --models-dir {models_dir}"},
  };
  return kCommands;
}

const std::vector<std::string>& AllowedPlaceholders(const std::string& step) {
  static const std::vector<std::string> kCommon = {
      "host", "ringrift_path", "bin_dir", "run_id", "seed", "models_dir", "current_model"};
  static const std::map<std::string, std::vector<std::string>> kByStep = [] {
    std::map<std::string, std::vector<std::string>> m;
    auto with = [&](std::vector<std::string> extra) {
      std::vector<std::string> v = kCommon;
      v.insert(v.end(), extra.begin(), extra.end());
      return v;
    };
    m["selfplay"] = with({"games", "out_dir"});
    m["train"] = with({"data_dir", "candidate"});
    m["eval"] = with({"candidate", "eval_games"});
    m["eval_baseline"] = m["eval"];
    m["promote"] = with({"candidate"});
    m["selfplay_dir"] = {"host", "ringrift_path"};
    m["bin_dir"] = {"host", "ringrift_path"};
    return m;
  }();
  static const std::vector<std::string> kNone;
  auto it = kByStep.find(step);
  return it == kByStep.end() ? kNone : it->second;
}

const HostSpec* Config::FindHost(const std::string& id) const {
  if (id == kLocalHost) return &local;
  for (const auto& h : hosts) {
    if (h.id == id) return &h;
  }
  return nullptr;
}

Result<Config> MakeConfig(const settings::Settings& s, const ConfigInputs& in) {
  const settings::PipelineSettings& p = s.pipeline;
  std::vector<std::string> problems;
  auto problem = [&](const std::string& m) { problems.push_back(m); };
  const std::string where = s.hosts_file.empty() ? "pipeline" : s.hosts_file;

  Config c;
  c.commands = DefaultCommands();
  for (const auto& [step, text] : p.commands) c.commands[step] = text;
  for (const auto& [step, text] : c.commands) {
    Status st = CheckPlaceholders("pipeline.commands." + step, text, AllowedPlaceholders(step));
    if (!st.ok()) problem(st.message());
  }
  const std::string selfplay_tmpl = p.selfplay_dir.empty() ? kDefaultSelfplayDir : p.selfplay_dir;
  const std::string bin_tmpl = p.bin_dir.empty() ? kDefaultBinDir : p.bin_dir;
  for (const auto& [name, tmpl] :
       {std::pair<std::string, std::string>{"selfplay_dir", selfplay_tmpl},
        {"bin_dir", bin_tmpl}}) {
    Status st = CheckPlaceholders("pipeline." + name, tmpl, AllowedPlaceholders(name));
    if (!st.ok()) problem(st.message());
  }

  c.games = in.games_override > 0 ? in.games_override : p.games;
  c.min_games = p.min_games;
  c.eval_games = p.eval_games;
  c.promote_threshold = p.promote_threshold;
  c.connect_timeout = p.connect_timeout;
  c.retries = p.retries;
  c.retry_backoff = p.retry_backoff;
  c.poll_interval = p.poll_interval;
  c.timeouts = {{"selfplay", std::chrono::hours(4)},
                {"train", std::chrono::hours(8)},
                {"eval", std::chrono::hours(2)},
                {"promote", std::chrono::minutes(10)}};
  for (const auto& [step, t] : p.timeouts) c.timeouts[step] = t;

  const std::string local_dir = Absolute(s.ringrift_dir.empty() ? "." : s.ringrift_dir);
  c.local.id = kLocalHost;
  c.local.local = true;
  c.local.ringrift_path = local_dir;
  c.local.bin_dir = TrimSlash(p.local_bin_dir.empty() ? in.local_bin_dir : p.local_bin_dir);
  c.state_file = !in.state_override.empty() ? in.state_override
                 : !p.state_file.empty()    ? p.state_file
                                            : local_dir + "/state/pipeline.json";
  c.known_hosts = !in.known_hosts_override.empty() ? in.known_hosts_override
                  : !p.known_hosts.empty()         ? p.known_hosts
                                                   : in.home + "/.ssh/known_hosts";

  for (const auto& h : s.hosts) {
    if (h.status != "ready") continue;
    HostSpec spec;
    spec.id = h.id;
    spec.host = h;
    spec.ringrift_path = TrimSlash(h.ringrift_path);
    const std::string at = where + ":" + std::to_string(h.line) + ": hosts." + h.id;
    if (h.ssh_host.empty()) problem(at + ": a ready host needs ssh_host");
    if (spec.ringrift_path.empty() || spec.ringrift_path.front() != '/') {
      problem(at + ".ringrift_path: the pipeline needs an absolute path, got '" + h.ringrift_path +
              "'");
    }
    Vars vars = {{"host", h.id}, {"ringrift_path", spec.ringrift_path}};
    auto bin = Expand(bin_tmpl, vars, false);
    auto dir = Expand(selfplay_tmpl, vars, false);
    if (bin.ok()) spec.bin_dir = TrimSlash(*bin);
    if (dir.ok()) spec.selfplay_dir = TrimSlash(*dir);
    c.hosts.push_back(std::move(spec));
  }
  if (c.hosts.empty()) {
    problem(where +
            ": no host with status: ready (the pipeline runs selfplay on every ready host)");
  }

  if (!p.training_host.empty() && p.training_host != kLocalHost) {
    const HostSpec* t = c.FindHost(p.training_host);
    if (t == nullptr) {
      problem(where + ": pipeline.training_host '" + p.training_host +
              "' is not a ready host (use a ready host id or 'local')");
    } else {
      c.trainer = *t;
    }
  } else if (p.training_host.empty()) {
    for (const auto& h : c.hosts) {
      if (settings::IsTrainingRole(h.host.role)) {  // nn_training or all, as the data plane

        c.trainer = h;
        break;
      }
    }
  }
  if (c.trainer.id.empty()) c.trainer = c.local;
  if (c.trainer.local && c.trainer.bin_dir.empty()) {
    problem("pipeline.local_bin_dir: unknown (cannot tell where riftctl is installed); set it");
  }

  if (!problems.empty()) {
    std::string msg;
    for (const auto& m : problems) msg += (msg.empty() ? "" : "\n") + m;
    return InvalidArgument(msg);
  }
  return c;
}

}  // namespace rift::pipeline
