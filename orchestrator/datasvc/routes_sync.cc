#include <charconv>

#include "orchestrator/api/handlers.h"
#include "orchestrator/datasvc/local_cleanup.h"
#include "orchestrator/datasvc/routes_internal.h"
#include "orchestrator/sync/transfer_server.h"

namespace rift::datasvc {
namespace internal {

Result<json> BodyObject(const api::HttpRequest& req) {
  if (req.body.empty()) return json::object();
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("body: expected a JSON object");
  return j;
}

Status Fence(api::NodeApi* node, const api::HttpRequest& req, const json& body) {
  uint64_t term = 0;
  if (auto h = req.Header("X-RingRift-Term"); !h.empty()) {
    auto [p, ec] = std::from_chars(h.data(), h.data() + h.size(), term);
    if (ec != std::errc() || p != h.data() + h.size()) {
      return InvalidArgument("X-RingRift-Term: expected an unsigned integer");
    }
  } else if (body.contains("term")) {
    if (!body["term"].is_number_unsigned()) return InvalidArgument("term: expected unsigned");
    term = body["term"].get<uint64_t>();
  } else {
    return Status::Ok();
  }
  return node->CheckTerm(term);
}

std::string UrlOf(api::NodeApi* node, const std::string& node_id) {
  auto s = node->State();
  if (s->core.node_id == node_id) return s->core.url;
  for (const auto& m : s->core.members) {
    if (m.node_id == node_id && m.state == "alive") return m.url;
  }
  return "";
}

}  // namespace internal

namespace {
using namespace internal;

uint64_t QueryU64(const api::HttpRequest& req, const char* key, uint64_t def) {
  auto it = req.query.find(key);
  if (it == req.query.end()) return def;
  uint64_t v = def;
  std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
  return v;
}

api::HttpResponse Manifest(const RouteContext& c, const api::HttpRequest& req) {
  auto m = c.data->inventory()->ManifestSince(
      QueryU64(req, "cursor", 0), std::clamp<uint64_t>(QueryU64(req, "limit", 5000), 1, 20000));
  json recs = json::array();
  for (const auto& r : m.records) {
    recs.push_back({{"path", r.path},
                    {"size", r.size},
                    {"mtime_ns", r.mtime_ns},
                    {"sha256", r.sha256},
                    {"class", r.klass},
                    {"version", r.version},
                    {"sealed", r.sealed},
                    {"deleted", r.deleted},
                    {"seq", r.seq}});
  }
  auto vol = MeasureVolume(c.data->options().data_root);
  cleanup::Volume v = vol.ok() ? *vol : cleanup::Volume{};
  return Json(200, {{"node_id", c.data->options().node_id},
                    {"records", std::move(recs)},
                    {"next_cursor", m.next_cursor},
                    {"more", m.more},
                    {"disk", {{"total", v.total}, {"free", v.free}}},
                    {"outbound_only", c.outbound_only},
                    {"training", c.training},
                    {"watermarks", {{"high", c.marks.high}, {"low", c.marks.low}}}});
}

Result<std::vector<PullSpec>> ParsePulls(const json& body) {
  if (!body.contains("files") || !body["files"].is_array()) {
    return InvalidArgument("files: expected an array");
  }
  std::vector<PullSpec> out;
  for (const auto& f : body["files"]) {
    if (!f.is_object() || !f.value("path", json()).is_string() ||
        !f.value("sources", json()).is_array()) {
      return InvalidArgument("files[]: expected {path, sha256, size, sources:[url]}");
    }
    PullSpec p{f["path"],
               f.value("sha256", ""),
               f.value("size", uint64_t{0}),
               {},
               f.value("mtime_ns", int64_t{0})};
    for (const auto& s : f["sources"]) {
      if (s.is_string()) p.sources.push_back(s);
    }
    out.push_back(std::move(p));
  }
  return out;
}

api::HttpResponse PullRoute(const RouteContext& c, const api::HttpRequest& req) {
  auto body = BodyObject(req);
  if (!body.ok()) return api::ErrorResponse(body.status());
  if (Status st = Fence(c.node, req, *body); !st.ok()) return api::ErrorResponse(st);
  auto files = ParsePulls(*body);
  if (!files.ok()) return api::ErrorResponse(files.status());
  auto r = c.data->Submit(std::move(files).value());
  if (!r.ok()) return api::ErrorResponse(r.status());
  return Json(202,
              {{"transfer_id", r->request_id}, {"queued", r->queued}, {"skipped", r->skipped}});
}

json PlanJson(const PlanSummary& p) {
  json shortfalls = json::array();
  for (const auto& [path, why] : p.shortfalls)
    shortfalls.push_back({{"path", path}, {"reason", why}});
  return {{"plan_id", p.plan_id},
          {"kind", p.kind},
          {"term", p.term},
          {"at_ms", p.at_ms},
          {"pulls_per_node", p.pulls_per_node},
          {"bytes", p.bytes},
          {"pushes_not_done", p.pushes_not_done},
          {"shortfalls", shortfalls},
          {"errors", p.errors}};
}

json TransferJson(const TransferInfo& t) {
  return {{"id", t.id},
          {"request_id", t.request_id},
          {"path", t.path},
          {"files", t.files},
          {"state", t.state},
          {"bytes_total", t.bytes_total},
          {"bytes_done", t.bytes_done},
          {"bytes_received", t.bytes_received},
          {"bytes_resumed", t.bytes_resumed},
          {"rate_bytes_per_sec", t.rate_bytes_per_sec},
          {"source", t.source},
          {"error", t.error},
          {"queued_ms", t.queued_ms},
          {"started_ms", t.started_ms},
          {"finished_ms", t.finished_ms}};
}

api::HttpResponse StatusRoute(const RouteContext& c, const api::HttpRequest&) {
  DataFigures f = c.data->Figures();
  json transfers = json::array();
  for (const auto& t : c.data->Transfers()) transfers.push_back(TransferJson(t));
  json plans = json::array();
  for (const auto& p : c.leader->RecentPlans()) plans.push_back(PlanJson(p));
  return Json(200, {{"node_id", c.data->options().node_id},
                    {"inventory",
                     {{"files", f.files},
                      {"sealed", f.sealed},
                      {"bytes", f.bytes},
                      {"scans", f.scans},
                      {"last_scan_error", f.last_scan_error}}},
                    {"active", f.transfers_active},
                    {"queued", f.transfers_queued},
                    {"done", f.transfers_done},
                    {"failed", f.transfers_failed},
                    {"bytes_received", f.bytes_received},
                    {"bytes_resumed", f.bytes_resumed},
                    {"transfers", transfers},
                    {"plans", plans}});
}

api::HttpResponse HoldersRoute(const RouteContext& c, const api::HttpRequest& req) {
  auto body = BodyObject(req);
  if (!body.ok()) return api::ErrorResponse(body.status());
  if (Status st = Fence(c.node, req, *body); !st.ok()) return api::ErrorResponse(st);
  size_t n = 0;
  int64_t now = RealTime().WallMillis();
  for (const auto& h : body->value("holders", json::array())) {
    if (!h.is_object()) continue;
    inventory::Holder holder{h.value("node_id", ""), h.value("sha256", ""), now};
    n += c.data->inventory()->AddHolder(h.value("path", ""), holder).ok();
  }
  return Json(200, {{"recorded", n}});
}

api::HttpResponse Round(const RouteContext& c, PlanKind kind) {
  auto r = c.leader->Run(kind);
  if (!r.ok()) return api::ErrorResponse(r.status());
  return Json(200, PlanJson(*r));
}

}  // namespace

void RegisterDataRoutes(api::Router* router, const RouteContext& c) {
  sync::TransferContext tc;
  tc.data_root = c.data->options().data_root;
  tc.inventory = c.data->inventory();
  sync::RegisterTransferRoutes(router, tc);
  router->Add("GET", "/sync/manifest", [c](const api::HttpRequest& r) { return Manifest(c, r); });
  router->Add("POST", "/sync/pull", [c](const api::HttpRequest& r) { return PullRoute(c, r); });
  router->Add("GET", "/sync/status", [c](const api::HttpRequest& r) { return StatusRoute(c, r); });
  router->Add("POST", "/sync/holders",
              [c](const api::HttpRequest& r) { return HoldersRoute(c, r); });
  router->Add("POST", "/sync/training", api::LeaderOnly(c.node, [c](const api::HttpRequest&) {
                return Round(c, PlanKind::kTraining);
              }));
  router->Add("POST", "/sync/start", api::LeaderOnly(c.node, [c](const api::HttpRequest&) {
                return Round(c, PlanKind::kReplication);
              }));
  RegisterCleanupRoutes(router, c);
}

}  // namespace rift::datasvc
