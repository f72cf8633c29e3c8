#include "orchestrator/improve/loop.h"

#include <algorithm>
#include <cstdio>

#include "orchestrator/improve/scheduler.h"

namespace rift::improve {
namespace {

using Seen = JobStatus::Seen;

std::string Fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Keys and file names allow [A-Za-z0-9._-] only.
std::string Safe(const std::string& s) {
  std::string out = s;
  for (char& c : out) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) c = '_';
  }
  return out;
}

StageJob MakeJob(const LoopState& s, std::string role, std::string node, std::string kind,
                 std::map<std::string, std::string> params, int attempt) {
  StageJob j;
  j.role = std::move(role);
  j.node = std::move(node);
  j.kind = std::move(kind);
  j.attempt = attempt;
  j.key = JobKey(s.loop_id, s.iteration, j.role, j.node, attempt);
  j.params = std::move(params);
  j.params["seed"] = std::to_string(SeedFromKey(j.key));
  if (!j.params.count("board")) j.params["board"] = s.config.board;
  return j;
}

std::string OnNode(const std::string& rel) { return kDataPrefix + rel; }

// Moves to `next` (its jobs are planned by the next step), recording the time spent.
void Enter(LoopState* s, Stage next, int64_t now) {
  s->current.stage_ms[StageName(s->stage)] += now - s->stage_started_ms;
  s->stage = next;
  s->stage_started_ms = now;
  s->jobs.clear();
}

void FinishIteration(LoopState* s, int64_t now) {
  s->current.stage_ms[StageName(s->stage)] += now - s->stage_started_ms;
  s->current.ended_ms = now;
  s->history.push_back(s->current);
  s->jobs.clear();
  s->expected_files.clear();
  s->promoted_sha.reset();
  s->promoted_size = 0;
  if (s->iteration >= s->config.iterations) {
    s->status = LoopStatus::kDone;
    s->ended_ms = now;
    s->note = "done: " + std::to_string(s->history.size()) + " iteration(s)";
    return;
  }
  s->iteration++;
  s->stage = Stage::kSelfplay;
  s->stage_started_ms = now;
  s->current = IterationRecord{};
  s->current.iteration = s->iteration;
  s->current.model_generation = s->model.generation;
  s->current.started_ms = now;
}

void Fail(LoopState* s, const std::string& why, int64_t now) {
  s->status = LoopStatus::kFailed;
  s->error = why;
  s->note = "failed: " + why;
  s->ended_ms = now;
}

struct JobsOutcome {
  bool all_succeeded = true;
  bool changed = false;
  std::vector<Action> ensure;
};

// Common handling of a stage's jobs: ensure the missing ones, retry the failed ones (a new
// attempt = a new key, on the same node when it is still eligible, else on the first eligible
// node), fail the loop after max_attempts.
JobsOutcome Supervise(LoopState* s, const Observation& o) {
  JobsOutcome out;
  for (auto& j : s->jobs) {
    auto it = o.jobs.find(j.key);
    JobStatus st = it == o.jobs.end() ? JobStatus{} : it->second;
    if (st.seen == Seen::kSucceeded) continue;
    out.all_succeeded = false;
    bool node_gone = !o.alive.count(j.node);
    // Train, eval and promote need the trainer's files: they wait for it to come back (its job
    // may well be running on); selfplay moves to another node.
    bool pinned = j.role != "selfplay";
    if (st.seen == Seen::kFailed || (st.seen == Seen::kUnknown && node_gone && !pinned)) {
      if (j.attempt + 1 >= s->config.max_attempts) {
        Fail(s,
             j.role + " job " + j.key + " on " + j.node + " failed " +
                 std::to_string(j.attempt + 1) + " time(s)" +
                 (st.error.empty() ? "" : ": " + st.error),
             o.now_ms);
        out.changed = true;
        out.ensure.clear();
        return out;
      }
      bool keep_node = std::find(o.eligible.begin(), o.eligible.end(), j.node) != o.eligible.end();
      if (!keep_node && !pinned && o.eligible.empty()) continue;  // wait for a node
      std::string node = keep_node || pinned ? j.node : o.eligible.front();
      s->note = j.role + " job on " + j.node + (node_gone ? " lost its node" : " failed") +
                (st.error.empty() ? "" : " (" + st.error + ")") + ": attempt " +
                std::to_string(j.attempt + 2) + " on " + node;
      j = MakeJob(*s, j.role, node, j.kind, j.params, j.attempt + 1);
      out.changed = true;
      continue;
    }
    if (st.seen == Seen::kMissing || (st.seen == Seen::kUnknown && !node_gone)) {
      out.ensure.push_back(Action{Action::Type::kEnsureJob, j, {}, {}, {}});
    }
  }
  if (out.changed) {  // the new attempts start only once the state naming them is stored
    out.ensure.clear();
  }
  return out;
}

