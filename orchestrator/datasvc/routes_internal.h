#pragma once
// Shared by routes_sync.cc and routes_cleanup.cc (not a public header).
#include <nlohmann/json.hpp>
#include <string>

#include "orchestrator/api/errors.h"
#include "orchestrator/api/http.h"
#include "orchestrator/datasvc/routes.h"

namespace rift::datasvc::internal {

using nlohmann::json;

inline api::HttpResponse Json(int status, const json& j) {
  return api::JsonResponse(status, j.dump(-1, ' ', false, json::error_handler_t::replace));
}

// The request body as a JSON object ({} when empty).
Result<json> BodyObject(const api::HttpRequest& req);
// Checks a leader term carried by the request (X-RingRift-Term, else body "term"), if any.
Status Fence(api::NodeApi* node, const api::HttpRequest& req, const json& body);
// Base URL of an alive member (from the published snapshot), "" if unknown.
std::string UrlOf(api::NodeApi* node, const std::string& node_id);

void RegisterCleanupRoutes(api::Router* router, const RouteContext& c);

}  // namespace rift::datasvc::internal
