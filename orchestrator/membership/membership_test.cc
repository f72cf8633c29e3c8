#include "orchestrator/membership/membership.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rift::membership {
namespace {

using protocol::Envelope;
using protocol::MemberDigest;
using protocol::MemberState;

constexpr Duration kStep = milliseconds(10);
// RIFT_TEST_SEED replays another schedule; failures print the seed in use.
uint64_t TestSeed() {
  const char* env = std::getenv("RIFT_TEST_SEED");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 42;
}

Timers FastTimers() {
  Timers t;
  t.probe_interval = milliseconds(100);
  t.probe_timeout = milliseconds(40);
  t.indirect_probes = 2;
  t.suspicion_min = milliseconds(300);
  t.suspicion_max = milliseconds(1000);
  t.dead_reap_ttl = seconds(3);
  t.rejoin_interval = seconds(2);
  t.max_gossip = 8;
  return t;
}

std::string IdFor(int i) { return "n" + std::to_string(i); }
std::string UrlFor(int i) { return "http://10.0.0." + std::to_string(i + 1) + ":8770"; }

Config ConfigFor(int i, std::vector<std::string> seeds, uint64_t incarnation = 1) {
  Config c;
  c.node_id = IdFor(i);
  c.advertise_url = UrlFor(i);
  c.incarnation = incarnation;
  c.boot_id = 100 + static_cast<uint64_t>(i);
  c.seeds = std::move(seeds);
  c.timers = FastTimers();
  return c;
}

std::optional<MemberView> ViewOf(const Membership& m, const std::string& id) {
  for (const MemberView& v : m.Members()) {
    if (v.node_id == id) return v;
  }
  return std::nullopt;
}

bool Sees(const Membership& m, const std::string& id, MemberState state) {
  auto v = ViewOf(m, id);
  return v && v->state == state;
}

struct Node {
  Config config;
  Random random;
  std::unique_ptr<Membership> m;
  bool up = true;
};

// Zero-latency network keyed by URL, with a fake clock. Replies travel back like any message;
// `drop` loses chosen envelopes. Outbound-only nodes receive only replies (they are behind NAT).
class Cluster {
 public:
  std::function<bool(const Envelope&)> drop = [](const Envelope&) { return false; };

  Membership& Add(Config config) {
    auto node = std::make_unique<Node>(Node{config, Random(seed_ + nodes_.size()), nullptr});
    node->m = std::make_unique<Membership>(config, &node->random, now_);
    by_url_[config.advertise_url] = node.get();
    nodes_.push_back(std::move(node));
    return *nodes_.back()->m;
  }
  Membership& Add(int i, std::vector<std::string> seeds = {UrlFor(0)}) {
    return Add(ConfigFor(i, i == 0 ? std::vector<std::string>{} : std::move(seeds)));
  }
  void Kill(const std::string& url) { by_url_.at(url)->up = false; }
  Membership& At(const std::string& url) { return *by_url_.at(url)->m; }
  Membership& At(int i) { return At(UrlFor(i)); }
  TimePoint now() const { return now_; }

  void Step() {
    now_ += kStep;
    for (auto& node : nodes_) {
      if (node->up && by_url_[node->config.advertise_url] == node.get()) {
        Deliver(node->m->Tick(now_));
      }
    }
  }
  void Run(Duration d) {
    for (TimePoint end = now_ + d; now_ < end;) Step();
  }
  // Steps until `done` holds; false if `limit` passes first.
  bool RunUntil(const std::function<bool()>& done, Duration limit) {
    for (TimePoint end = now_ + limit; now_ < end;) {
      Step();
      if (done()) return true;
    }
    return false;
  }
  bool AllSeeEachOther() const {
    for (const auto& [url, node] : by_url_) {
      if (node->up && node->m->AliveCount() != by_url_.size() - 1) return false;
    }
    return true;
  }