const JobStatus* Result(const Observation& o, const StageJob& j) {
  auto it = o.jobs.find(j.key);
  return it == o.jobs.end() ? nullptr : &it->second;
}

std::optional<double> Number(const JobStatus* st, const char* key) {
  if (!st) return std::nullopt;
  auto it = st->numbers.find(key);
  if (it == st->numbers.end()) return std::nullopt;
  return it->second;
}

void PlanSelfplay(LoopState* s, const Observation& o) {
  size_t n = o.eligible.size();
  int games = s->config.games_per_iteration;
  for (size_t i = 0; i < n; ++i) {
    int share = games / static_cast<int>(n) + (static_cast<int>(i) < games % static_cast<int>(n));
    if (share == 0) continue;
    // The catalogue's selfplay plays with the node's models/current.model (none yet: random).
    std::map<std::string, std::string> p = {{"games", std::to_string(share)}};
    s->jobs.push_back(MakeJob(*s, "selfplay", o.eligible[i], "selfplay", p, 0));
  }
  s->note = "selfplay: " + std::to_string(games) + " games on " + std::to_string(s->jobs.size()) +
            " node(s) with " + (s->model.empty() ? "no model (random play)" : s->model.path);
}

void StepSelfplay(LoopState* s, const Observation& o, StepResult* r) {
  if (s->jobs.empty()) {
    if (o.eligible.empty()) return;  // wait for a node to play on
    PlanSelfplay(s, o);
    r->changed = true;
    return;
  }
  JobsOutcome jo = Supervise(s, o);
  r->changed |= jo.changed;
  r->actions = std::move(jo.ensure);
  if (!jo.all_succeeded || jo.changed) return;
  s->current.games = s->current.positions = 0;
  s->expected_files.clear();
  for (const auto& j : s->jobs) {
    const JobStatus* st = Result(o, j);
    s->current.games += static_cast<int64_t>(Number(st, "games").value_or(0));
    s->current.positions += static_cast<int64_t>(Number(st, "positions").value_or(0));
    if (st && !st->file.empty()) s->expected_files.push_back(st->file);
  }
  std::sort(s->expected_files.begin(), s->expected_files.end());
  s->note = "selfplay done: " + std::to_string(s->current.games) + " games, " +
            std::to_string(s->current.positions) + " positions; syncing " +
            std::to_string(s->expected_files.size()) + " file(s) to " + s->training_node;
  Enter(s, Stage::kSync, o.now_ms);
  r->changed = true;
}

void EnterTrain(LoopState* s, int64_t now) {
  Enter(s, Stage::kTrain, now);
  std::map<std::string, std::string> p;
  if (!s->model.empty()) p["model"] = OnNode(s->model.path);  // --init
  s->jobs.push_back(MakeJob(*s, "train", s->training_node, "training.nnue", p, 0));
  s->note = "training a candidate on " + s->training_node +
            (s->model.empty() ? " from scratch" : " from " + s->model.path);
}

void StepSync(LoopState* s, const Observation& o, StepResult* r) {
  size_t held = 0;
  for (const auto& f : s->expected_files) held += o.held_by_trainer.count(f);
  if (held == s->expected_files.size()) {
    EnterTrain(s, o.now_ms);
    r->changed = true;
    return;
  }
  if (o.now_ms - s->stage_started_ms >= s->config.sync_timeout_ms) {
    EnterTrain(s, o.now_ms);
    s->note += " (sync timed out: " + std::to_string(s->expected_files.size() - held) +
               " file(s) not on the trainer)";
    r->changed = true;
    return;
  }
  r->actions.push_back(Action{Action::Type::kSyncTraining, {}, {}, {}, {}});
}

