#include <charconv>

#include "orchestrator/api/handlers.h"
#include "orchestrator/datasvc/local_cleanup.h"
#include "orchestrator/datasvc/routes_internal.h"
#include "orchestrator/inventory/manifest_json.h"
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
  auto vol = MeasureVolume(c.data->options().data_root);
  cleanup::Volume v = vol.ok() ? *vol : cleanup::Volume{};
  json rest = {{"node_id", c.data->options().node_id},
               {"next_cursor", m.next_cursor},
               {"more", m.more},
               {"disk", {{"total", v.total}, {"free", v.free}}},
               {"outbound_only", c.outbound_only},
               {"training", c.training},
               {"watermarks", {{"high", c.marks.high}, {"low", c.marks.low}}}};
  // The records (up to 20,000) are written straight as text; the few other fields through the
  // DOM, spliced after them.
  std::string body = "{\"records\":" + inventory::RecordsJson(m.records) + ",";
  body += rest.dump(-1, ' ', false, json::error_handler_t::replace).substr(1);
  return api::JsonResponse(200, std::move(body));
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
          {"pushes_planned", p.pushes_planned},
          {"pushes_kept", p.pushes_kept},
          {"shortfalls", shortfalls},
          {"errors", p.errors}};
}

json TransferJson(const TransferInfo& t) {
  return {{"id", t.id},
          {"request_id", t.request_id},
          {"direction", t.direction},
          {"path", t.path},
          {"target", t.target},
          {"bytes_sent", t.bytes_sent},
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
  PushFigures pf = c.leader->Pushes();
  json assignments = json::array();
  for (const auto& a : pf.assignments) {
    assignments.push_back({{"source", a.source},
                           {"target", a.target},
                           {"path", a.path},
                           {"sha256", a.sha256},
                           {"size", a.size},
                           {"term", a.term},
                           {"state", a.state},
                           {"error", a.error},
                           {"issued_ms", a.issued_ms},
                           {"updated_ms", a.updated_ms}});
  }
  json received_active = json::array();
  for (const auto& a : c.data->push_receiver()->Active()) {
    received_active.push_back({{"path", a.path},
                               {"writing", a.active},
                               {"offset", a.offset},
                               {"size", a.size},
                               {"idle_ms", a.idle_ms}});
  }
  json agent = nullptr;
  if (c.agent) {
    PushAgentFigures af = c.agent->Figures();
    agent = {{"polls", af.polls},
             {"poll_errors", af.poll_errors},
             {"leader_url", af.leader_url},
             {"last_error", af.last_error},
             {"term", af.term},
             {"cursor", af.cursor},
             {"pushes_received", af.pushes_received},
             {"pulls_received", af.pulls_received}};
  }
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
                    {"pushes_done", f.pushes_done},
                    {"pushes_failed", f.pushes_failed},
                    {"bytes_sent", f.bytes_sent},
                    {"outbound_only", c.outbound_only},
                    {"cpu_priority", CpuPriorityName(c.data->options().cpu_priority)},
                    {"push_agent", agent},
                    {"received_pushes",
                     {{"files", f.received_pushes.files_received},
                      {"bytes", f.received_pushes.bytes_received},
                      {"failed", f.received_pushes.failed},
                      {"active", received_active}}},
                    {"part_gc",
                     {{"runs", f.part_gc_runs},
                      {"removed", f.parts_removed},
                      {"bytes_removed", f.part_bytes_removed}}},
                    {"transfers", transfers},
                    {"plans", plans},
                    {"pushes",
                     {{"planned", pf.planned},
                      {"active", pf.active},
                      {"done", pf.done},
                      {"failed", pf.failed},
                      {"assignments", assignments}}}});
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

json AssignmentsJson(const std::string& leader_id, const NodeAssignments& a) {
  json pushes = json::array(), pulls = json::array();
  for (const auto& p : a.pushes) {
    pushes.push_back({{"path", p.path},
                      {"sha256", p.sha256},
                      {"size", p.size},
                      {"mtime_ns", p.mtime_ns},
                      {"target", p.target_id},
                      {"target_url", p.target_url}});
  }
  for (const auto& p : a.pulls) {
    pulls.push_back({{"path", p.path},
                     {"sha256", p.sha256},
                     {"size", p.size},
                     {"sources", p.sources},
                     {"mtime_ns", p.mtime_ns}});
  }
  return {{"leader_id", leader_id},
          {"term", a.term},
          {"cursor", a.cursor},
          {"pushes", pushes},
          {"pulls", pulls}};
}

api::HttpResponse AssignRoute(const RouteContext& c, const api::HttpRequest& req) {
  auto report = ParseNodeReport(req.body);
  if (!report.ok()) return api::ErrorResponse(report.status());
  auto a = c.leader->Assign(*report);
  if (!a.ok()) return api::ErrorResponse(a.status());
  return Json(200, AssignmentsJson(c.data->options().node_id, *a));
}

api::HttpResponse ListAssignments(const RouteContext& c, const api::HttpRequest& req) {
  auto it = req.query.find("node");
  if (it == req.query.end() || it->second.empty()) {
    return api::ErrorResponse(InvalidArgument("missing ?node=<id>"));
  }
  return Json(200, AssignmentsJson(c.data->options().node_id, c.leader->Listed(it->second)));
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
  sync::RegisterPushRoutes(router, {c.data->push_receiver(), [node = c.node](uint64_t term) {
                                      return node->CheckTerm(term);
                                    }});
  router->Add("POST", "/sync/assignments", api::LeaderOnly(c.node, [c](const api::HttpRequest& r) {
                return AssignRoute(c, r);
              }));
  router->Add("GET", "/sync/assignments", api::LeaderOnly(c.node, [c](const api::HttpRequest& r) {
                return ListAssignments(c, r);
              }));
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
