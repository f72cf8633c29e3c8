#pragma once
// The data plane's HTTP routes, as plain functions registered on the daemon's router (they live
// here rather than in api/ so that api/ does not depend on the inventory, the transfer code or
// the planners; node/ calls RegisterDataRoutes). All routes need the cluster token.
//
//   GET  /sync/manifest?cursor=N&limit=M   inventory records with seq > N, disk, roles
//   GET  /sync/file, POST /sync/files      sync::RegisterTransferRoutes
//   GET/POST /sync/push, POST /sync/push-batch   sync::RegisterPushRoutes (receiving pushes from
//                        outbound-only nodes; the carried term is fenced)
//   POST /sync/assignments  leader only: an outbound-only node's poll (its manifest page and
//                        push outcomes in, its pushes and pulls out); GET ?node=ID lists them
//   POST /sync/pull      {files:[{path,sha256,size,sources}], term?} -> 202 {transfer_id}
//                        (a carried leader term is fenced: stale -> 409)
//   GET  /sync/status    this node's transfers, figures; on the leader its recent plans
//   POST /sync/holders   {holders:[{path,node_id,sha256}], term?} claims to re-verify later
//   POST /sync/training, POST /sync/start   leader only: one round, answers the plan summary
//   POST /cleanup        {dry_run?, scope?:"cluster", term?}; scope=cluster: leader only, fans out
//   POST /cleanup/files  {files:[rel], reason, force?, dry_run?}
#include "orchestrator/api/node_api.h"
#include "orchestrator/api/router.h"
#include "orchestrator/cleanup/planner.h"
#include "orchestrator/datasvc/data_service.h"
#include "orchestrator/datasvc/leader_sync.h"
#include "orchestrator/datasvc/push_agent.h"

namespace rift::datasvc {

struct RouteContext {
  api::NodeApi* node = nullptr;
  DataService* data = nullptr;
  LeaderSync* leader = nullptr;
  PushAgent* agent = nullptr;  // outbound-only nodes only
  cleanup::Watermarks marks;
  bool outbound_only = false;
  bool training = false;
};

// `context`'s pointers must outlive serving.
void RegisterDataRoutes(api::Router* router, const RouteContext& context);

}  // namespace rift::datasvc