 private:
  void Deliver(std::vector<Envelope> batch) {
    std::deque<std::pair<Envelope, bool>> queue;  // (envelope, is_reply)
    for (auto& e : batch) queue.emplace_back(std::move(e), false);
    for (int budget = 100000; !queue.empty() && budget > 0; --budget) {
      auto [e, is_reply] = std::move(queue.front());
      queue.pop_front();
      auto to = by_url_.find(e.to_url);
      auto from = by_url_.find(e.from_url);
      if (to == by_url_.end() || !to->second->up || from == by_url_.end() || !from->second->up) {
        continue;
      }
      if ((to->second->config.outbound_only && !is_reply) || drop(e)) continue;
      protocol::Output out = to->second->m->Receive(e, now_);
      for (auto& r : out.replies) queue.emplace_back(std::move(r), true);
      for (auto& o : out.outbound) queue.emplace_back(std::move(o), false);
    }
  }

  uint64_t seed_ = TestSeed();
  ::testing::ScopedTrace trace_{__FILE__, __LINE__, "RIFT_TEST_SEED=" + std::to_string(seed_)};
  TimePoint now_ = TimePoint(std::chrono::hours(1));
  std::vector<std::unique_ptr<Node>> nodes_;
  std::map<std::string, Node*> by_url_;
};

bool Between(const Envelope& e, int a, int b) {
  return (e.from_url == UrlFor(a) && e.to_url == UrlFor(b)) ||
         (e.from_url == UrlFor(b) && e.to_url == UrlFor(a));
}

TEST(MembershipTest, TwoNodesJoinThroughOneSeed) {
  Cluster c;
  for (int i = 0; i < 3; ++i) c.Add(i);
  ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeEachOther(); }, seconds(2)));
  EXPECT_EQ(c.At(1).UrlOf("n2"), UrlFor(2));
  EXPECT_EQ(c.At(2).AliveIds(), (std::vector<std::string>{"n0", "n1"}));
  EXPECT_EQ(c.At(0).local_health(), 0);
}

TEST(MembershipTest, TenNodesSeededOnlyWithNodeZeroLearnEachOther) {
  Cluster c;
  for (int i = 0; i < 10; ++i) c.Add(i);
  ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeEachOther(); }, seconds(5)));
  EXPECT_EQ(c.At(9).Members().size(), 9u);
}

TEST(MembershipTest, JoinReplyCarriesEveryLiveMemberInOneRoundTrip) {
  Cluster c;
  for (int i = 0; i < 10; ++i) c.Add(i);
  ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeEachOther(); }, seconds(5)));
  Config late = ConfigFor(10, {UrlFor(0)});
  late.timers.max_gossip = 2;  // piggybacking alone could not explain learning ten members
  Membership& m = c.Add(late);
  const uint64_t before = m.generation();
  c.Step();
  EXPECT_EQ(m.AliveCount(), 10u);
  EXPECT_GT(m.generation(), before);
}

TEST(MembershipTest, JoinFailsOverToTheNextSeed) {
  Cluster c;
  c.Add(0);
  c.Add(1, {UrlFor(7), UrlFor(0)});  // the first seed does not exist
  ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeEachOther(); }, seconds(2)));
}

TEST(MembershipTest, RegisteredUrlIsProbedAtTheNextTickAndJoinsTwoStrangers) {
  Cluster c;
  Membership& a = c.Add(0);
  c.Add(1, {});  // neither knows the other
  c.Run(seconds(1));
  ASSERT_EQ(a.AliveCount(), 0u);
  auto added = a.AddSeed(UrlFor(1), c.now());
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_TRUE(*added);
  c.Step();
  EXPECT_TRUE(Sees(a, "n1", MemberState::kAlive));
  EXPECT_TRUE(Sees(c.At(1), "n0", MemberState::kAlive));
  // Registering again (the watchdog does every few minutes) is not a new seed.
  auto again = a.AddSeed(UrlFor(1), c.now());
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
}

