#pragma once
// PushAgent: the data plane of an outbound-only node (RINGRIFT_OUTBOUND_ONLY=1 or the host's
// `nat_blocked: true`). Nobody can call such a node, so it asks for its work in its own
// requests: every `poll_interval` (and at once after a push ends or while its manifest has more
// pages) it POSTs /sync/assignments to the leader with
//   - its manifest changes since the cursor the leader holds (a page of at most
//     `manifest_page_bytes`, the same records GET /sync/manifest serves), its disk and
//     watermarks: the leader plans with them as if it had fetched the manifest;
//   - the outcome of the pushes that ended since the last successful poll, and the pushes
//     still queued or running (so the leader keeps them);
// and queues what the answer lists: pushes (sync::PushFile / PushBatch to each target, with
// the leader's term, through the data service's bounded transfer workers) and pulls.
//
// The leader is the snapshot's leader URL, else any alive member; a 421 answer names the
// leader to use. A leader that lost its lease answers 421 and hands out nothing.
//
// Thread-safety: Start/Stop and Figures are safe from any thread; one thread polls.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "orchestrator/cleanup/planner.h"
#include "orchestrator/datasvc/data_service.h"

namespace rift::datasvc {

struct PushAgentContext {
  DataService* data = nullptr;  // must outlive the agent
  std::string node_id;
  std::string token;
  // URLs to ask, best first: the leader if known, then the alive members.
  std::function<std::vector<std::string>()> leader_urls;
  cleanup::Watermarks marks;
  std::chrono::milliseconds poll_interval{3000};
  size_t manifest_page_bytes = 512u << 10;  // under the 1 MiB request body cap
};

struct PushAgentFigures {
  uint64_t polls = 0, poll_errors = 0;
  std::string leader_url;  // the last URL that answered 200
  std::string last_error;
  uint64_t term = 0;                                 // of the last answer
  uint64_t cursor = 0;                               // the leader's manifest cursor for this node
  uint64_t pushes_received = 0, pulls_received = 0;  // assignments handed out so far
};

class PushAgent {
 public:
  explicit PushAgent(PushAgentContext context);
  ~PushAgent();  // Stop()s
  PushAgent(const PushAgent&) = delete;
  PushAgent& operator=(const PushAgent&) = delete;

  void Start();
  void Stop();
  PushAgentFigures Figures() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rift::datasvc
