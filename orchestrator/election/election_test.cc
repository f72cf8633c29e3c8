#include "orchestrator/election/election.h"

#include <gtest/gtest.h>

#include "orchestrator/base/log.h"
#include "orchestrator/election/sim_net_for_test.h"

namespace rift::election {
namespace {

using protocol::Envelope;
using protocol::Heartbeat;
using protocol::HeartbeatAck;
using protocol::VoteRequest;
using protocol::VoteResponse;
using testing::kElectionTimeout;
using testing::kTick;
using testing::SimNet;

const TimePoint kT0 = TimePoint(std::chrono::hours(1));

class Quiet : public ::testing::Environment {
  void SetUp() override { log::SetLevel(log::Level::kError); }
};
const auto* const kQuiet = ::testing::AddGlobalTestEnvironment(new Quiet);

Config VoterConfig(const std::string& id, std::vector<std::string> voters) {
  Config c;
  c.node_id = id;
  c.self_url = "http://" + id + ":8770";
  c.voters = std::move(voters);
  c.timers = Timers{milliseconds(100), kElectionTimeout, 0.9};
  return c;
}

Envelope From(const std::string& from, protocol::Body body) {
  Envelope e;
  e.from_id = from;
  e.from_url = "http://" + from + ":8770";
  e.to_id = "n1";
  e.body = std::move(body);
  return e;
}

PersistentState Stored(VoteStore& store) { return store.Load().value(); }

class FailingVoteStore : public VoteStore {
 public:
  Result<PersistentState> Load() override { return PersistentState{}; }
  Status Save(const PersistentState&) override { return Internal("disk full"); }
};

TEST(ElectionTest, ThreeVotersElectExactlyOneLeader) {
  SimNet net(3);
  auto leader = net.RunUntilLeader();
  ASSERT_TRUE(leader);
  net.Run(seconds(5));
  ASSERT_EQ(net.Leaders(), std::vector<std::string>{*leader});
  for (const auto& id : net.ids()) {
    EXPECT_EQ(net[id].leader_id(), leader) << id;
    EXPECT_EQ(net[id].term(), net[*leader].term()) << id;
    EXPECT_TRUE(net[id].HasQuorum(net.now())) << id;
    EXPECT_EQ(net[id].leader_url(), "http://" + *leader + ":8770") << id;
  }
  EXPECT_TRUE(net[*leader].HasLease(net.now()));
  EXPECT_EQ(net[*leader].stats().became_leader, 1u);
  EXPECT_EQ(net.claims().size(), 1u);
}

TEST(ElectionTest, AVoteIsPersistedBeforeItIsGranted) {
  MemoryVoteStore store;
  Random random(1);
  Election e(VoterConfig("n1", {"n1", "n2", "n3"}), &store, &random, kT0);
  TimePoint later = kT0 + 2 * kElectionTimeout;  // past the start-up stickiness

  auto out = e.Receive(From("n2", VoteRequest{4, "n2", false, false}), later);

  ASSERT_EQ(out.replies.size(), 1u);
  const auto& resp = std::get<VoteResponse>(out.replies[0].body);
  EXPECT_TRUE(resp.granted);
  EXPECT_EQ(resp.term, 4u);
  EXPECT_EQ(Stored(store).term, 4u);
  EXPECT_EQ(Stored(store).voted_for, "n2");
  EXPECT_EQ(store.saves(), 1);  // term and vote in one durable write
  EXPECT_EQ(out.replies[0].to_id, "n2");
  EXPECT_EQ(out.replies[0].from_id, "n1");
  EXPECT_EQ(out.replies[0].from_url, "http://n1:8770");

  // A second candidate in the same term is refused; the first one may ask again.
  out = e.Receive(From("n3", VoteRequest{4, "n3", false, false}), later);
  EXPECT_FALSE(std::get<VoteResponse>(out.replies[0].body).granted);
  out = e.Receive(From("n2", VoteRequest{4, "n2", false, false}), later);
  EXPECT_TRUE(std::get<VoteResponse>(out.replies[0].body).granted);
}

TEST(ElectionTest, ACandidatePersistsItsSelfVoteBeforeAskingForVotes) {
  MemoryVoteStore store;
  Random random(1);
  Election e(VoterConfig("n1", {"n1", "n2", "n3"}), &store, &random, kT0);
  TimePoint t = kT0 + 2 * kElectionTimeout;
  auto pre = e.Tick(t, {});
  ASSERT_EQ(pre.size(), 2u);
  EXPECT_TRUE(std::get<VoteRequest>(pre[0].body).pre_vote);
  EXPECT_EQ(std::get<VoteRequest>(pre[0].body).term, 1u);
  EXPECT_EQ(e.term(), 0u);  // pre-vote does not bump the term
  EXPECT_EQ(store.saves(), 0);

  auto out = e.Receive(From("n2", VoteResponse{1, true, true}), t);
  ASSERT_EQ(out.outbound.size(), 2u);
  EXPECT_FALSE(std::get<VoteRequest>(out.outbound[0].body).pre_vote);
  EXPECT_EQ(e.role(), Role::kCandidate);
  EXPECT_EQ(Stored(store).term, 1u);
  EXPECT_EQ(Stored(store).voted_for, "n1");

  out = e.Receive(From("n3", VoteResponse{1, true, false}), t);
  EXPECT_EQ(e.role(), Role::kLeader);
  EXPECT_EQ(out.outbound.size(), 2u);  // heartbeats at once
  EXPECT_TRUE(std::holds_alternative<Heartbeat>(out.outbound[0].body));
  EXPECT_EQ(store.saves(), 1);  // leadership itself is never persisted
}

TEST(ElectionTest, AFailingVoteStoreRefusesVotesAndCampaigns) {
  FailingVoteStore store;
  Random random(1);
  Election e(VoterConfig("n1", {"n1", "n2", "n3"}), &store, &random, kT0);
  TimePoint t = kT0 + 2 * kElectionTimeout;
  auto out = e.Receive(From("n2", VoteRequest{1, "n2", false, false}), t);
  EXPECT_FALSE(std::get<VoteResponse>(out.replies[0].body).granted);
  t += 3 * kElectionTimeout;
  ASSERT_EQ(e.Tick(t, {}).size(), 2u);  // pre-votes need no write
  out = e.Receive(From("n2", VoteResponse{e.term() + 1, true, true}), t);
  EXPECT_TRUE(out.outbound.empty());
  EXPECT_EQ(e.role(), Role::kFollower);
  EXPECT_EQ(e.stats().store_errors, 2u);
  EXPECT_EQ(e.stats().elections_started, 0u);
}

TEST(ElectionTest, KillingTheLeaderElectsANewLeaderWithAHigherTerm) {
  SimNet net(3);
  auto first = net.RunUntilLeader();
  ASSERT_TRUE(first);
  uint64_t old_term = net[*first].term();
  net.Crash(*first);
  auto second = net.RunUntilLeader();
  ASSERT_TRUE(second);
  EXPECT_NE(*second, *first);
  EXPECT_GT(net[*second].term(), old_term);
}

TEST(ElectionTest, APartitionedLeaderStepsDownWithinTheElectionTimeoutAndItsTermIsFenced) {
  SimNet net(3);
  auto old = net.RunUntilLeader();
  ASSERT_TRUE(old);
  net.Run(seconds(2));
  uint64_t old_term = net[*old].term();
  TimePoint cut_at = net.now();
  net.Isolate(*old);

  while (net[*old].HasLease(net.now())) net.Step();
  EXPECT_LE(net.now(), cut_at + kElectionTimeout * 9 / 10);
  while (net[*old].role() == Role::kLeader) net.Step();
  EXPECT_LE(net.now(), cut_at + kElectionTimeout + kTick);
  EXPECT_EQ(net[*old].stats().stepped_down, 1u);
  EXPECT_FALSE(net[*old].HasQuorum(net.now()));

  auto fresh = net.RunUntilLeader();
  ASSERT_TRUE(fresh);
  EXPECT_NE(*fresh, *old);
  for (const auto& id : net.ids()) {
    if (id == *old) continue;
    EXPECT_EQ(net[id].CheckTerm(old_term).code(), Code::kStaleTerm) << id;
    EXPECT_TRUE(net[id].CheckTerm(net[*fresh].term()).ok()) << id;
  }
  EXPECT_EQ(net.overlapping_leases(), 0);
}

TEST(ElectionTest, AnIsolatedVoterNeverBumpsItsTermAndCannotDeposeTheLeaderOnRejoin) {
  SimNet net(3);
  auto leader = net.RunUntilLeader();
  ASSERT_TRUE(leader);
  uint64_t term = net[*leader].term();
  std::string loner = *leader == "n1" ? "n2" : "n1";
  net.Isolate(loner);
  net.Run(seconds(60));
  EXPECT_GT(net[loner].stats().pre_votes_started, 10u);  // it kept trying
  EXPECT_EQ(net[loner].stats().elections_started, 0u);
  EXPECT_EQ(net[loner].term(), term);

  net.Heal();
  net.Run(seconds(10));
  EXPECT_EQ(net.Leaders(), std::vector<std::string>{*leader});
  EXPECT_EQ(net[*leader].term(), term);
  EXPECT_EQ(net[*leader].stats().stepped_down, 0u);
  EXPECT_EQ(net[loner].leader_id(), leader);
}

TEST(ElectionTest, VotersIgnoreHigherTermVoteRequestsWhileTheirLeaderIsAlive) {
  SimNet net(3);
  auto leader = net.RunUntilLeader();
  ASSERT_TRUE(leader);
  std::string follower = *leader == "n1" ? "n2" : "n1";
  std::string other = *leader == "n3" ? "n2" : "n3";
  if (other == follower) other = "n1";
  uint64_t term = net[follower].term();
  auto out =
      net[follower].Receive(From(other, VoteRequest{term + 7, other, false, false}), net.now());
  EXPECT_FALSE(std::get<VoteResponse>(out.replies[0].body).granted);
  EXPECT_EQ(net[follower].term(), term);

  // A leadership transfer is the one exception.
  out = net[follower].Receive(From(other, VoteRequest{term + 1, other, false, true}), net.now());
  EXPECT_TRUE(std::get<VoteResponse>(out.replies[0].body).granted);
  EXPECT_EQ(net[follower].term(), term + 1);
}

TEST(ElectionTest, ARestartedNodeStartsAsFollowerWithItsStoredTerm) {
  SimNet net(3);
  auto leader = net.RunUntilLeader();
  ASSERT_TRUE(leader);
  uint64_t term = net[*leader].term();
  net.Restart(*leader);
  EXPECT_EQ(net[*leader].role(), Role::kFollower);
  EXPECT_EQ(net[*leader].term(), term);
  EXPECT_FALSE(net[*leader].leader_id());
  EXPECT_FALSE(net[*leader].HasLease(net.now()));
  EXPECT_EQ(net[*leader].CheckTerm(term).code(), Code::kFailedPrecondition);
  EXPECT_TRUE(net.RunUntilLeader());
  EXPECT_EQ(net.overlapping_leases(), 0);
}

TEST(ElectionTest, ASingleVoterLeadsOnTheFirstTick) {
  MemoryVoteStore store;
  Random random(1);
  Election e(VoterConfig("solo", {"solo"}), &store, &random, kT0);
  auto out = e.Tick(kT0, {"solo", "w1"});
  EXPECT_EQ(e.role(), Role::kLeader);
  EXPECT_EQ(e.term(), 1u);
  EXPECT_EQ(Stored(store).term, 1u);
  EXPECT_EQ(Stored(store).voted_for, "solo");
  EXPECT_TRUE(e.HasLease(kT0));
  EXPECT_TRUE(e.HasQuorum(kT0));
  ASSERT_EQ(out.size(), 1u);  // the worker's heartbeat
  EXPECT_EQ(out[0].to_id, "w1");
  // It keeps leading without anyone's acks.
  for (TimePoint t = kT0; t < kT0 + seconds(30); t += kTick) (void)e.Tick(t, {"w1"});
  EXPECT_EQ(e.role(), Role::kLeader);
  EXPECT_TRUE(e.HasLease(kT0 + seconds(30)));
}

TEST(ElectionTest, WorkersNeverCampaignAndFollowTheLeader) {
  SimNet net(3, 2);
  auto leader = net.RunUntilLeader();
  ASSERT_TRUE(leader);
  net.Run(seconds(3));
  for (const std::string w : {"w1", "w2"}) {
    EXPECT_FALSE(net[w].is_voter());
    EXPECT_EQ(net[w].leader_id(), leader);
    EXPECT_EQ(net[w].term(), net[*leader].term());
    EXPECT_TRUE(net[w].HasQuorum(net.now()));
  }
  // Without voters a worker still never campaigns, and never votes.
  for (const auto& id : {"n1", "n2", "n3"}) net.Crash(id);
  net.Run(seconds(30));
  for (const std::string w : {"w1", "w2"}) {
    EXPECT_EQ(net[w].role(), Role::kFollower);
    EXPECT_EQ(net[w].stats().pre_votes_started + net[w].stats().elections_started, 0u);
    EXPECT_FALSE(net[w].HasQuorum(net.now()));
    auto out = net[w].Receive(From("n1", VoteRequest{99, "n1", false, true}), net.now());
    EXPECT_FALSE(std::get<VoteResponse>(out.replies[0].body).granted);
  }
}

TEST(ElectionTest, StaleHeartbeatsAreRefusedAndTheStaleLeaderStepsDown) {
  SimNet net(3);
  auto leader = net.RunUntilLeader();
  ASSERT_TRUE(leader);
  uint64_t term = net[*leader].term();
  // A follower comes back from a crash having recorded a later term (e.g. a vote in it).
  std::string follower = *leader == "n1" ? "n2" : "n1";
  net.Crash(follower);
  ASSERT_TRUE(net.store(follower).Save({term + 5, ""}).ok());
  net.Restart(follower);

  auto out = net[follower].Receive(From(*leader, Heartbeat{term, *leader, "", 1}), net.now());
  const auto& ack = std::get<HeartbeatAck>(out.replies[0].body);
  EXPECT_FALSE(ack.success);
  EXPECT_EQ(ack.term, term + 5);

  net.Run(seconds(1));
  EXPECT_EQ(net[*leader].stats().stepped_down, 1u);
  EXPECT_GE(net[*leader].term(), term + 5);
  auto fresh = net.RunUntilLeader();
  ASSERT_TRUE(fresh);
  EXPECT_GT(net[*fresh].term(), term + 5);
  EXPECT_EQ(net.overlapping_leases(), 0);
}

TEST(ElectionTest, ThePreferredLeaderReceivesLeadershipWhenHealthy) {
  SimNet net(3, 0, /*seed=*/7, LeaderMode::kElected, "n3");
  net.Isolate("n3");
  auto first = net.RunUntilLeader();
  ASSERT_TRUE(first);
  ASSERT_NE(*first, "n3");
  net.Heal();
  net.Run(seconds(3));
  EXPECT_EQ(net.Leaders(), std::vector<std::string>{"n3"});
  EXPECT_EQ(net[*first].stats().stepped_down, 1u);
  EXPECT_EQ(net["n3"].leader_id(), "n3");
  EXPECT_EQ(net.overlapping_leases(), 0);
  net.Run(seconds(10));
  EXPECT_EQ(net.Leaders(), std::vector<std::string>{"n3"});  // and keeps it
}

TEST(ElectionTest, APreferredLeaderThatCannotWinDoesNotCauseAnElectionStorm) {
  SimNet net(5, 0, /*seed=*/11, LeaderMode::kElected, "n5");
  net.Isolate("n5");
  auto leader = net.RunUntilLeader();
  ASSERT_TRUE(leader);
  // n5 reaches only the leader: it acks, receives TimeoutNow, and can never win alone.
  net.Heal();
  for (const auto& id : net.ids()) {
    if (id != "n5" && id != *leader) net.Cut("n5", id);
  }
  net.Run(seconds(120));
  EXPECT_LE(net.claims().size(), 10u);  // a handful of transfers, not one per timeout
  EXPECT_LE(net["n5"].stats().elections_started, 8u);
  int leased = 0, ticks = 0;
  for (; ticks < 3000; ++ticks) {
    net.Step();
    for (const auto& id : net.ids()) leased += net[id].HasLease(net.now()) ? 1 : 0;
  }
  EXPECT_GT(leased, ticks * 9 / 10);  // the cluster can act nearly all the time
  EXPECT_EQ(net.overlapping_leases(), 0);
}

// Drives n1 of {n1, n2, n3} to leadership by hand; returns the time it leads.
TimePoint MakeLeader(Election& e) {
  TimePoint t = kT0 + 3 * kElectionTimeout;
  (void)e.Tick(t, {});
  (void)e.Receive(From("n2", VoteResponse{e.term() + 1, true, true}), t);
  (void)e.Receive(From("n2", VoteResponse{e.term(), true, false}), t);
  return t;
}

TEST(ElectionTest, ALeaderWhoseTransfersFailRetriesWithBackoffAndKeepsItsLease) {
  MemoryVoteStore store;
  Random random(1);
  Config c = VoterConfig("n1", {"n1", "n2", "n3"});
  c.preferred_leader = "n3";
  Election e(c, &store, &random, kT0);
  TimePoint start = MakeLeader(e);
  ASSERT_EQ(e.role(), Role::kLeader);
  int transfers = 0, leased = 0, ticks = 0;
  for (TimePoint t = start; t < start + seconds(60); t += kTick, ++ticks) {
    for (const auto& env : e.Tick(t, {})) {
      if (std::holds_alternative<protocol::TimeoutNow>(env.body)) ++transfers;
      if (const auto* hb = std::get_if<Heartbeat>(&env.body)) {  // both ack, n3 never takes over
        (void)e.Receive(From(env.to_id, HeartbeatAck{hb->term, hb->seq, true}), t);
      }
    }
    leased += e.HasLease(t) ? 1 : 0;
  }
  EXPECT_EQ(e.role(), Role::kLeader);
  EXPECT_GE(transfers, 4);  // after 1, 2, 4, 8, 16, 32 timeouts
  EXPECT_LE(transfers, 7);
  EXPECT_GT(leased, ticks * 8 / 10);
}

TEST(ElectionTest, APreferredNodeHonoursRepeatedTimeoutNowsWithBackoff) {
  MemoryVoteStore store;
  Random random(1);
  Config c = VoterConfig("n1", {"n1", "n2", "n3"});
  c.preferred_leader = "n1";
  Election e(c, &store, &random, kT0);
  TimePoint t = kT0;
  auto offer = [&](Duration after) {  // n2 leads a fresh term, then offers leadership
    t += after;
    uint64_t term = e.term() + 1;
    (void)e.Receive(From("n2", Heartbeat{term, "n2", "", 1}), t);
    (void)e.Receive(From("n2", protocol::TimeoutNow{term}), t);
    return e.term() > term;  // campaigned
  };
  EXPECT_TRUE(offer(milliseconds(1)));
  EXPECT_TRUE(e.role() == Role::kCandidate);
  EXPECT_FALSE(offer(kElectionTimeout / 2));  // the first campaign failed: wait one timeout
  EXPECT_TRUE(offer(kElectionTimeout));
  EXPECT_FALSE(offer(kElectionTimeout * 3 / 2));  // now two
  EXPECT_TRUE(offer(kElectionTimeout));
  EXPECT_EQ(e.stats().elections_started, 3u);
}

TEST(ElectionTest, StaticModeLetsOnlyThePreferredLeaderLead) {
  SimNet net(3, 0, /*seed=*/3, LeaderMode::kStatic, "n2");
  EXPECT_EQ(net.RunUntilLeader(), "n2");
  net.Crash("n2");
  net.Run(seconds(30));
  EXPECT_TRUE(net.Leaders().empty());
  for (const auto& id : {"n1", "n3"}) {
    EXPECT_EQ(net[id].stats().pre_votes_started + net[id].stats().elections_started, 0u);
  }
  net.Restart("n2");
  EXPECT_EQ(net.RunUntilLeader(), "n2");
}

TEST(ElectionTest, CheckTermRefusesStaleAndFutureTerms) {
  SimNet net(3);
  auto leader = net.RunUntilLeader();
  ASSERT_TRUE(leader);
  uint64_t term = net[*leader].term();
  for (const auto& id : net.ids()) {
    EXPECT_TRUE(net[id].CheckTerm(term).ok());
    Status stale = net[id].CheckTerm(term - 1);
    EXPECT_EQ(stale.code(), Code::kStaleTerm);
    EXPECT_NE(stale.message().find(std::to_string(term - 1)), std::string::npos);
    EXPECT_NE(stale.message().find(std::to_string(term)), std::string::npos);
    EXPECT_EQ(net[id].CheckTerm(term + 1).code(), Code::kFailedPrecondition);
  }
}

TEST(ElectionTest, RoleNamesReportPreCandidatesAsCandidates) {
  EXPECT_STREQ(RoleName(Role::kFollower), "follower");
  EXPECT_STREQ(RoleName(Role::kPreCandidate), "candidate");
  EXPECT_STREQ(RoleName(Role::kCandidate), "candidate");
  EXPECT_STREQ(RoleName(Role::kLeader), "leader");
}

}  // namespace
}  // namespace rift::election
