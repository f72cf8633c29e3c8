#pragma once
// The daemon's routes, as plain functions over HttpRequest/HttpResponse.
//
//   GET  /health          public   the original's fields + term, leader_id (from the snapshot)
//   GET  /status          token    node, role, term, leader, quorum, members, conflicts
//   GET  /metrics         token    Prometheus text format 0.0.4
//   POST /gossip /election /heartbeat   token   codec batch in, reply batch out
//   POST /leader/ping     token, leader only    diagnostic: {node_id, term}
//   POST /fenced/echo     token, X-RingRift-Term required   diagnostic: fencing check
//   POST /register        token    {node_id, url, ssh_port?}: membership probes the URL
#include <cstddef>

#include "orchestrator/api/node_api.h"
#include "orchestrator/api/router.h"

namespace rift::api {

// Largest accepted envelope batch (the body size is bounded by the server too).
inline constexpr size_t kMaxBatch = 512;

// Registers every route above. `node` and `router` must outlive serving.
void RegisterRoutes(Router* router, NodeApi* node);

// Wraps a handler so that it runs only on a leader holding its lease: otherwise 421 NOT_LEADER
// with leader_id/leader_url. A leader term carried by the request (X-RingRift-Term header or a
// JSON "term" field) is checked first: stale -> 409 STALE_TERM.
Handler LeaderOnly(NodeApi* node, Handler handler);

}  // namespace rift::api