TEST(MembershipTest, ANodeThatLostEveryMemberLooksForTheClusterAtOnce) {
  // Not at the next rejoin (seconds away): a cut-off node must notice a returning peer within a
  // few probe intervals (its watchdog stops fallback selfplay on that).
  Cluster c;
  c.Add(0);
  Config late = ConfigFor(1, {UrlFor(0)});
  late.timers.rejoin_interval = seconds(30);  // the daemon's default
  Membership& n1 = c.Add(late);
  ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeEachOther(); }, seconds(2)));
  c.Kill(UrlFor(0));
  ASSERT_TRUE(c.RunUntil([&] { return Sees(n1, "n0", MemberState::kDead); }, seconds(5)));
  c.Add(ConfigFor(0, {}, 2));  // restarted: knows nobody, has no seeds; only n1 can rejoin
  EXPECT_TRUE(c.RunUntil([&] { return Sees(n1, "n0", MemberState::kAlive); },
                         3 * FastTimers().probe_interval));
}

TEST(MembershipTest, AddSeedRefusesOurOwnUrlAndLoopbackFromARealCluster) {
  Cluster c;
  Membership& a = c.Add(0);
  EXPECT_EQ(a.AddSeed(UrlFor(0), c.now()).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(a.AddSeed("http://127.0.0.1:8770", c.now()).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(a.AddSeed("", c.now()).status().code(), Code::kInvalidArgument);
}

TEST(MembershipTest, KilledNodeGoesSuspectThenDeadAndIsReapedAfterTtl) {
  Cluster c;
  for (int i = 0; i < 5; ++i) c.Add(i);
  ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeEachOther(); }, seconds(3)));
  c.Kill(UrlFor(4));
  // Round robin reaches it within one round of 4 probes; allow for widened periods.
  ASSERT_TRUE(c.RunUntil([&] { return !Sees(c.At(0), "n4", MemberState::kAlive); },
                         10 * FastTimers().probe_interval));
  ASSERT_TRUE(c.RunUntil(
      [&] {
        for (int i = 0; i < 4; ++i) {
          if (!Sees(c.At(i), "n4", MemberState::kDead)) return false;
        }
        return true;
      },
      30 * FastTimers().probe_interval));
  EXPECT_EQ(c.At(0).AliveCount(), 3u);
  ASSERT_TRUE(c.RunUntil([&] { return !ViewOf(c.At(0), "n4"); },
                         FastTimers().dead_reap_ttl + 3 * FastTimers().probe_interval));
  EXPECT_EQ(c.At(0).Members().size(), 3u);
}

TEST(MembershipTest, SuspectedNodeRefutesWithHigherIncarnation) {
  Cluster c;
  for (int i = 0; i < 3; ++i) c.Add(i);
  ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeEachOther(); }, seconds(2)));
  const uint64_t before = c.At(2).incarnation();
  c.drop = [](const Envelope& e) { return e.from_url == UrlFor(2) || e.to_url == UrlFor(2); };
  ASSERT_TRUE(c.RunUntil(
      [&] {
        return Sees(c.At(0), "n2", MemberState::kSuspect) ||
               Sees(c.At(1), "n2", MemberState::kSuspect);
      },
      seconds(2)));
  c.drop = [](const Envelope&) { return false; };
  ASSERT_TRUE(c.RunUntil(
      [&] {
        auto a = ViewOf(c.At(0), "n2");
        auto b = ViewOf(c.At(1), "n2");
        return a && b && a->state == MemberState::kAlive && b->state == MemberState::kAlive &&
               a->incarnation > before && b->incarnation > before;
      },
      seconds(2)));
  EXPECT_GT(c.At(2).incarnation(), before);
}