void StepTrain(LoopState* s, const Observation& o, StepResult* r) {
  JobsOutcome jo = Supervise(s, o);
  r->changed |= jo.changed;
  r->actions = std::move(jo.ensure);
  if (!jo.all_succeeded || jo.changed) return;
  const JobStatus* st = Result(o, s->jobs.front());
  if (!st || st->model.empty()) {
    Fail(s, "the training job " + s->jobs.front().key + " printed no model path", o.now_ms);
    r->changed = true;
    return;
  }
  s->current.candidate = st->model;
  s->current.loss = Number(st, "loss");
  s->current.train_games = static_cast<int64_t>(Number(st, "games").value_or(0));
  s->current.train_positions = static_cast<int64_t>(Number(st, "positions").value_or(0));
  Enter(s, Stage::kEval, o.now_ms);
  const std::string cand = OnNode(s->current.candidate);
  std::string games = std::to_string(s->config.eval_games);
  // model "" drops the catalogue's default opponent (the current model) for the random baseline.
  s->jobs.push_back(
      MakeJob(*s, "eval-random", s->training_node, "eval",
              {{"candidate", cand}, {"baseline", "random"}, {"model", ""}, {"games", games}}, 0));
  if (!s->model.empty()) {
    s->jobs.push_back(
        MakeJob(*s, "eval-current", s->training_node, "eval",
                {{"candidate", cand}, {"model", OnNode(s->model.path)}, {"games", games}}, 0));
  }
  s->note = "evaluating " + s->current.candidate +
            (s->model.empty() ? " vs random" : " vs current and random");
  r->changed = true;
}

void StepEval(LoopState* s, const Observation& o, StepResult* r) {
  JobsOutcome jo = Supervise(s, o);
  r->changed |= jo.changed;
  r->actions = std::move(jo.ensure);
  if (!jo.all_succeeded || jo.changed) return;
  for (const auto& j : s->jobs) {
    auto wr = Number(Result(o, j), "win_rate");
    (j.role == "eval-random" ? s->current.win_rate_vs_random : s->current.win_rate_vs_current) = wr;
  }
  bool vs_current = !s->model.empty();
  std::optional<double> wr =
      vs_current ? s->current.win_rate_vs_current : s->current.win_rate_vs_random;
  double threshold = s->config.promote_win_rate;
  bool promote = wr && *wr >= threshold;
  s->current.decision = std::string(promote ? "promote" : "keep the current model") + ": " +
                        (wr ? Fixed(*wr, 3) : std::string("no win rate")) + " vs " +
                        (vs_current ? "current" : "random") + (promote ? " >= " : " < ") +
                        Fixed(threshold, 2);
  s->note = s->current.decision;
  r->changed = true;
  if (!promote) {
    FinishIteration(s, o.now_ms);
    return;
  }
  Enter(s, Stage::kPromote, o.now_ms);
  s->jobs.push_back(MakeJob(*s, "promote", s->training_node, "promote",
                            {{"candidate", OnNode(s->current.candidate)}}, 0));
}

void StepPromote(LoopState* s, const Observation& o, StepResult* r) {
  JobsOutcome jo = Supervise(s, o);
  r->changed |= jo.changed;
  r->actions = std::move(jo.ensure);
  if (!jo.all_succeeded || jo.changed) return;
  Enter(s, Stage::kDistribute, o.now_ms);
  s->note = "promoted " + s->current.candidate + " on " + s->training_node + "; distributing";
  r->changed = true;
}

