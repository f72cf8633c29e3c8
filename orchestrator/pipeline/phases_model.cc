// Phases that make and ship a model: train, eval, promote, push.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "orchestrator/pipeline/driver.h"
#include "orchestrator/pipeline/hashing.h"

namespace rift::pipeline::internal {
namespace {

namespace fs = std::filesystem;

std::string Short(const std::string& sha) { return sha.substr(0, 12); }

// " <text>" cut to a line's worth (the full result line stays in the state file).
std::string Abbrev(const std::string& text) {
  if (text.empty()) return "";
  return " " + (text.size() <= 100 ? text : text.substr(0, 97) + "...");
}

std::string Fixed(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

}  // namespace

Status Driver::Train() {
  PhaseState& p = phase();
  const HostSpec& t = *config_.FindHost(state_.training_host);
  if (!t.local) {
    // Stage the store on the training host. Names are content hashes and a file only gets its
    // final name once verified there, so a name that exists is a complete, correct copy.
    const std::string store = LocalStoreDir(config_);
    const std::string remote_dir = DataDir(t);
    auto present = Retry(t, "listing", [&](Remote& r) { return r.List(remote_dir, ".jsonl"); });
    if (!present.ok()) return present.status();
    std::set<std::string> have;
    for (const auto& f : *present) have.insert(f.path.substr(remote_dir.size()));
    std::vector<fs::path> todo;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(store, ec), end; !ec && it != end; it.increment(ec)) {
      const fs::path& path = it->path();
      if (!it->is_regular_file() || path.extension() != ".jsonl") continue;
      if (have.count("/" + fs::relative(path, store).string()) == 0) todo.push_back(path);
    }
    size_t sent = 0;
    for (const auto& path : todo) {
      const std::string sha = path.stem().string();
      if (!IsSha256Hex(sha)) continue;  // not ours
      HostUpdate(t.id,
                 "staging data " + std::to_string(++sent) + "/" + std::to_string(todo.size()));
      RIFT_RETURN_IF_ERROR(PutVerified(t, path.string(),
                                       remote_dir + "/" + fs::relative(path, store).string(), sha));
    }
    HostUpdate(t.id, "staged " + std::to_string(sent) + " new files (" +
                         std::to_string(have.size() + sent) + " in all)");
  }
  auto cmd = Expand(config_.commands.at("train"), VarsFor(t, "train", p.attempt), true);
  if (!cmd.ok()) return cmd.status();
  RIFT_ASSIGN_OR_RETURN(StepResult r,
                        RunStep(t, "train", p.attempt, *cmd, config_.timeouts.at("train")));
  if (r.exit_code != 0) {
    return Internal(t.id + ": train failed (" + ExitSummary(r.exit_code, r.output.err_tail) + ")");
  }
  state_.train_result = r.result_line;
  const std::string candidate = CandidatePath(t);
  RIFT_ASSIGN_OR_RETURN(auto sums, RemoteSha256(t, {candidate}));
  if (sums.count(candidate) == 0) {
    return Internal(t.id + ": train exited 0 but wrote no candidate at " + candidate);
  }
  state_.candidate_sha = sums[candidate];
  p.detail = "candidate " + Short(state_.candidate_sha) + Abbrev(r.result_line);
  HostUpdate(t.id, p.detail);
  return Status::Ok();
}

Status Driver::Eval() {
  PhaseState& p = phase();
  const HostSpec& t = *config_.FindHost(state_.training_host);
  if (state_.candidate_sha.empty()) {
    return FailedPrecondition("no candidate to evaluate: run the train phase first");
  }
  const std::string current = ModelsDir(t) + "/current.model";
  RIFT_ASSIGN_OR_RETURN(auto sums, RemoteSha256(t, {current, CandidatePath(t)}));
  if (sums[CandidatePath(t)] != state_.candidate_sha) {
    return FailedPrecondition(t.id + ": the candidate " + CandidatePath(t) +
                              " is missing or changed since training");
  }
  const bool against_current = sums.count(current) > 0;
  const std::string step = against_current ? "eval" : "eval_baseline";
  state_.eval_mode = against_current ? "current" : "baseline";
  auto cmd = Expand(config_.commands.at(step), VarsFor(t, "eval", p.attempt), true);
  if (!cmd.ok()) return cmd.status();
  RIFT_ASSIGN_OR_RETURN(StepResult r,
                        RunStep(t, "eval", p.attempt, *cmd, config_.timeouts.at("eval")));
  if (r.exit_code != 0) {
    return Internal(t.id + ": eval failed (" + ExitSummary(r.exit_code, r.output.err_tail) + ")");
  }
  nlohmann::json j = nlohmann::json::parse(r.result_line, nullptr, false);
  if (!j.is_object() || !j.contains("win_rate") || !j["win_rate"].is_number()) {
    return Internal(t.id + ": eval printed no JSON line with a numeric win_rate (last line: '" +
                    r.result_line + "')");
  }
  state_.eval_result = r.result_line;
  state_.win_rate = j["win_rate"].get<double>();
  state_.promote = *state_.win_rate >= config_.promote_threshold;
  p.detail = "win rate " + Fixed(*state_.win_rate) + " vs " + state_.eval_mode + " (threshold " +
             Fixed(config_.promote_threshold) + "): " + (*state_.promote ? "promote" : "keep");
  HostUpdate(t.id, p.detail);
  return Status::Ok();
}

Status Driver::Promote() {
  PhaseState& p = phase();
  const HostSpec& t = *config_.FindHost(state_.training_host);
  if (!state_.promote) return FailedPrecondition("no evaluation yet: run the eval phase first");
  if (!*state_.promote) {
    p.status = kSkipped;
    p.detail = "win rate " + Fixed(state_.win_rate.value_or(0)) + " below " +
               Fixed(config_.promote_threshold) + "; the current model stays";
    return Status::Ok();
  }
  auto cmd = Expand(config_.commands.at("promote"), VarsFor(t, "promote", p.attempt), true);
  if (!cmd.ok()) return cmd.status();
  RIFT_ASSIGN_OR_RETURN(StepResult r,
                        RunStep(t, "promote", p.attempt, *cmd, config_.timeouts.at("promote")));
  if (r.exit_code != 0) {
    return Internal(t.id + ": promote failed (" + ExitSummary(r.exit_code, r.output.err_tail) +
                    ")");
  }
  const std::string current = ModelsDir(t) + "/current.model";
  RIFT_ASSIGN_OR_RETURN(auto sums, RemoteSha256(t, {current}));
  if (sums[current] != state_.candidate_sha) {
    return Internal(t.id + ": promote exited 0 but " + current + " is not the candidate");
  }
  state_.promoted = true;
  state_.model_sha = state_.candidate_sha;
  p.detail = "model " + Short(state_.model_sha) + " is current on " + t.id;
  HostUpdate(t.id, p.detail);
  return Status::Ok();
}

Status Driver::Push() {
  PhaseState& p = phase();
  if (!state_.promoted) {
    p.status = kSkipped;
    p.detail = "nothing promoted";
    return Status::Ok();
  }
  const HostSpec& t = *config_.FindHost(state_.training_host);
  const std::string sha = state_.model_sha;
  std::string source = CandidatePath(t);
  const bool others = std::any_of(state_.hosts.begin(), state_.hosts.end(),
                                  [&](const std::string& id) { return id != t.id; });
  if (!t.local && others) {
    source = config_.local.ringrift_path + "/pipeline/models/" + sha + ".model";
    std::error_code ec;
    if (!fs::exists(source, ec)) {
      HostUpdate(t.id, "fetching model " + Short(sha));
      auto got = GetVerified(t, CandidatePath(t), source, sha);
      if (!got.ok()) return got.status();
    }
  }
  Status first_error;
  int pushed = 0, current = 0;
  for (const auto& id : state_.hosts) {
    if (id == t.id) continue;  // promote already installed it there
    const HostSpec& h = *config_.FindHost(id);
    HostStep& hs = p.hosts[id];
    const std::string dest = ModelsDir(h) + "/current.model";
    Status st = [&]() -> Status {
      RIFT_ASSIGN_OR_RETURN(auto sums, RemoteSha256(h, {dest}));
      if (sums[dest] == sha) {
        hs.detail = "already current";
        ++current;
        return Status::Ok();
      }
      HostUpdate(id, "pushing model " + Short(sha));
      RIFT_RETURN_IF_ERROR(PutVerified(h, source, dest, sha));
      hs.detail = "pushed " + Short(sha);
      ++pushed;
      return Status::Ok();
    }();
    if (st.ok()) {
      hs.status = kDone;
      hs.error.clear();
      HostUpdate(id, hs.detail);
    } else {
      hs.status = kFailed;
      hs.error = st.message();
      hs.error_code = std::string(CodeName(st.code()));
      HostUpdate(id, "failed: " + st.message());
      if (first_error.ok()) first_error = st;
    }
    RIFT_RETURN_IF_ERROR(Save());
  }
  if (!first_error.ok()) return first_error;
  p.detail = "model " + Short(sha) + " pushed to " + std::to_string(pushed) + " hosts (" +
             std::to_string(current) + " already had it)";
  return Status::Ok();
}

}  // namespace rift::pipeline::internal
