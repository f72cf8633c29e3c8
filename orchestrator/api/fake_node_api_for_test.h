#pragma once
// A NodeApi whose answers the test sets directly.
#include <memory>
#include <mutex>
#include <vector>

#include "orchestrator/api/node_api.h"

namespace rift::api {

class FakeNodeApi : public NodeApi {
 public:
  FakeNodeApi() {
    auto s = std::make_shared<PublishedState>();
    s->core.node_id = "n1";
    s->core.role = "follower";
    s->core.term = 3;
    s->core.leader_id = "n2";
    s->core.leader_url = "http://10.0.0.2:8770";
    s->core.members.push_back({"n2", "http://10.0.0.2:8770", "alive", 7, true, false, 12});
    s->core.alive = 1;
    state = s;
  }
  std::shared_ptr<const PublishedState> State() const override { return state; }
  std::vector<protocol::Envelope> Deliver(std::vector<protocol::Envelope> batch) override {
    delivered += batch.size();
    std::vector<protocol::Envelope> replies;
    for (const auto& e : batch) {
      protocol::Envelope r;
      r.from_id = "n1";
      r.to_id = e.from_id;
      r.body = protocol::Ack{1, "n1", {}};
      replies.push_back(r);
    }
    return replies;
  }
  bool HasLease() const override { return lease; }
  Status CheckTerm(uint64_t term) const override {
    uint64_t current = state->core.term;
    if (term < current) return StaleTerm("term " + std::to_string(term) + " is stale");
    if (term > current) return FailedPrecondition("term ahead");
    return Status::Ok();
  }

  Result<bool> Register(const Registration& r) override {
    if (r.url == state->core.url) return InvalidArgument(r.url + " is this node's own URL");
    registrations.push_back(r);
    return registrations.size() == 1;
  }

  std::shared_ptr<PublishedState> state;
  std::vector<Registration> registrations;
  bool lease = false;
  size_t delivered = 0;
};

}  // namespace rift::api
