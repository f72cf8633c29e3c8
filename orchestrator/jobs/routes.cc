#include "orchestrator/jobs/routes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <nlohmann/json.hpp>

#include "orchestrator/api/errors.h"
#include "orchestrator/base/time.h"
#include "orchestrator/jobs/record_internal.h"

namespace rift::jobs {
namespace {

using nlohmann::json;

api::HttpResponse Json(int status, const json& j) {
  return api::JsonResponse(status, j.dump(-1, ' ', false, json::error_handler_t::replace));
}

json JobJson(const JobRecord& r) { return internal::RecordJson(r); }

Result<json> BodyObject(const api::HttpRequest& req) {
  if (req.body.empty()) return json::object();
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded()) return InvalidArgument("malformed JSON body");
  if (!j.is_object()) return InvalidArgument("body: expected a JSON object");
  return j;
}

// The leader term the request carries (header, else body), fenced; nullopt when none.
Result<std::optional<uint64_t>> Fence(api::NodeApi* node, const api::HttpRequest& req,
                                      const json& body) {
  uint64_t term = 0;
  if (auto h = req.Header("X-RingRift-Term"); !h.empty()) {
    auto [p, ec] = std::from_chars(h.data(), h.data() + h.size(), term);
    if (ec != std::errc() || p != h.data() + h.size()) {
      return InvalidArgument("X-RingRift-Term: expected an unsigned integer");
    }
  } else if (body.contains("term") && !body["term"].is_null()) {
    if (!body["term"].is_number_unsigned()) {
      return InvalidArgument("term: expected an unsigned integer");
    }
    term = body["term"].get<uint64_t>();
  } else {
    return std::optional<uint64_t>();
  }
  RIFT_RETURN_IF_ERROR(node->CheckTerm(term));
  return std::optional<uint64_t>(term);
}

Result<std::map<std::string, std::string>> Params(const json& body) {
  std::map<std::string, std::string> out;
  if (!body.contains("params") || body["params"].is_null()) return out;
  if (!body["params"].is_object()) return InvalidArgument("params: expected an object");
  for (auto& [k, v] : body["params"].items()) {
    if (v.is_string()) {
      out[k] = v.get<std::string>();
    } else if (v.is_number() || v.is_boolean()) {
      out[k] = v.dump();
    } else {
      return InvalidArgument("params." + k + ": expected a string, number or boolean");
    }
  }
  return out;
}

Result<std::string> OptionalString(const json& body, const char* key) {
  if (!body.contains(key) || body[key].is_null()) return std::string();
  if (!body[key].is_string()) return InvalidArgument(std::string(key) + ": expected a string");
  return body[key].get<std::string>();
}

api::HttpResponse Start(const RouteContext& c, const api::HttpRequest& req,
                        const std::string& fixed_kind) {
  auto body = BodyObject(req);
  if (!body.ok()) return api::ErrorResponse(body.status());
  auto term = Fence(c.node, req, *body);
  if (!term.ok()) return api::ErrorResponse(term.status());
  StartRequest sr;
  sr.term = *term;
  if (fixed_kind.empty()) {
    auto kind = OptionalString(*body, "kind");
    if (!kind.ok()) return api::ErrorResponse(kind.status());
    if (kind->empty()) return api::ErrorResponse(InvalidArgument("kind: required"));
    sr.kind = *kind;
  } else {
    sr.kind = fixed_kind;
  }
  auto params = Params(*body);
  if (!params.ok()) return api::ErrorResponse(params.status());
  sr.params = std::move(params).value();
  auto key = OptionalString(*body, "idempotency_key");
  if (!key.ok()) return api::ErrorResponse(key.status());
  if (key->size() > 200) return api::ErrorResponse(InvalidArgument("idempotency_key: too long"));
  sr.idempotency_key = *key;
  auto r = c.jobs->StartJob(sr);
  if (!r.ok()) return api::ErrorResponse(r.status());
  return Json(r->created ? 201 : 200, {{"job", JobJson(r->job)}});
}

api::HttpResponse StopRoute(const RouteContext& c, const api::HttpRequest& req) {
  auto body = BodyObject(req);
  if (!body.ok()) return api::ErrorResponse(body.status());
  auto term = Fence(c.node, req, *body);
  if (!term.ok()) return api::ErrorResponse(term.status());
  auto id = OptionalString(*body, "job_id");
  auto key = OptionalString(*body, "idempotency_key");
  if (!id.ok()) return api::ErrorResponse(id.status());
  if (!key.ok()) return api::ErrorResponse(key.status());
  if (id->empty() && key->empty()) {
    return api::ErrorResponse(InvalidArgument("job_id or idempotency_key: required"));
  }
  auto r = c.jobs->StopJob(*id, *key);
  if (!r.ok()) return api::ErrorResponse(r.status());
  return Json(200, {{"job", JobJson(*r)}});
}

std::string QueryValue(const api::HttpRequest& req, const std::string& key) {
  auto it = req.query.find(key);
  return it == req.query.end() ? "" : it->second;
}

api::HttpResponse ListRoute(const RouteContext& c, const api::HttpRequest& req) {
  json jobs = json::array();
  for (const auto& r : c.jobs->List(QueryValue(req, "kind"), QueryValue(req, "state"))) {
    jobs.push_back(JobJson(r));
  }
  return Json(200, {{"jobs", std::move(jobs)}});
}

api::HttpResponse GetRoute(const RouteContext& c, const api::HttpRequest& req) {
  auto r = c.jobs->Get(req.path_params.at("id"));
  if (!r.ok()) return api::ErrorResponse(r.status());
  return Json(200, {{"job", JobJson(*r)}});
}

api::HttpResponse TrainingStatus(const RouteContext& c, const api::HttpRequest&) {
  json jobs = json::array();
  json latest = nullptr;
  for (const auto& r : c.jobs->List()) {  // newest first
    if (r.kind.rfind("training", 0) != 0) continue;
    jobs.push_back(JobJson(r));
    if (latest.is_null() && r.Finished()) latest = JobJson(r);
  }
  return Json(200, {{"jobs", std::move(jobs)}, {"latest", std::move(latest)}});
}

// Bytes [from, to) of `path` ("" when missing).
std::string ReadRange(const std::string& path, uint64_t from, uint64_t to) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || to <= from) {
    if (fd >= 0) ::close(fd);
    return out;
  }
  out.resize(static_cast<size_t>(to - from));
  ssize_t n = ::pread(fd, out.data(), out.size(), static_cast<off_t>(from));
  ::close(fd);
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

