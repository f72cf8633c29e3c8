#include "orchestrator/improve/codec.h"

#include <nlohmann/json.hpp>

namespace rift::improve {
namespace {

using nlohmann::json;

json Opt(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

std::optional<double> OptNumber(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return it->get<double>();
}

json JobJson(const StageJob& j) {
  return {{"role", j.role}, {"node", j.node},       {"kind", j.kind},
          {"key", j.key},   {"attempt", j.attempt}, {"params", j.params}};
}

StageJob JobFrom(const json& j) {
  StageJob s;
  s.role = j.at("role").get<std::string>();
  s.node = j.at("node").get<std::string>();
  s.kind = j.at("kind").get<std::string>();
  s.key = j.at("key").get<std::string>();
  s.attempt = j.value("attempt", 0);
  s.params = j.value("params", std::map<std::string, std::string>{});
  return s;
}

json IterationJson(const IterationRecord& r) {
  return {{"iteration", r.iteration},
          {"model_generation", r.model_generation},
          {"games", r.games},
          {"positions", r.positions},
          {"train_games", r.train_games},
          {"train_positions", r.train_positions},
          {"loss", Opt(r.loss)},
          {"win_rate_vs_current", Opt(r.win_rate_vs_current)},
          {"win_rate_vs_random", Opt(r.win_rate_vs_random)},
          {"promoted", r.promoted},
          {"candidate", r.candidate},
          {"decision", r.decision},
          {"stage_ms", r.stage_ms},
          {"started_ms", r.started_ms},
          {"ended_ms", r.ended_ms}};
}

IterationRecord IterationFrom(const json& j) {
  IterationRecord r;
  r.iteration = j.at("iteration").get<int>();
  r.model_generation = j.value("model_generation", 0);
  r.games = j.value("games", int64_t{0});
  r.positions = j.value("positions", int64_t{0});
  r.train_games = j.value("train_games", int64_t{0});
  r.train_positions = j.value("train_positions", int64_t{0});
  r.loss = OptNumber(j, "loss");
  r.win_rate_vs_current = OptNumber(j, "win_rate_vs_current");
  r.win_rate_vs_random = OptNumber(j, "win_rate_vs_random");
  r.promoted = j.value("promoted", false);
  r.candidate = j.value("candidate", "");
  r.decision = j.value("decision", "");
  r.stage_ms = j.value("stage_ms", std::map<std::string, int64_t>{});
  r.started_ms = j.value("started_ms", int64_t{0});
  r.ended_ms = j.value("ended_ms", int64_t{0});
  return r;
}

}  // namespace

std::string EncodeState(const LoopState& s) {
  json jobs = json::array();
  for (const auto& j : s.jobs) jobs.push_back(JobJson(j));
  json history = json::array();
  for (const auto& h : s.history) history.push_back(IterationJson(h));
  const LoopConfig& c = s.config;
  json j = {
      {"loop_id", s.loop_id},
      {"status", StatusName(s.status)},
      {"config",
       {{"iterations", c.iterations},
        {"games_per_iteration", c.games_per_iteration},
        {"eval_games", c.eval_games},
        {"promote_win_rate", c.promote_win_rate},
        {"board", c.board},
        {"max_attempts", c.max_attempts},
        {"sync_timeout_ms", c.sync_timeout_ms},
        {"distribute_timeout_ms", c.distribute_timeout_ms}}},
      {"training_node", s.training_node},
      {"iteration", s.iteration},
      {"stage", StageName(s.stage)},
      {"started_ms", s.started_ms},
      {"stage_started_ms", s.stage_started_ms},
      {"ended_ms", s.ended_ms},
      {"model",
       {{"path", s.model.path},
        {"sha256", s.model.sha256},
        {"size", s.model.size},
        {"generation", s.model.generation}}},
      {"jobs", jobs},
      {"expected_files", s.expected_files},
      {"promoted_sha", s.promoted_sha ? json(*s.promoted_sha) : json(nullptr)},
      {"promoted_size", s.promoted_size},
      {"current", IterationJson(s.current)},
      {"history", history},
      {"error", s.error},
      {"note", s.note},
  };
  return j.dump();
}

Result<LoopState> DecodeState(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return InvalidArgument("loop state: expected a JSON object");
  try {
    LoopState s;
    s.loop_id = j.at("loop_id").get<std::string>();
    auto status = ParseStatus(j.at("status").get<std::string>());
    if (!status) return InvalidArgument("loop state: unknown status " + j["status"].dump());
    s.status = *status;
    const json& c = j.at("config");
    s.config.iterations = c.at("iterations").get<int>();
    s.config.games_per_iteration = c.at("games_per_iteration").get<int>();
    s.config.eval_games = c.at("eval_games").get<int>();
    s.config.promote_win_rate = c.at("promote_win_rate").get<double>();
    s.config.board = c.value("board", s.config.board);
    s.config.max_attempts = c.value("max_attempts", s.config.max_attempts);
    s.config.sync_timeout_ms = c.value("sync_timeout_ms", s.config.sync_timeout_ms);
    s.config.distribute_timeout_ms =
        c.value("distribute_timeout_ms", s.config.distribute_timeout_ms);
    s.training_node = j.at("training_node").get<std::string>();
    s.iteration = j.at("iteration").get<int>();
    auto stage = ParseStage(j.at("stage").get<std::string>());
    if (!stage) return InvalidArgument("loop state: unknown stage " + j["stage"].dump());
    s.stage = *stage;
    s.started_ms = j.value("started_ms", int64_t{0});
    s.stage_started_ms = j.value("stage_started_ms", int64_t{0});
    s.ended_ms = j.value("ended_ms", int64_t{0});
    const json& m = j.at("model");
    s.model = {m.value("path", ""), m.value("sha256", ""), m.value("size", uint64_t{0}),
               m.value("generation", 0)};
    for (const auto& job : j.value("jobs", json::array())) s.jobs.push_back(JobFrom(job));
    s.expected_files = j.value("expected_files", std::vector<std::string>{});
    if (j.contains("promoted_sha") && j["promoted_sha"].is_string()) {
      s.promoted_sha = j["promoted_sha"].get<std::string>();
    }
    s.promoted_size = j.value("promoted_size", uint64_t{0});
    s.current = IterationFrom(j.at("current"));
    for (const auto& h : j.value("history", json::array())) s.history.push_back(IterationFrom(h));
    s.error = j.value("error", "");
    s.note = j.value("note", "");
    return s;
  } catch (const json::exception& e) {
    return InvalidArgument(std::string("loop state: ") + e.what());
  }
}

}  // namespace rift::improve