TEST(MembershipTest, RestartedNodeReplacesItsDeadRecord) {
  Cluster c;
  for (int i = 0; i < 3; ++i) c.Add(i);
  ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeEachOther(); }, seconds(2)));
  c.Kill(UrlFor(2));
  ASSERT_TRUE(c.RunUntil([&] { return Sees(c.At(0), "n2", MemberState::kDead); }, seconds(5)));
  Config restarted = ConfigFor(2, {UrlFor(0)}, /*incarnation=*/1000);
  restarted.boot_id = 777;
  c.Add(restarted);
  ASSERT_TRUE(c.RunUntil(
      [&] {
        for (int i = 0; i < 2; ++i) {
          auto v = ViewOf(c.At(i), "n2");
          if (!v || v->state != MemberState::kAlive || v->incarnation < 1000) return false;
        }
        return true;
      },
      seconds(2)));
  EXPECT_TRUE(c.At(0).Conflicts().empty());
  EXPECT_TRUE(c.At(2).Conflicts().empty());
}

TEST(MembershipTest, HealedPartitionMergesBack) {
  Cluster c;
  for (int i = 0; i < 4; ++i) c.Add(i);
  ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeEachOther(); }, seconds(2)));
  auto side = [](const std::string& url) { return url == UrlFor(0) || url == UrlFor(1); };
  c.drop = [&](const Envelope& e) { return side(e.from_url) != side(e.to_url); };
  ASSERT_TRUE(c.RunUntil(
      [&] {
        return Sees(c.At(0), "n2", MemberState::kDead) && Sees(c.At(3), "n1", MemberState::kDead);
      },
      seconds(5)));
  c.drop = [](const Envelope&) { return false; };
  // Rejoin pings (seed and a random dead member) find the other side again.
  ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeEachOther(); }, 3 * FastTimers().rejoin_interval));
}

TEST(MembershipTest, DuplicateIdIsReportedAsConflict) {
  Cluster c;
  c.Add(0);
  c.Add(1);
  ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeEachOther(); }, seconds(2)));
  Config impostor = ConfigFor(1, {UrlFor(0)}, /*incarnation=*/5);
  impostor.advertise_url = UrlFor(5);
  impostor.boot_id = 999;
  Membership& other = c.Add(impostor);
  ASSERT_TRUE(c.RunUntil([&] { return !c.At(1).Conflicts().empty() && !other.Conflicts().empty(); },
                         seconds(3)));
  EXPECT_EQ(c.At(1).Conflicts()[0].node_id, "n1");
  EXPECT_EQ(c.At(1).Conflicts()[0].other_url, UrlFor(5));
  EXPECT_EQ(other.Conflicts()[0].other_url, UrlFor(1));
}

Envelope PingFrom(const std::string& id, const std::string& url, std::vector<MemberDigest> gossip) {
  Envelope e;
  e.from_id = id;
  e.from_url = url;
  e.to_url = "irrelevant";
  e.body = protocol::Ping{1, "", std::move(gossip)};
  return e;
}

TEST(MembershipTest, LoopbackUrlIsRefusedWhenWeAdvertiseNonLoopback) {
  Random random(TestSeed());
  TimePoint now{};
  Membership m(ConfigFor(0, {}), &random, now);
  auto out = m.Receive(PingFrom("evil", "http://127.0.0.1:9000",
                                {{"evil", "http://127.0.0.1:9000", 3, 1},
                                 {"local", "http://localhost:8770", 3, 2},
                                 {"v6", "http://[::1]:8770", 3, 3},
                                 {"good", "http://10.0.0.9:8770", 3, 4}}),
                       now);
  ASSERT_EQ(out.replies.size(), 1u);  // still answered: refusing to list is not refusing to talk
  EXPECT_EQ(m.AliveIds(), std::vector<std::string>{"good"});
}

TEST(MembershipTest, LoopbackUrlIsAcceptedWhenWeAdvertiseLoopback) {
  Random random(TestSeed());
  TimePoint now{};
  Config config = ConfigFor(0, {});
  config.advertise_url = "http://127.0.0.1:8770";
  Membership m(config, &random, now);
  (void)m.Receive(
      PingFrom("peer", "http://127.0.0.1:8771", {{"peer", "http://127.0.0.1:8771", 3, 1}}), now);
  EXPECT_EQ(m.AliveIds(), std::vector<std::string>{"peer"});
}

