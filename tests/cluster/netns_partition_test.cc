// Real daemons in network namespaces joined by a bridge; partitions by pulling a node's cable
// (its bridge port goes down). Needs root and iproute2; skips loudly otherwise.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/harness/cluster.h"

namespace rift::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kToken[] = "netns-test-token";
constexpr int kNodes = 3;

bool Sh(const std::vector<std::string>& argv, std::string* out = nullptr) {
  std::string o;
  int rc = RunCommand(argv, &o, seconds(10));
  if (out) *out = o;
  return rc == 0;
}

// Namespaces "<prefix>hub" (a bridge) and "<prefix>1..N" (one daemon each, 10.213.0.i/24).
class NetnsTopology {
 public:
  NetnsTopology() : prefix_("rift" + std::to_string(getpid() % 100000) + "-") {}
  ~NetnsTopology() {
    for (int i = 1; i <= kNodes; ++i) Sh({"ip", "netns", "del", Ns(i)});
    Sh({"ip", "netns", "del", Hub()});
  }
  bool Create(std::string* why) {
    std::string out;
    if (geteuid() != 0) {
      *why = "not root";
      return false;
    }
    if (!Sh({"ip", "netns", "add", Hub()}, &out)) {
      *why = "ip netns add failed: " + out;
      return false;
    }
    bool ok = Sh({"ip", "-n", Hub(), "link", "set", "lo", "up"}) &&
              Sh({"ip", "-n", Hub(), "link", "add", "br0", "type", "bridge"}) &&
              Sh({"ip", "-n", Hub(), "link", "set", "br0", "up"});
    for (int i = 1; ok && i <= kNodes; ++i) {
      std::string host_if = "h" + std::to_string(i);
      ok = Sh({"ip", "netns", "add", Ns(i)}) &&
           Sh({"ip", "-n", Ns(i), "link", "set", "lo", "up"}) &&
           Sh({"ip", "-n", Hub(), "link", "add", host_if, "type", "veth", "peer", "name", "eth0",
               "netns", Ns(i)}, &out) &&
           Sh({"ip", "-n", Hub(), "link", "set", host_if, "master", "br0"}) &&
           Sh({"ip", "-n", Hub(), "link", "set", host_if, "up"}) &&
           Sh({"ip", "-n", Ns(i), "addr", "add", Addr(i) + "/24", "dev", "eth0"}) &&
           Sh({"ip", "-n", Ns(i), "link", "set", "eth0", "up"});
    }
    if (!ok) *why = "could not build the topology: " + out;
    return ok;
  }
  // Pull (or plug back) node i's cable.
  bool SetLink(int i, bool up) {
    return Sh({"ip", "-n", Hub(), "link", "set", "h" + std::to_string(i), up ? "up" : "down"});
  }
  std::string Ns(int i) const { return prefix_ + std::to_string(i); }
  std::string Hub() const { return prefix_ + "hub"; }
  static std::string Addr(int i) { return "10.213.0." + std::to_string(i); }

 private:
  std::string prefix_;
};

