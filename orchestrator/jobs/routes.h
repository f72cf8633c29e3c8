#pragma once
// The jobs' HTTP routes, as plain functions the node registers (api/ stays free of the job
// manager). All need the cluster token. A leader term carried by a request (X-RingRift-Term,
// else the body's "term") is fenced: stale -> 409 STALE_TERM.
//
//   POST /start_job {kind, params:{k: v}, idempotency_key?, term?}
//        -> 201 {job} (new) | 200 {job} (key seen: that job) | 400 | 409 | 412 | 429
//   POST /stop_job {job_id} | {idempotency_key}, term?  -> 200 {job}
//   POST /training/nnue/start, /training/cmaes/start {params, idempotency_key?, term?}
//        = /start_job with kind training.nnue / training.cmaes
//   GET  /jobs[?kind=&state=]  -> {jobs:[job...]} (newest first)
//   GET  /jobs/{id}            -> {job}
//   GET  /jobs/{id}/log?tail=BYTES[&follow=1]   text/plain; follow streams until the job ends
//        (or the client leaves, or nothing was written for a while: clients re-follow)
//   GET  /training/status      -> {jobs:[training jobs], latest: newest finished one | null}
#include <chrono>

#include "orchestrator/api/node_api.h"
#include "orchestrator/api/router.h"
#include "orchestrator/jobs/manager.h"

namespace rift::jobs {

inline constexpr uint64_t kDefaultLogTail = 64 << 10;
inline constexpr uint64_t kMaxLogTail = 64 << 20;

struct RouteContext {
  api::NodeApi* node = nullptr;
  JobManager* jobs = nullptr;
  // A follow that sees nothing new for this long ends (the client re-follows if it wants):
  // a client that left while the job was silent holds a worker for at most this long.
  std::chrono::milliseconds follow_idle{30000};
};

// `context`'s pointers must outlive serving.
void RegisterJobRoutes(api::Router* router, const RouteContext& context);

}  // namespace rift::jobs