TEST(MembershipTest, IndirectProbeKeepsNodeAliveWhenDirectPathIsDropped) {
  Cluster c;
  for (int i = 0; i < 3; ++i) c.Add(i);
  ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeEachOther(); }, seconds(2)));
  c.drop = [](const Envelope& e) { return Between(e, 0, 2); };
  for (TimePoint end = c.now() + seconds(5); c.now() < end;) {
    c.Step();
    ASSERT_TRUE(Sees(c.At(0), "n2", MemberState::kAlive));
    ASSERT_TRUE(Sees(c.At(2), "n0", MemberState::kAlive));
  }
  EXPECT_EQ(c.At(0).incarnation(), 1u);  // never even suspected
  EXPECT_EQ(c.At(2).incarnation(), 1u);
}

TEST(MembershipTest, SlowObserverRaisesLocalHealth) {
  Cluster c;
  for (int i = 0; i < 4; ++i) c.Add(i);
  ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeEachOther(); }, seconds(2)));
  c.drop = [](const Envelope& e) {
    return e.to_id == "n3" && std::holds_alternative<protocol::Ack>(e.body);
  };
  ASSERT_TRUE(c.RunUntil([&] { return c.At(3).local_health() >= 3; }, seconds(3)));
  // The others still hear its acks, so it stays alive to them.
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(Sees(c.At(i), "n3", MemberState::kAlive));
}

TEST(MembershipTest, OutboundOnlyFlagPropagatesAndSuchNodesStayAlive) {
  Cluster c;
  c.Add(0);
  c.Add(1);
  Config nat = ConfigFor(2, {UrlFor(0)});
  nat.outbound_only = true;
  c.Add(nat);
  ASSERT_TRUE(c.RunUntil([&] { return c.AllSeeEachOther(); }, seconds(2)));
  auto v = ViewOf(c.At(1), "n2");
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->outbound_only);
  c.Run(seconds(5));
  EXPECT_TRUE(Sees(c.At(0), "n2", MemberState::kAlive));
  EXPECT_TRUE(Sees(c.At(1), "n2", MemberState::kAlive));
}

// --- Broadcast queue: urgent news first, join replies do not feed it, dead records correct ---

MemberDigest DigestFor(int i, MemberState state = MemberState::kAlive, uint64_t incarnation = 1) {
  MemberDigest d;
  d.node_id = IdFor(i);
  d.url = UrlFor(i);
  d.incarnation = incarnation;
  d.boot_id = 100 + static_cast<uint64_t>(i);
  d.state = state;
  return d;
}

Envelope PingFrom(int from, std::vector<MemberDigest> gossip, uint64_t seq = 1) {
  return Envelope{IdFor(from), UrlFor(from), IdFor(0), UrlFor(0),
                  protocol::Ping{seq, "", std::move(gossip)}};
}

// The gossip of the Ack that `m` answers `ping` with.
std::vector<MemberDigest> AckGossip(Membership& m, const Envelope& ping, TimePoint now) {
  protocol::Output out = m.Receive(ping, now);
  EXPECT_EQ(out.replies.size(), 1u);
  if (out.replies.empty()) return {};
  const auto* ack = std::get_if<protocol::Ack>(&out.replies[0].body);
  EXPECT_NE(ack, nullptr);
  return ack != nullptr ? ack->gossip : std::vector<MemberDigest>{};
}

