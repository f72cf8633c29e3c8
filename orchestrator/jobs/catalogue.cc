#include "orchestrator/jobs/catalogue.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>

namespace rift::jobs {
namespace {

namespace fs = std::filesystem;
using settings::JobArg;
using settings::JobKind;

// Names the contract documents as params: a missing one is "missing param", anything else
// without a value is an "unknown placeholder".
const std::set<std::string> kWellKnownParams = {"board", "players", "games",     "seed",
                                                "model", "candidate", "baseline", "epochs",
                                                "data"};
const std::set<std::string> kReserved = {"gpu",          "out_dir", "data_dir", "models_dir", "node",
                                         "job_id",       "kind",    "ringrift_dir", "bin_dir"};

JobArg W(std::string w) { return {{std::move(w)}, false}; }
JobArg Opt(std::vector<std::string> words) { return {std::move(words), true}; }

JobKind Kind(std::string name, std::vector<JobArg> argv, std::string out_dir,
             std::map<std::string, std::string> params, int gpus = 0) {
  JobKind k;
  k.name = std::move(name);
  k.argv = std::move(argv);
  k.out_dir = std::move(out_dir);
  k.params = std::move(params);
  k.gpus = gpus;
  return k;
}

// --optional-models: a model path that does not exist yet (before the first promotion) means
// "no model" to rift-c4, so one template serves every iteration.
std::vector<JobArg> SelfplayArgv() {
  return {W("{bin_dir}/rift-c4"), W("selfplay"),  W("--games"),   W("{games}"),
          W("--out-dir"),         W("{out_dir}"), W("--board"),   W("{board}"),
          W("--players"),         W("{players}"), W("--seed"),    W("{seed}"),
          Opt({"--model", "{model}"}), W("--optional-models")};
}

// `method` is rift-c4's trainer: sgd (training.nnue) or es, an evolution strategy
// (training.cmaes, the old system's CMA-ES slot).
std::vector<JobArg> TrainArgv(const char* method) {
  return {W("{bin_dir}/rift-c4"),
          W("train"),
          W("--method"),
          W(method),
          W("--data"),
          W("{data}"),
          W("--out"),
          W("{out_dir}/candidate.model"),
          Opt({"--init", "{model}"}),
          Opt({"--epochs", "{epochs}"}),
          W("--seed"),
          W("{seed}"),
          W("--optional-models")};
}

using Lookup = std::function<std::optional<std::string>(const std::string&)>;

Status NoValue(const std::string& name, const std::string& where) {
  if (kWellKnownParams.count(name) > 0) {
    return InvalidArgument(where + ": missing param '" + name + "' (placeholder {" + name +
                           "}; pass it, or give the kind a default)");
  }
  return InvalidArgument(where + ": unknown placeholder {" + name +
                         "} (not a built-in and no such param)");
}

Result<std::string> Expand(const std::string& text, const Lookup& lookup,
                           const std::string& where) {
  auto pieces = settings::SplitTemplate(text);
  if (!pieces.ok()) return InvalidArgument(where + ": " + pieces.status().message());
  std::string out;
  for (const auto& p : *pieces) {
    if (!p.placeholder) {
      out += p.text;
      continue;
    }
    std::optional<std::string> v = lookup(p.text);
    if (!v) return NoValue(p.text, where);
    out += *v;
  }
  return out;
}

// True when every placeholder of an optional group has a non-empty value.
bool GroupComplete(const JobArg& arg, const Lookup& lookup) {
  for (const auto& w : arg.words) {
    auto pieces = settings::SplitTemplate(w);
    if (!pieces.ok()) return true;  // let Expand report it
    for (const auto& p : *pieces) {
      if (!p.placeholder) continue;
      auto v = lookup(p.text);
      if (!v || v->empty()) return false;
    }
  }
  return true;
}

bool IsParamName(const std::string& n) {
  return !n.empty() && n.size() <= 64 && std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// A relative path inside the data root, normalised; kInvalidArgument otherwise.
Result<std::string> ConfinedDir(const std::string& dir, const std::string& kind) {
  fs::path p = fs::path(dir).lexically_normal();
  std::string s = p.generic_string();
  while (!s.empty() && s.back() == '/') s.pop_back();
  bool escapes = s.empty() || s == "." || p.is_absolute() || s == ".." || s.rfind("../", 0) == 0;
  if (escapes || s.find('\0') != std::string::npos) {
    return InvalidArgument("out_dir of kind " + kind + " expands to '" + dir +
                           "', which is not a directory inside the data root");
  }
  return s;
}

}  // namespace

bool IsReservedParam(const std::string& name) { return kReserved.count(name) > 0; }

std::vector<JobKind> BuiltinCatalogue() {
  std::vector<JobKind> c;
  const std::string current = "{models_dir}/current.model";
  c.push_back(Kind("selfplay", SelfplayArgv(), "selfplay/{node}/{job_id}",
                   {{"games", "200"}, {"board", "6x7"}, {"players", "2"}, {"model", current}}));
  c.push_back(Kind("gpu_selfplay", SelfplayArgv(), "selfplay/gpu/{node}/{job_id}",
                   {{"games", "1000"}, {"board", "6x7"}, {"players", "2"}, {"model", current}},
                   1));
  c.push_back(Kind("fallback_selfplay", SelfplayArgv(), "selfplay/fallback/{node}/{job_id}",
                   {{"games", "200"}, {"board", "6x7"}, {"players", "2"}, {"model", current}}));
  c.push_back(Kind("training.nnue", TrainArgv("sgd"), "training/nnue/{node}/{job_id}",
                   {{"data", "{data_dir}/selfplay"}}));
  c.push_back(Kind("training.cmaes", TrainArgv("es"), "training/cmaes/{node}/{job_id}",
                   {{"data", "{data_dir}/selfplay"}}));
  c.push_back(Kind("eval",
                   {W("{bin_dir}/rift-c4"), W("eval"), W("--candidate"), W("{candidate}"),
                    Opt({"--current", "{model}"}), Opt({"--baseline", "{baseline}"}),
                    W("--games"), W("{games}"), W("--seed"), W("{seed}"),
                    W("--optional-models")},
                   "tmp/eval/{node}/{job_id}", {{"games", "100"}, {"model", current}}));
  c.push_back(Kind("promote",
                   {W("{bin_dir}/rift-c4"), W("promote"), W("--candidate"), W("{candidate}"),
                    W("--models-dir"), W("{models_dir}")},
                   "models", {}));
  return c;
}

std::vector<JobKind> MergeCatalogue(const std::vector<JobKind>& configured) {
  std::vector<JobKind> out = BuiltinCatalogue();
  for (const JobKind& k : configured) {
    auto it = std::find_if(out.begin(), out.end(), [&](const JobKind& b) { return b.name == k.name; });
    if (it != out.end()) {
      *it = k;
    } else {
      out.push_back(k);
    }
  }
  return out;
}

Result<Command> BuildCommand(const JobKind& kind,
                             const std::map<std::string, std::string>& request_params,
                             const CommandContext& ctx, uint64_t seed) {
  std::map<std::string, std::string> builtins = {
      {"gpu", ctx.gpu},         {"data_dir", ctx.data_dir},         {"models_dir", ctx.models_dir},
      {"node", ctx.node},       {"job_id", ctx.job_id},             {"kind", kind.name},
      {"bin_dir", ctx.bin_dir}, {"ringrift_dir", ctx.ringrift_dir}};
  Lookup builtin_only = [&](const std::string& n) -> std::optional<std::string> {
    auto it = builtins.find(n);
    if (it == builtins.end()) return std::nullopt;
    return it->second;
  };
  Command cmd;
  for (const auto& [name, value] : kind.params) {  // defaults may use built-ins (trusted config)
    RIFT_ASSIGN_OR_RETURN(cmd.params[name],
                          Expand(value, builtin_only, "default of param '" + name + "'"));
  }
  for (const auto& [name, value] : request_params) {
    if (!IsParamName(name)) {
      return InvalidArgument("param name '" + name + "' is not [A-Za-z0-9_]+");
    }
    if (IsReservedParam(name)) {
      return InvalidArgument("param '" + name + "' is reserved (the node fills {" + name + "})");
    }
    if (value.find('\0') != std::string::npos) {
      return InvalidArgument("param '" + name + "' contains a NUL byte");
    }
    cmd.params[name] = value;  // request values are taken literally, never expanded
  }
  if (cmd.params.count("seed") == 0) cmd.params["seed"] = std::to_string(seed % 2147483647);
  Lookup lookup = [&](const std::string& n) -> std::optional<std::string> {
    if (auto it = builtins.find(n); it != builtins.end()) return it->second;
    if (auto it = cmd.params.find(n); it != cmd.params.end()) return it->second;
    return std::nullopt;
  };

  const std::string out_template =
      kind.out_dir.empty() ? "jobs/{kind}/{node}/{job_id}" : kind.out_dir;
  RIFT_ASSIGN_OR_RETURN(std::string out, Expand(out_template, lookup, "out_dir"));
  RIFT_ASSIGN_OR_RETURN(cmd.out_dir, ConfinedDir(out, kind.name));
  cmd.out_dir_abs = (fs::path(ctx.data_dir) / cmd.out_dir).lexically_normal().string();
  builtins["out_dir"] = cmd.out_dir_abs;

  for (size_t i = 0; i < kind.argv.size(); ++i) {
    const JobArg& arg = kind.argv[i];
    if (arg.optional && !GroupComplete(arg, lookup)) continue;
    for (const auto& w : arg.words) {
      RIFT_ASSIGN_OR_RETURN(std::string word,
                            Expand(w, lookup, "argv[" + std::to_string(i) + "]"));
      cmd.argv.push_back(std::move(word));
    }
  }
  if (cmd.argv.empty() || cmd.argv[0].empty()) {
    return InvalidArgument("kind " + kind.name + " expands to an empty program");
  }
  for (const auto& [name, value] : kind.env) {
    RIFT_ASSIGN_OR_RETURN(cmd.env[name], Expand(value, lookup, "env." + name));
  }
  RIFT_ASSIGN_OR_RETURN(std::string cwd,
                        Expand(kind.cwd.empty() ? "{ringrift_dir}" : kind.cwd, lookup, "cwd"));
  fs::path cwd_path(cwd);
  cmd.cwd = (cwd_path.is_absolute() ? cwd_path : fs::path(ctx.ringrift_dir) / cwd_path)
                .lexically_normal()
                .string();
  return cmd;
}

}  // namespace rift::jobs
