// Real daemons on 127.0.0.1: election, failover, rejoin, and the original system's fatal
// scenario (followers seeded only with the coordinator; the coordinator dies).
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tests/harness/cluster.h"

namespace rift::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kToken[] = "cluster-test-token";

class LoopbackCluster : public ::testing::Test {
 protected:
  // Starts `n` daemons; the first `voters` are voters; every node but the first is seeded only
  // with the first node's URL (the installers' star seeding).
  void StartCluster(int n, int voters) {
    std::string voter_list;
    for (int i = 1; i <= voters; ++i) voter_list += (i > 1 ? "," : "") + Id(i);
    for (int i = 1; i <= n; ++i) {
      DaemonOptions o;
      o.node_id = Id(i);
      o.env["RINGRIFT_P2P_VOTERS"] = voter_list;
      o.env["RINGRIFT_TIMER_PROFILE"] = "etcd";
      o.env["RINGRIFT_CLUSTER_AUTH_TOKEN"] = kToken;
      if (i > 1) o.env["COORDINATOR_URL"] = nodes_[0]->url();
      nodes_.push_back(std::make_unique<Daemon>(DaemonBinary(), o, dir_.path() + "/" + Id(i)));
      std::string err;
      ASSERT_TRUE(nodes_.back()->Start(&err)) << Id(i) << ": " << err;
    }
  }

  static std::string Id(int i) { return "n" + std::to_string(i); }

  std::vector<Daemon*> Live() {
    std::vector<Daemon*> out;
    for (auto& d : nodes_)
      if (d->Running()) out.push_back(d.get());
    return out;
  }

  // Every live node reports the same leader (and term) and knows all live nodes as alive.
  // Returns the leader id, or "" if not converged.
  std::string AgreedLeader(uint64_t* term = nullptr, bool require_full_view = true) {
    std::set<std::string> leaders;
    std::set<uint64_t> terms;
    auto live = Live();
    for (Daemon* d : live) {
      auto s = d->Status(kToken);
      if (!s || !s->leader_id) return "";
      leaders.insert(*s->leader_id);
      terms.insert(s->term);
      if (require_full_view) {
        for (Daemon* other : live) {
          if (other == d) continue;
          const MemberInfo* m = s->Find(other->node_id());
          if (!m || m->state != "alive") return "";
        }
      }
    }
    if (leaders.size() != 1 || terms.size() != 1) return "";
    if (term) *term = *terms.begin();
    return *leaders.begin();
  }

  Daemon* ById(const std::string& id) {
    for (auto& d : nodes_)
      if (d->node_id() == id) return d.get();
    return nullptr;
  }

  std::string Logs() {
    std::string s;
    for (auto& d : nodes_) s += "--- " + d->node_id() + "\n" + d->LogTail(3000);
    return s;
  }

  TempDir dir_{"rift-cluster"};
  std::vector<std::unique_ptr<Daemon>> nodes_;
};

TEST_F(LoopbackCluster, FiveNodesElectOneLeaderAndFailOverAfterKill9) {
  StartCluster(5, 3);
  std::string leader;
  uint64_t term1 = 0;
  ASSERT_TRUE(WaitFor([&] { return !(leader = AgreedLeader(&term1)).empty(); }, seconds(30)))
      << Logs();
  EXPECT_TRUE(leader == "n1" || leader == "n2" || leader == "n3") << leader;

  Daemon* old = ById(leader);
  old->Kill(SIGKILL);
  std::string next;
  uint64_t term2 = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        next = AgreedLeader(&term2, /*require_full_view=*/false);
        return !next.empty() && next != leader;
      },
      seconds(30)))
      << Logs();
  EXPECT_GT(term2, term1);

  // The old leader restarts: it rejoins as a follower of the current leader, without forcing an
  // election (the term stays the same).
  // Its config names a survivor as seed, as a real deployment's host list would.
  old->options().env["COORDINATOR_URL"] = ById(next)->url();
  std::string err;
  ASSERT_TRUE(old->Start(&err)) << err;
  ASSERT_TRUE(WaitFor([&] { return AgreedLeader() == next; }, seconds(30))) << Logs();
  uint64_t term3 = 0;
  EXPECT_EQ(AgreedLeader(&term3), next);
  EXPECT_EQ(term3, term2) << "the rejoining node forced an election";
  auto s = old->Status(kToken);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->role, "follower");
}

TEST_F(LoopbackCluster, FollowersSeededOnlyWithCoordinatorLearnEachOtherAndSurviveItsDeath) {
  // n1 is the "coordinator": every other node knows only its URL.
  StartCluster(5, 3);
  ASSERT_TRUE(WaitFor([&] { return !AgreedLeader().empty(); }, seconds(30))) << Logs();
  for (Daemon* d : Live()) {
    auto s = d->Status(kToken);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->CountState("alive"), 4u) << d->node_id() << " does not know every member";
  }

  nodes_[0]->Kill(SIGKILL);
  // Exactly one leader among the survivors, the same for all, and it stays that way.
  std::string leader;
  ASSERT_TRUE(WaitFor(
      [&] { return !(leader = AgreedLeader(nullptr, false)).empty() && leader != "n1"; },
      seconds(30)))
      << Logs();
  for (int i = 0; i < 10; ++i) {
    int leaders = 0;
    for (Daemon* d : Live()) {
      auto s = d->Status(kToken);
      if (s && s->role == "leader") ++leaders;
    }
    EXPECT_LE(leaders, 1);
    std::this_thread::sleep_for(milliseconds(200));
  }
  EXPECT_EQ(AgreedLeader(nullptr, false), leader);
}

TEST_F(LoopbackCluster, SingleVoterLeadsAtOnce) {
  StartCluster(1, 1);
  ASSERT_TRUE(WaitFor([&] { return AgreedLeader() == "n1"; }, seconds(10))) << Logs();
}

}  // namespace
}  // namespace rift::testing
