#include "orchestrator/core/node_core.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace rift::core {
namespace {

std::string UrlFor(const std::string& id) { return "http://" + id + ":8770"; }

// Three NodeCores on a lossless, instant network: a request's replies go straight back to its
// sender, outbound envelopes are queued as new requests.
class FakeNetwork {
 public:
  explicit FakeNetwork(int n) {
    std::vector<std::string> ids;
    for (int i = 1; i <= n; ++i) ids.push_back("n" + std::to_string(i));
    for (const auto& id : ids) {
      NodeConfig c;
      c.membership.node_id = id;
      c.membership.advertise_url = UrlFor(id);
      c.membership.incarnation = 1000 + ids.size();
      c.membership.boot_id = 77;
      c.membership.voter = true;
      c.membership.seeds = {UrlFor(ids[0])};
      c.election.voters = ids;
      c.election.node_id = "ignored";  // NodeCore copies identity from membership
      stores_.push_back(std::make_unique<election::MemoryVoteStore>());
      nodes_[UrlFor(id)] = std::make_unique<NodeCore>(
          c, stores_.back().get(), /*seed=*/ids.size() * 31 + id[1], clock_.Now());
    }
  }

  NodeCore& node(const std::string& id) { return *nodes_.at(UrlFor(id)); }
  TimePoint now() const { return clock_.Now(); }

  void Step(Duration d) {
    clock_.Advance(d);
    for (auto& [url, core] : nodes_) {
      for (auto& e : core->Tick(clock_.Now())) Send(std::move(e));
    }
    Drain();
  }

  // Runs until `done` holds or `limit` passes; returns whether it held.
  template <typename Pred>
  bool RunUntil(Duration limit, Pred done) {
    TimePoint deadline = clock_.Now() + limit;
    while (clock_.Now() < deadline) {
      Step(milliseconds(50));
      if (done()) return true;
    }
    return false;
  }

  std::vector<protocol::Envelope> sent;  // everything that went on the wire

 private:
  void Send(protocol::Envelope e) {
    sent.push_back(e);
    queue_.push_back(std::move(e));
  }

  void Drain() {
    while (!queue_.empty()) {
      protocol::Envelope e = std::move(queue_.front());
      queue_.pop_front();
      auto it = nodes_.find(e.to_url);
      if (it == nodes_.end()) continue;
      protocol::Output out = it->second->Receive(e, clock_.Now());
      auto back = nodes_.find(e.from_url);
      for (auto& r : out.replies) {
        sent.push_back(r);
        if (back == nodes_.end()) continue;
        protocol::Output again = back->second->Receive(r, clock_.Now());
        for (auto& o : again.outbound) Send(std::move(o));
        for (auto& o : again.replies) Send(std::move(o));
      }
      for (auto& o : out.outbound) Send(std::move(o));
    }
  }