uint64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// Streams a job's log as it grows: the last `tail` bytes first, then whatever is appended,
// following the copytruncate rotation, until the job has ended and everything is sent.
class LogFollower : public api::BodySource {
 public:
  LogFollower(const RouteContext& c, std::string id, std::string job_dir, uint64_t tail)
      : c_(c), id_(std::move(id)), log_(LogPath(job_dir)), rotated_(RotatedLogPath(job_dir)) {
    pos_ = FileSize(log_);
    if (tail > pos_) {
      uint64_t rsize = FileSize(rotated_);
      pending_ = ReadRange(rotated_, rsize - std::min(rsize, tail - pos_), rsize);
    }
    pending_ += ReadRange(log_, pos_ - std::min(pos_, tail), pos_);
  }

  uint64_t size() const override { return kUnknownSize; }

  bool Read(uint64_t, char* buf, size_t len, size_t* got) override {
    *got = 0;
    auto idle_since = Clock::now();
    while (true) {
      if (!pending_.empty()) {
        *got = std::min(len, pending_.size());
        pending_.copy(buf, *got);
        pending_.erase(0, *got);
        return true;
      }
      if (c_.jobs->ShuttingDown()) return true;
      // The job state is read before the file, so nothing written before it ended is missed.
      auto rec = c_.jobs->Get(id_);
      bool finished = !rec.ok() || rec->Finished();
      uint64_t size = FileSize(log_);
      if (size < pos_) {  // rotated: the rest of what we had not sent is in run.log.1
        pending_ = ReadRange(rotated_, pos_, FileSize(rotated_));
        pos_ = 0;
        continue;
      }
      if (size > pos_) {
        pending_ = ReadRange(log_, pos_, std::min(size, pos_ + len));
        pos_ += pending_.size();
        if (!pending_.empty()) continue;
      }
      if (finished || Clock::now() - idle_since >= c_.follow_idle) return true;  // the end
      c_.jobs->WaitForChange(std::chrono::milliseconds(200));
    }
  }

 private:
  RouteContext c_;
  std::string id_, log_, rotated_;
  uint64_t pos_ = 0;
  std::string pending_;
};

api::HttpResponse LogRoute(const RouteContext& c, const api::HttpRequest& req) {
  const std::string& id = req.path_params.at("id");
  auto r = c.jobs->Get(id);
  if (!r.ok()) return api::ErrorResponse(r.status());
  uint64_t tail = kDefaultLogTail;
  if (std::string t = QueryValue(req, "tail"); !t.empty()) {
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), tail);
    if (ec != std::errc() || p != t.data() + t.size() || tail > kMaxLogTail) {
      return api::ErrorResponse(InvalidArgument(
          "tail: expected a byte count up to " + std::to_string(kMaxLogTail) + ", got '" + t + "'"));
    }
  }
  std::string follow = QueryValue(req, "follow");
  api::HttpResponse out;
  out.content_type = "text/plain; charset=utf-8";
  if (follow == "1" || follow == "true") {
    out.body_source = std::make_shared<LogFollower>(c, id, r->job_dir, tail);
    return out;
  }
  out.body = ReadLogTail(r->job_dir, tail);
  return out;
}

}  // namespace

void RegisterJobRoutes(api::Router* router, const RouteContext& c) {
  router->Add("POST", "/start_job", [c](const api::HttpRequest& r) { return Start(c, r, ""); });
  router->Add("POST", "/training/nnue/start",
              [c](const api::HttpRequest& r) { return Start(c, r, "training.nnue"); });
  router->Add("POST", "/training/cmaes/start",
              [c](const api::HttpRequest& r) { return Start(c, r, "training.cmaes"); });
  router->Add("POST", "/stop_job", [c](const api::HttpRequest& r) { return StopRoute(c, r); });
  router->Add("GET", "/jobs", [c](const api::HttpRequest& r) { return ListRoute(c, r); });
  router->Add("GET", "/jobs/{id}", [c](const api::HttpRequest& r) { return GetRoute(c, r); });
  router->Add("GET", "/jobs/{id}/log", [c](const api::HttpRequest& r) { return LogRoute(c, r); });
  router->Add("GET", "/training/status",
              [c](const api::HttpRequest& r) { return TrainingStatus(c, r); });
}

}  // namespace rift::jobs
