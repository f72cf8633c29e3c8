#include "orchestrator/jobs/process_internal.h"
#include "orchestrator/jobs/record_internal.h"

namespace rift::jobs {

bool JobRecord::Finished() const {
  return state == "exited" || state == "failed" || state == "stopped" || state == "lost";
}

namespace internal {

nlohmann::json RecordJson(const JobRecord& r, bool stored) {
  json j = {{"id", r.id},
            {"kind", r.kind},
            {"node", r.node},
            {"state", r.state},
            {"pid", r.pid},
            {"created_ms", r.created_ms},
            {"started_ms", r.started_ms},
            {"argv", r.argv},
            {"params", r.params},
            {"out_dir", r.out_dir},
            {"log_path", r.log_path},
            {"gpus", r.gpus},
            {"stop_requested", r.stop_requested}};
  if (r.exit_code) j["exit_code"] = *r.exit_code;
  if (r.signal) j["signal"] = *r.signal;
  if (r.ended_ms) j["ended_ms"] = r.ended_ms;
  if (!r.error.empty()) j["error"] = r.error;
  if (r.timed_out) j["timed_out"] = true;
  if (!r.idempotency_key.empty()) j["idempotency_key"] = r.idempotency_key;
  if (r.term) j["term"] = *r.term;
  if (!r.result.empty()) {
    json res = json::parse(r.result, nullptr, false);
    if (!res.is_discarded()) j["result"] = std::move(res);
  }
  if (stored) {
    j["job_dir"] = r.job_dir;
    j["launched"] = LaunchedJson(r.launched);
    j["timeout_ms"] = r.timeout_ms;
  }
  return j;
}

JobRecord RecordFromJson(const nlohmann::json& j) {
  JobRecord r;
  r.id = j.value("id", "");
  r.kind = j.value("kind", "");
  r.node = j.value("node", "");
  r.state = j.value("state", "lost");
  r.pid = j.value("pid", 0);
  r.created_ms = j.value("created_ms", int64_t{0});
  r.started_ms = j.value("started_ms", int64_t{0});
  r.ended_ms = j.value("ended_ms", int64_t{0});
  r.argv = j.value("argv", std::vector<std::string>{});
  r.params = j.value("params", std::map<std::string, std::string>{});
  r.out_dir = j.value("out_dir", "");
  r.log_path = j.value("log_path", "");
  r.gpus = j.value("gpus", std::vector<std::string>{});
  r.stop_requested = j.value("stop_requested", false);
  r.timed_out = j.value("timed_out", false);
  r.error = j.value("error", "");
  r.idempotency_key = j.value("idempotency_key", "");
  if (j.contains("exit_code") && j["exit_code"].is_number_integer()) r.exit_code = j["exit_code"];
  if (j.contains("signal") && j["signal"].is_number_integer()) r.signal = j["signal"];
  if (j.contains("term") && j["term"].is_number_unsigned()) r.term = j["term"].get<uint64_t>();
  if (j.contains("result") && j["result"].is_object()) r.result = j["result"].dump();
  r.job_dir = j.value("job_dir", "");
  r.timeout_ms = j.value("timeout_ms", int64_t{0});
  if (j.contains("launched")) {
    const json& l = j["launched"];
    r.launched.job = IdentityFromJson(l.value("job", json()));
    r.launched.shim = IdentityFromJson(l.value("shim", json()));
    r.launched.started_ms = l.value("started_ms", int64_t{0});
  }
  return r;
}

}  // namespace internal
}  // namespace rift::jobs
