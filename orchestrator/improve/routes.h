#pragma once
// The improvement loop's and the scheduler's HTTP routes (plain functions over api structs,
// registered by node/). All need the cluster token.
//
//   POST /improvement/start  leader only  {iterations?, games_per_iteration?, eval_games?,
//                                          promote_win_rate?, board?} -> 201 {loop_id}
//   GET  /improvement/status leader only  the loop (config, iteration, stage, jobs, figures per
//                                          iteration), the scheduler's per-node targets
//   POST /improvement/stop   leader only  -> {stopped, loop_id}
//   GET  /improvement/state  any node     {node_id, term, seq, state} as stored here
//   POST /improvement/state  any node     {term, seq, state}: the leader replicating a
//                                          transition (stale term or older (term, seq) -> 409)
//   POST /leader/commands    leader only  {node_id, capacity, jobs} from an outbound-only node
//                                          -> {term, commands:[{op, body}]}
//   GET  /scheduler/capacity any node     this node's cpus, gpus, memory and disk use
#include <functional>

#include "orchestrator/api/node_api.h"
#include "orchestrator/api/router.h"
#include "orchestrator/improve/service.h"
#include "orchestrator/improve/state_store.h"

namespace rift::improve {

struct RouteContext {
  api::NodeApi* node = nullptr;
  ImprovementService* service = nullptr;
  StateStore* store = nullptr;
  std::function<Capacity()> capacity;
};

// `context`'s pointers must outlive serving.
void RegisterImprovementRoutes(api::Router* router, const RouteContext& context);

}  // namespace rift::improve