TEST(MembershipTest, DeathNewsOvertakesABacklogOfJoinNews) {
  Random random(TestSeed());
  TimePoint now{};
  Membership m(ConfigFor(0, {}), &random, now);
  // Lots of plain join news, each of it sent a few times already.
  for (int batch = 0; batch < 5; ++batch) {
    std::vector<MemberDigest> joins;
    for (int i = 2 + 6 * batch; i < 8 + 6 * batch; ++i) joins.push_back(DigestFor(i));
    AckGossip(m, PingFrom(1, joins), now);
  }
  // Then one death: the very next message carries it right after the sender's own record.
  auto gossip = AckGossip(m, PingFrom(1, {DigestFor(5, MemberState::kDead)}), now);
  ASSERT_GE(gossip.size(), 2u);
  EXPECT_EQ(gossip[0].node_id, IdFor(0));
  EXPECT_EQ(gossip[1].node_id, IdFor(5));
  EXPECT_EQ(gossip[1].state, MemberState::kDead);
  // And a suspicion right behind it, ahead of all the join news.
  gossip = AckGossip(m, PingFrom(1, {DigestFor(9, MemberState::kSuspect)}), now);
  ASSERT_GE(gossip.size(), 3u);
  EXPECT_EQ(gossip[1].node_id, IdFor(9));  // fewest transmissions first among urgent news
  EXPECT_EQ(gossip[1].state, MemberState::kSuspect);
  EXPECT_EQ(gossip[2].node_id, IdFor(5));
  // A refutation (same boot, higher incarnation) is urgent too, and replaces the older news
  // about n9 with a fresh transmit budget.
  gossip = AckGossip(m, PingFrom(1, {DigestFor(9, MemberState::kAlive, 2)}), now);
  ASSERT_GE(gossip.size(), 4u);
  EXPECT_EQ(gossip[1].node_id, IdFor(9));
  EXPECT_EQ(gossip[1].state, MemberState::kAlive);
  EXPECT_EQ(gossip[1].incarnation, 2u);
  EXPECT_EQ(gossip[2].node_id, IdFor(5));
  // Then the join news.
  for (size_t i = 3; i < gossip.size(); ++i) EXPECT_EQ(gossip[i].state, MemberState::kAlive);
}

TEST(MembershipTest, FullStateJoinReplyDoesNotFeedTheBroadcastQueue) {
  Random random(TestSeed());
  TimePoint now{};
  Config c = ConfigFor(0, {UrlFor(1)});
  c.timers.max_gossip = 4;
  Membership m(c, &random, now);
  std::vector<Envelope> join = m.Tick(now);
  ASSERT_EQ(join.size(), 1u);
  const auto& ping = std::get<protocol::Ping>(join[0].body);
  std::vector<MemberDigest> all;
  for (int i = 1; i < 40; ++i) all.push_back(DigestFor(i));
  m.Receive(Envelope{IdFor(1), UrlFor(1), IdFor(0), UrlFor(0), protocol::Ack{ping.seq, "", all}},
            now);
  EXPECT_EQ(m.AliveCount(), 39u);
  // A real join afterwards is the first news we pass on, not the 39 members we just learned.
  auto gossip = AckGossip(m, PingFrom(2, {DigestFor(77)}), now);
  ASSERT_GE(gossip.size(), 2u);
  EXPECT_EQ(gossip[1].node_id, IdFor(77));
}

TEST(MembershipTest, DeadRecordCorrectsAStaleAliveRumour) {
  Random random(TestSeed());
  TimePoint now{};
  Membership m(ConfigFor(0, {}), &random, now);
  m.Receive(PingFrom(1, {DigestFor(5)}), now);
  m.Receive(PingFrom(1, {DigestFor(5, MemberState::kDead)}), now);
  ASSERT_TRUE(Sees(m, IdFor(5), MemberState::kDead));
  auto corrected = [&](const std::vector<MemberDigest>& g) {
    return std::any_of(g.begin(), g.end(), [](const MemberDigest& d) {
      return d.node_id == IdFor(5) && d.state == MemberState::kDead;
    });
  };
  EXPECT_TRUE(corrected(AckGossip(m, PingFrom(2, {DigestFor(5)}), now)));
  EXPECT_TRUE(Sees(m, IdFor(5), MemberState::kDead));
  // A restart (higher incarnation) is welcome back.
  m.Receive(PingFrom(2, {DigestFor(5, MemberState::kAlive, 7)}), now);
  EXPECT_TRUE(Sees(m, IdFor(5), MemberState::kAlive));
}

}  // namespace
}  // namespace rift::membership
