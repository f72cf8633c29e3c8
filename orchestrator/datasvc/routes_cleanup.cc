#include "orchestrator/api/handlers.h"
#include "orchestrator/datasvc/local_cleanup.h"
#include "orchestrator/datasvc/routes_internal.h"

namespace rift::datasvc::internal {
namespace {

json OutcomeJson(const std::string& node_id, bool dry_run, const CleanupOutcome& o) {
  json dels = json::array(), refused = json::array(), failed = json::array();
  for (const auto& d : o.plan.deletions) {
    dels.push_back({{"path", d.path},
                    {"size", d.size},
                    {"reason", d.reason},
                    {"justified_by", d.justified_by}});
  }
  for (const auto& r : o.plan.refusals) refused.push_back({{"path", r.path}, {"reason", r.reason}});
  for (const auto& r : o.failed) failed.push_back({{"path", r.path}, {"reason", r.reason}});
  double used = o.volume.total ? 1.0 - double(o.volume.free) / double(o.volume.total) : 0;
  return {{"node_id", node_id},
          {"dry_run", dry_run},
          {"volume", {{"total", o.volume.total}, {"free", o.volume.free}, {"used_fraction", used}}},
          {"needed", o.plan.needed},
          {"bytes_to_free", o.plan.bytes_to_free},
          {"bytes_freed", o.plan.bytes_freed},
          {"reaches_low_watermark", o.plan.reaches_low_watermark},
          {"deletions", dels},
          {"deleted", o.deleted},
          {"refused", refused},
          {"failed", failed},
          {"holders_checked", o.holders_checked},
          {"holders_verified", o.holders_verified}};
}

api::HttpResponse Local(const RouteContext& c, const CleanupRequest& req) {
  auto o = RunLocalCleanup(c.data, req,
                           [node = c.node](const std::string& id) { return UrlOf(node, id); });
  if (!o.ok()) return api::ErrorResponse(o.status());
  return Json(200, OutcomeJson(c.data->options().node_id, req.dry_run, *o));
}

api::HttpResponse Fanout(const RouteContext& c, json body) {
  body.erase("scope");
  body.erase("term");
  json nodes = json::object();
  for (const auto& r : c.leader->PostToAll("/cleanup", body.dump())) {
    json j = json::parse(r.body, nullptr, false);
    nodes[r.node_id] = {
        {"status", r.status}, {"error", r.error}, {"result", j.is_discarded() ? json(r.body) : j}};
  }
  return Json(200, {{"scope", "cluster"}, {"nodes", nodes}});
}

api::HttpResponse CleanupRoute(const RouteContext& c, const api::HttpRequest& req) {
  auto body = BodyObject(req);
  if (!body.ok()) return api::ErrorResponse(body.status());
  if (body->value("scope", "") == "cluster") {
    return api::LeaderOnly(c.node, [&](const api::HttpRequest&) { return Fanout(c, *body); })(req);
  }
  if (Status st = Fence(c.node, req, *body); !st.ok()) return api::ErrorResponse(st);
  CleanupRequest cr;
  cr.dry_run = body->value("dry_run", false);
  cr.marks = c.marks;
  return Local(c, cr);
}

api::HttpResponse FilesRoute(const RouteContext& c, const api::HttpRequest& req) {
  auto body = BodyObject(req);
  if (!body.ok()) return api::ErrorResponse(body.status());
  if (Status st = Fence(c.node, req, *body); !st.ok()) return api::ErrorResponse(st);
  if (!body->value("files", json()).is_array()) {
    return api::ErrorResponse(InvalidArgument("files: expected an array of relative paths"));
  }
  CleanupRequest cr;
  cr.explicit_files = true;
  for (const auto& f : (*body)["files"]) {
    if (f.is_string()) cr.files.push_back(f);
  }
  cr.reason = body->value("reason", "");
  if (cr.reason.empty()) return api::ErrorResponse(InvalidArgument("reason: required"));
  cr.force = body->value("force", false);
  cr.dry_run = body->value("dry_run", false);
  return Local(c, cr);
}

}  // namespace

void RegisterCleanupRoutes(api::Router* router, const RouteContext& c) {
  router->Add("POST", "/cleanup", [c](const api::HttpRequest& r) { return CleanupRoute(c, r); });
  router->Add("POST", "/cleanup/files",
              [c](const api::HttpRequest& r) { return FilesRoute(c, r); });
}

}  // namespace rift::datasvc::internal