class NetnsPartition : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!topo_.Create(&why)) {
      if (getenv("RIFT_REQUIRE_NETNS")) FAIL() << "network namespaces unavailable: " << why;
      GTEST_SKIP() << "*** SKIPPING partition tests: network namespaces unavailable (" << why
                   << "). Run as root with iproute2 to exercise them. ***";
    }
    std::string peers;
    for (int i = 1; i <= kNodes; ++i) peers += (i > 1 ? "," : "") + Url(i);
    for (int i = 1; i <= kNodes; ++i) {
      DaemonOptions o;
      o.node_id = "n" + std::to_string(i);
      o.netns = topo_.Ns(i);
      o.host = NetnsTopology::Addr(i);
      o.port = 8770;
      o.env["BIND_HOST"] = "0.0.0.0";
      o.env["ADVERTISE_URL"] = Url(i);
      o.env["EXTRA_PEERS"] = peers;
      o.env["RINGRIFT_P2P_VOTERS"] = "n1,n2,n3";
      o.env["RINGRIFT_TIMER_PROFILE"] = "etcd";
      o.env["RINGRIFT_CLUSTER_AUTH_TOKEN"] = kToken;
      nodes_.push_back(
          std::make_unique<Daemon>(DaemonBinary(), o, dir_.path() + "/" + o.node_id));
      std::string err;
      ASSERT_TRUE(nodes_.back()->Start(&err)) << err;
    }
  }
  void TearDown() override {
    for (auto& d : nodes_) d->Kill(SIGKILL);
  }

  static std::string Url(int i) { return "http://" + NetnsTopology::Addr(i) + ":8770"; }

  // Leader agreed by every node in `group` (indices into nodes_), with its term.
  std::string Agreed(const std::vector<int>& group, uint64_t* term = nullptr) {
    std::set<std::string> leaders;
    std::set<uint64_t> terms;
    for (int i : group) {
      auto s = nodes_[i]->Status(kToken);
      if (!s || !s->leader_id) return "";
      leaders.insert(*s->leader_id);
      terms.insert(s->term);
    }
    if (leaders.size() != 1 || terms.size() != 1) return "";
    if (term) *term = *terms.begin();
    return *leaders.begin();
  }

  std::string Logs() {
    std::string s;
    for (auto& d : nodes_) s += "--- " + d->node_id() + "\n" + d->LogTail(3000);
    return s;
  }

  NetnsTopology topo_;
  TempDir dir_{"rift-netns"};
  std::vector<std::unique_ptr<Daemon>> nodes_;
};

TEST_F(NetnsPartition, IsolatedLeaderStepsDownMajorityElectsAndHealCausesNoElection) {
  const std::vector<int> all = {0, 1, 2};
  std::string leader;
  uint64_t term1 = 0;
  ASSERT_TRUE(WaitFor([&] { return !(leader = Agreed(all, &term1)).empty(); }, seconds(30)))
      << Logs();
  int li = leader[1] - '1';
  std::vector<int> majority;
  for (int i : all)
    if (i != li) majority.push_back(i);

  ASSERT_TRUE(topo_.SetLink(li + 1, false));
  auto isolated_at = std::chrono::steady_clock::now();

  // The isolated leader steps down within the election timeout (1 s with the etcd profile;
  // the bound allows for scheduling noise on a loaded machine).
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = nodes_[li]->Status(kToken);
        return s && s->role != "leader";
      },
      seconds(10)))
      << Logs();
  auto stepped_down_ms = std::chrono::duration_cast<milliseconds>(
                             std::chrono::steady_clock::now() - isolated_at)
                             .count();
  EXPECT_LE(stepped_down_ms, 2500) << "the isolated leader kept leading too long";
  // ... and refuses leader-only requests.
  HttpResult r = nodes_[li]->Request("POST", "/leader/ping", kToken, "{}");
  EXPECT_EQ(r.status, 421) << r.body;
  EXPECT_NE(r.body.find("NOT_LEADER"), std::string::npos) << r.body;

  // The majority elects a new leader in a higher term.
  std::string next;
  uint64_t term2 = 0;
  ASSERT_TRUE(WaitFor(
      [&] { return !(next = Agreed(majority, &term2)).empty() && next != leader; }, seconds(30)))
      << Logs();
  EXPECT_GT(term2, term1);
  r = nodes_[next[1] - '1']->Request("POST", "/leader/ping", kToken, "{}");
  EXPECT_EQ(r.status, 200) << r.body;

  // Heal: the old leader follows the new one; no extra election happens.
  ASSERT_TRUE(topo_.SetLink(li + 1, true));
  uint64_t term3 = 0;
  ASSERT_TRUE(WaitFor([&] { return Agreed(all, &term3) == next; }, seconds(30))) << Logs();
  EXPECT_EQ(term3, term2) << "the heal caused an election";
  std::this_thread::sleep_for(seconds(3));
  EXPECT_EQ(Agreed(all, &term3), next);
  EXPECT_EQ(term3, term2) << "the heal caused an election";
  // Every node sees every other as alive again.
  ASSERT_TRUE(WaitFor(
      [&] {
        for (int i : all) {
          auto s = nodes_[i]->Status(kToken);
          if (!s || s->CountState("alive") != static_cast<size_t>(kNodes - 1)) return false;
        }
        return true;
      },
      seconds(30)))
      << Logs();
}

}  // namespace
}  // namespace rift::testing