void StepDistribute(LoopState* s, const Observation& o, StepResult* r) {
  bool timed_out = o.now_ms - s->stage_started_ms >= s->config.distribute_timeout_ms;
  if (!s->promoted_sha) {
    // The promoted version is the candidate's, once the trainer serves it as current.model.
    if (!o.candidate || !o.trainer_model || o.candidate->sha256 != o.trainer_model->sha256) {
      if (!timed_out) return;
      s->current.promoted = true;
      s->model = {kCurrentModel, "", 0, s->model.generation + 1};
      s->note = "model generation " + std::to_string(s->model.generation) +
                " promoted on the trainer, which did not serve it in time: not distributed";
      FinishIteration(s, o.now_ms);
      r->changed = true;
      return;
    }
    s->promoted_sha = o.trainer_model->sha256;
    s->promoted_size = o.trainer_model->size;
    r->changed = true;
    return;
  }
  std::vector<std::string> missing;
  for (const auto& n : o.alive) {
    if (n == s->training_node || o.outbound.count(n)) continue;
    auto it = o.model_sha.find(n);
    if (it != o.model_sha.end() && it->second == *s->promoted_sha) continue;
    missing.push_back(n);
    r->actions.push_back(Action{
        Action::Type::kPullModel, {}, n, s->training_node, {*s->promoted_sha, s->promoted_size}});
  }
  if (!missing.empty() && !timed_out) return;
  r->actions.clear();
  s->current.promoted = true;
  s->model = {kCurrentModel, *s->promoted_sha, s->promoted_size, s->model.generation + 1};
  s->note = "model generation " + std::to_string(s->model.generation) + " on every node";
  if (!missing.empty()) {
    std::string list;
    for (const auto& n : missing) list += (list.empty() ? "" : ", ") + n;
    s->note = "model generation " + std::to_string(s->model.generation) +
              " distributed; still missing on " + list + " (timed out)";
  }
  FinishIteration(s, o.now_ms);
  r->changed = true;
}

}  // namespace

const char* StageName(Stage s) {
  switch (s) {
    case Stage::kSelfplay:
      return "selfplay";
    case Stage::kSync:
      return "sync";
    case Stage::kTrain:
      return "train";
    case Stage::kEval:
      return "eval";
    case Stage::kPromote:
      return "promote";
    case Stage::kDistribute:
      return "distribute";
  }
  return "?";
}

const char* StatusName(LoopStatus s) {
  switch (s) {
    case LoopStatus::kRunning:
      return "running";
    case LoopStatus::kStopped:
      return "stopped";
    case LoopStatus::kDone:
      return "done";
    case LoopStatus::kFailed:
      return "failed";
  }
  return "?";
}

std::optional<Stage> ParseStage(const std::string& s) {
  for (Stage st : {Stage::kSelfplay, Stage::kSync, Stage::kTrain, Stage::kEval, Stage::kPromote,
                   Stage::kDistribute}) {
    if (s == StageName(st)) return st;
  }
  return std::nullopt;
}

std::optional<LoopStatus> ParseStatus(const std::string& s) {
  for (LoopStatus st :
       {LoopStatus::kRunning, LoopStatus::kStopped, LoopStatus::kDone, LoopStatus::kFailed}) {
    if (s == StatusName(st)) return st;
  }
  return std::nullopt;
}

std::string JobKey(const std::string& loop_id, int iteration, const std::string& role,
                   const std::string& node, int attempt) {
  return "imp-" + Safe(loop_id) + "-i" + std::to_string(iteration) + "-" + role + "-" + Safe(node) +
         "-a" + std::to_string(attempt);
}

LoopState NewLoop(std::string loop_id, LoopConfig config, std::string training_node, ModelRef model,
                  int64_t now_ms) {
  LoopState s;
  s.loop_id = std::move(loop_id);
  s.config = std::move(config);
  s.training_node = std::move(training_node);
  s.model = std::move(model);
  s.started_ms = s.stage_started_ms = now_ms;
  s.current.iteration = 1;
  s.current.model_generation = s.model.generation;
  s.current.started_ms = now_ms;
  s.note = "started";
  return s;
}

StepResult Step(const LoopState& state, const Observation& o) {
  StepResult r{state, false, {}};
  LoopState* s = &r.state;
  if (s->status != LoopStatus::kRunning) return r;
  if (o.stop_requested) {
    s->status = LoopStatus::kStopped;
    s->ended_ms = o.now_ms;
    s->note = "stopped by request in iteration " + std::to_string(s->iteration) + " (" +
              StageName(s->stage) + ")";
    r.changed = true;
    return r;
  }
  switch (s->stage) {
    case Stage::kSelfplay:
      StepSelfplay(s, o, &r);
      break;
    case Stage::kSync:
      StepSync(s, o, &r);
      break;
    case Stage::kTrain:
      StepTrain(s, o, &r);
      break;
    case Stage::kEval:
      StepEval(s, o, &r);
      break;
    case Stage::kPromote:
      StepPromote(s, o, &r);
      break;
    case Stage::kDistribute:
      StepDistribute(s, o, &r);
      break;
  }
  if (r.changed) r.actions.clear();  // act only on a stored state: the next step re-derives them
  return r;
}

}  // namespace rift::improve