  FakeClock clock_;
  std::vector<std::unique_ptr<election::MemoryVoteStore>> stores_;
  std::map<std::string, std::unique_ptr<NodeCore>> nodes_;
  std::deque<protocol::Envelope> queue_;
};

bool OneAgreedLeader(FakeNetwork& net) {
  std::optional<std::string> leader;
  int leaders = 0;
  for (const char* id : {"n1", "n2", "n3"}) {
    const auto& el = net.node(id).election();
    if (el.role() == election::Role::kLeader) {
      ++leaders;
      leader = id;
    }
  }
  if (leaders != 1) return false;
  for (const char* id : {"n1", "n2", "n3"}) {
    if (net.node(id).election().leader_id() != leader) return false;
    if (net.node(id).membership().AliveCount() != 2) return false;
  }
  return net.node(*leader).HasLease(net.now());
}

TEST(NodeCoreTest, ElectionIdentityIsCopiedFromMembership) {
  FakeNetwork net(3);
  EXPECT_EQ(net.node("n2").config().election.node_id, "n2");
  EXPECT_EQ(net.node("n2").config().election.self_url, UrlFor("n2"));
  EXPECT_EQ(net.node("n2").election().config().node_id, "n2");
}

TEST(NodeCoreTest, FreshNodeSnapshotIsAFollowerWithoutMembers) {
  FakeNetwork net(3);
  Snapshot s = net.node("n3").TakeSnapshot(net.now());
  EXPECT_EQ(s.node_id, "n3");
  EXPECT_EQ(s.url, UrlFor("n3"));
  EXPECT_EQ(s.role, "follower");
  EXPECT_TRUE(s.voter);
  EXPECT_FALSE(s.leader_id.has_value());
  EXPECT_FALSE(s.lease);
  EXPECT_TRUE(s.members.empty());
  EXPECT_EQ(s.alive + s.suspect + s.dead, 0u);
}

TEST(NodeCoreTest, ThreeNodesJoinFromOneSeedAndElectOneLeader) {
  FakeNetwork net(3);
  ASSERT_TRUE(net.RunUntil(seconds(60), [&] { return OneAgreedLeader(net); }));

  std::string leader;
  for (const char* id : {"n1", "n2", "n3"}) {
    if (net.node(id).election().role() == election::Role::kLeader) leader = id;
  }
  for (const char* id : {"n1", "n2", "n3"}) {
    SCOPED_TRACE(id);
    Snapshot s = net.node(id).TakeSnapshot(net.now());
    EXPECT_EQ(s.node_id, id);
    EXPECT_EQ(s.role, id == leader ? "leader" : "follower");
    EXPECT_EQ(s.leader_id, leader);
    EXPECT_EQ(s.leader_url, UrlFor(leader));
    EXPECT_GE(s.term, 1u);
    EXPECT_EQ(s.term, net.node(leader).election().term());
    EXPECT_EQ(s.lease, id == leader);
    EXPECT_TRUE(s.quorum);
    EXPECT_EQ(s.incarnation, net.node(id).membership().incarnation());
    EXPECT_EQ(s.alive, 2u);
    EXPECT_EQ(s.suspect, 0u);
    EXPECT_EQ(s.dead, 0u);
    ASSERT_EQ(s.members.size(), 2u);
    for (const auto& m : s.members) {
      EXPECT_NE(m.node_id, id);
      EXPECT_EQ(m.url, UrlFor(m.node_id));
      EXPECT_EQ(m.state, "alive");
      EXPECT_TRUE(m.voter);
      EXPECT_GE(m.last_seen_ms, 0);
      EXPECT_LT(m.last_seen_ms, 5000);
    }
    EXPECT_LT(s.members[0].node_id, s.members[1].node_id);
    EXPECT_TRUE(s.conflicts.empty());
  }
  EXPECT_EQ(net.node(leader).TakeSnapshot(net.now()).election_stats.became_leader, 1u);
  EXPECT_TRUE(net.node("n1").CheckTerm(net.node(leader).election().term()).ok());
}

TEST(NodeCoreTest, EveryEnvelopeOnTheWireIsAddressedAndSigned) {
  FakeNetwork net(3);
  ASSERT_TRUE(net.RunUntil(seconds(60), [&] { return OneAgreedLeader(net); }));
  net.RunUntil(seconds(5), [] { return false; });
  bool saw_heartbeat = false;
  for (const auto& e : net.sent) {
    EXPECT_FALSE(e.from_id.empty());
    EXPECT_EQ(e.from_url, UrlFor(e.from_id));
    EXPECT_FALSE(e.to_url.empty());
    saw_heartbeat |= std::holds_alternative<protocol::Heartbeat>(e.body);
  }
  EXPECT_TRUE(saw_heartbeat);
}

TEST(NodeCoreTest, LastSeenAgesWhenNothingArrives) {
  FakeNetwork net(3);
  ASSERT_TRUE(net.RunUntil(seconds(60), [&] { return OneAgreedLeader(net); }));
  Snapshot later = net.node("n1").TakeSnapshot(net.now() + seconds(3));
  for (const auto& m : later.members) EXPECT_GE(m.last_seen_ms, 3000);
}

}  // namespace
}  // namespace rift::core
