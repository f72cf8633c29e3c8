// The push routes (see push.h): GET/POST /sync/push, POST /sync/push-batch.
#include <algorithm>
#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>

#include "orchestrator/api/errors.h"
#include "orchestrator/sync/push.h"

namespace rift::sync {
namespace {

using api::HttpRequest;
using api::HttpResponse;
using nlohmann::json;

constexpr size_t kMaxHeaderLine = 8 << 10;

HttpResponse Json(int status, const json& j) {
  HttpResponse r;
  r.status = status;
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

// The push's own refusals get statuses of their own: disk full is 507 (not a rate limit),
// busy is 503 with Retry-After.
HttpResponse PushError(const Status& s) {
  if (s.code() == Code::kResourceExhausted) {
    return api::ErrorResponse(507, "INSUFFICIENT_STORAGE", s.message());
  }
  HttpResponse r = api::ErrorResponse(s);
  if (s.code() == Code::kUnavailable) r.headers["Retry-After"] = "1";
  return r;
}

bool ParseU64(const std::string& text, uint64_t* out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && p == text.data() + text.size() && !text.empty();
}

Status QueryU64(const HttpRequest& req, const char* key, bool required, uint64_t* out) {
  auto it = req.query.find(key);
  if (it == req.query.end()) {
    return required ? InvalidArgument(std::string("missing ?") + key + "=") : Status::Ok();
  }
  if (!ParseU64(it->second, out)) {
    return InvalidArgument(std::string(key) + ": expected an unsigned integer, got '" + it->second +
                           "'");
  }
  return Status::Ok();
}

// The carried term is required: only a push a leader planned is accepted.
Status CheckTerm(const PushRouteContext& c, const HttpRequest& req) {
  std::string h = req.Header("X-RingRift-Term");
  if (h.empty()) {
    return InvalidArgument(
        "X-RingRift-Term: required (a push must carry the term of the leader that planned it)");
  }
  uint64_t term = 0;
  if (!ParseU64(h, &term)) return InvalidArgument("X-RingRift-Term: expected an unsigned integer");
  return c.check_term ? c.check_term(term) : Status::Ok();
}

Result<PushFileInfo> FileFromQuery(const HttpRequest& req) {
  PushFileInfo f;
  auto path = req.query.find("path");
  if (path == req.query.end()) return InvalidArgument("missing ?path=");
  f.path = path->second;
  auto sha = req.query.find("sha256");
  if (sha == req.query.end()) return InvalidArgument("missing ?sha256=");
  f.sha256 = sha->second;
  RIFT_RETURN_IF_ERROR(QueryU64(req, "size", true, &f.size));
  uint64_t mtime = 0;
  RIFT_RETURN_IF_ERROR(QueryU64(req, "mtime_ns", false, &mtime));
  f.mtime_ns = static_cast<int64_t>(mtime);
  return f;
}

json ProgressJson(const PushProgress& p) {
  return {{"offset", p.offset}, {"complete", p.complete}, {"held", p.held}};
}

HttpResponse Begin(const PushRouteContext& c, const HttpRequest& req) {
  if (Status s = CheckTerm(c, req); !s.ok()) return api::ErrorResponse(s);
  auto f = FileFromQuery(req);
  if (!f.ok()) return api::ErrorResponse(f.status());
  auto p = c.receiver->Begin(*f);
  if (!p.ok()) return PushError(p.status());
  return Json(200, ProgressJson(*p));
}

HttpResponse Chunk(const PushRouteContext& c, const HttpRequest& req) {
  if (Status s = CheckTerm(c, req); !s.ok()) return api::ErrorResponse(s);
  auto f = FileFromQuery(req);
  if (!f.ok()) return api::ErrorResponse(f.status());
  uint64_t offset = 0;
  if (Status s = QueryU64(req, "offset", true, &offset); !s.ok()) return api::ErrorResponse(s);
  auto p = c.receiver->Write(*f, offset, req.body);
  if (!p.ok()) return PushError(p.status());
  if (!p->accepted && !p->complete) {
    json j = {{"error",
               {{"code", "CONFLICT"},
                {"message", "chunk at offset " + std::to_string(offset) +
                                " not written: the "
                                "target holds " +
                                std::to_string(p->offset) + " bytes of '" + f->path +
                                "'; continue from there"}}},
              {"offset", p->offset}};
    return Json(409, j);
  }
  return Json(200, ProgressJson(*p));
}

// Parses the framed body of a batch; the views point into `body`.
Result<std::vector<std::pair<PushFileInfo, std::string_view>>> ParseBatch(const std::string& body) {
  std::vector<std::pair<PushFileInfo, std::string_view>> out;
  size_t pos = 0;
  while (pos < body.size()) {
    const void* nl =
        std::memchr(body.data() + pos, '\n', std::min(body.size() - pos, kMaxHeaderLine));
    if (!nl) {
      return InvalidArgument("file " + std::to_string(out.size()) +
                             ": expected a JSON header line ending in \\n");
    }
    size_t end = static_cast<size_t>(static_cast<const char*>(nl) - body.data());
    json h = json::parse(body.begin() + static_cast<ptrdiff_t>(pos),
                         body.begin() + static_cast<ptrdiff_t>(end), nullptr, false);
    if (h.is_discarded() || !h.is_object() || !h.value("path", json()).is_string() ||
        !h.value("sha256", json()).is_string() || !h.value("size", json()).is_number_unsigned()) {
      return InvalidArgument("file " + std::to_string(out.size()) +
                             ": header must be {path, sha256, size, mtime_ns?}");
    }
    PushFileInfo f;
    f.path = h["path"].get<std::string>();
    f.sha256 = h["sha256"].get<std::string>();
    f.size = h["size"].get<uint64_t>();
    if (h.contains("mtime_ns") && h["mtime_ns"].is_number_integer()) {
      f.mtime_ns = h["mtime_ns"].get<int64_t>();
    }
    pos = end + 1;
    if (f.size > body.size() - pos) {
      return InvalidArgument("'" + f.path + "': declares " + std::to_string(f.size) +
                             " bytes, the body holds " + std::to_string(body.size() - pos));
    }
    std::string_view data(body.data() + pos, static_cast<size_t>(f.size));
    pos += static_cast<size_t>(f.size);
    out.emplace_back(std::move(f), data);
  }
  return out;
}

HttpResponse Batch(const PushRouteContext& c, const HttpRequest& req) {
  if (Status s = CheckTerm(c, req); !s.ok()) return api::ErrorResponse(s);
  auto files = ParseBatch(req.body);
  if (!files.ok()) return api::ErrorResponse(files.status());
  std::vector<Status> st = c.receiver->WriteWhole(*files);
  json results = json::array();
  for (size_t i = 0; i < st.size(); ++i) {
    json r = {{"path", (*files)[i].first.path}, {"ok", st[i].ok()}};
    if (!st[i].ok()) {
      r["code"] = std::string(CodeName(st[i].code()));
      r["error"] = st[i].message();
    }
    results.push_back(std::move(r));
  }
  return Json(200, {{"files", results}});
}

}  // namespace

void RegisterPushRoutes(api::Router* router, const PushRouteContext& context) {
  router->Add("GET", "/sync/push",
              [context](const HttpRequest& req) { return Begin(context, req); });
  router->Add("POST", "/sync/push",
              [context](const HttpRequest& req) { return Chunk(context, req); });
  router->Add("POST", "/sync/push-batch",
              [context](const HttpRequest& req) { return Batch(context, req); });
}

}  // namespace rift::sync
