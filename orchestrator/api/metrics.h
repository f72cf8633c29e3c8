#pragma once
// Prometheus text exposition (format 0.0.4) of the node's state and the router's counters.
#include <string>

#include "orchestrator/api/node_api.h"
#include "orchestrator/api/router.h"

namespace rift::api {

inline constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string RenderMetrics(const PublishedState& state, const Router& router);

}  // namespace rift::api
