#include "tests/sim/sim_checks.h"

#include <vector>

namespace rift::sim {
namespace {

constexpr size_t kMaxLines = 12;

}  // namespace

std::optional<int> AgreedLeaderAmong(const SimNetwork& net, const std::function<bool(int)>& among) {
  int leader = -1;
  for (int v = 0; v < net.options().voters; ++v) {
    if (!net.IsUp(v) || !among(v)) continue;
    if (net.core(v)->election().role() != election::Role::kLeader) continue;
    if (leader >= 0) return std::nullopt;
    leader = v;
  }
  if (leader < 0 || !net.core(leader)->HasLease(net.now())) return std::nullopt;
  const uint64_t term = net.core(leader)->election().term();
  for (int i = 0; i < net.size(); ++i) {
    if (!net.IsUp(i) || !among(i)) continue;
    const auto& el = net.core(i)->election();
    if (el.term() != term || el.leader_id() != net.id(leader)) return std::nullopt;
  }
  return leader;
}

std::optional<int> AgreedLeader(const SimNetwork& net) {
  return AgreedLeaderAmong(net, [](int) { return true; });
}

namespace {

// How many up nodes other than `i` node i lists in an acceptable state.
size_t KnownUp(const SimNetwork& net, int i, bool alive_only) {
  size_t known = 0;
  for (const auto& m : net.core(i)->membership().Members()) {
    int j = net.IndexOf(m.node_id);
    if (j < 0 || j == i || !net.IsUp(j)) continue;
    if (m.state == protocol::MemberState::kDead) continue;
    if (alive_only && m.state != protocol::MemberState::kAlive) continue;
    ++known;
  }
  return known;
}

bool Converged(const SimNetwork& net, bool alive_only) {
  const auto up = net.UpNodes();
  for (int i : up) {
    // Cheap filter first: most failing checks stop here without copying the member list.
    if (alive_only && net.core(i)->membership().AliveCount() < up.size() - 1) return false;
  }
  for (int i : up) {
    if (KnownUp(net, i, alive_only) != up.size() - 1) return false;
  }
  return true;
}

}  // namespace

bool MembershipConverged(const SimNetwork& net) { return Converged(net, false); }
bool AllAlive(const SimNetwork& net) { return Converged(net, true); }

bool Forgotten(const SimNetwork& net, const std::set<int>& gone, bool as_dead_ok) {
  for (int i : net.UpNodes()) {
    for (const auto& m : net.core(i)->membership().Members()) {
      if (!gone.count(net.IndexOf(m.node_id))) continue;
      if (as_dead_ok && m.state == protocol::MemberState::kDead) continue;
      return false;
    }
  }
  return true;
}

std::string DescribeElection(const SimNetwork& net) {
  std::string out;
  size_t lines = 0;
  for (int i = 0; i < net.size() && lines < kMaxLines; ++i) {
    if (!net.IsUp(i)) continue;
    const auto& el = net.core(i)->election();
    bool voter = i < net.options().voters;
    if (!voter && lines >= kMaxLines / 2) continue;
    out += "  " + net.id(i) + (voter ? " voter " : " worker ") + election::RoleName(el.role()) +
           " term " + std::to_string(el.term()) + " leader " + el.leader_id().value_or("-") +
           (net.core(i)->HasLease(net.now()) ? " (lease)" : "") + " group " +
           std::to_string(net.group(i)) + "\n";
    ++lines;
  }
  return out;
}

std::string DescribeMembership(const SimNetwork& net) {
  std::string out = DescribeElection(net);
  const auto up = net.UpNodes();
  size_t lines = 0;
  for (int i : up) {
    size_t known = KnownUp(net, i, false);
    if (known == up.size() - 1) continue;
    if (++lines > kMaxLines) break;
    out += "  " + net.id(i) + " knows " + std::to_string(known) + " of " +
           std::to_string(up.size() - 1) + " up members; missing:";
    int shown = 0;
    for (int j : up) {
      if (j == i) continue;
      bool found = false;
      for (const auto& m : net.core(i)->membership().Members()) {
        if (m.node_id == net.id(j)) {
          found = m.state != protocol::MemberState::kDead;
          if (!found) out += " " + m.node_id + "(dead)";
        }
      }
      if (!found && ++shown <= 8) out += " " + net.id(j);
    }
    out += "\n";
  }
  return out;
}

std::string DescribeRemembered(const SimNetwork& net, const std::set<int>& gone) {
  std::string out;
  size_t lines = 0;
  for (int i : net.UpNodes()) {
    for (const auto& m : net.core(i)->membership().Members()) {
      if (!gone.count(net.IndexOf(m.node_id))) continue;
      if (++lines > kMaxLines) return out;
      out += "  " + net.id(i) + " still lists " + m.node_id + " as " +
             protocol::MemberStateName(m.state) + " since " +
             std::to_string(ToMillis(net.now() - m.state_since)) + " ms ago (local health " +
             std::to_string(net.core(i)->membership().local_health()) + ")\n";
    }
  }
  return out;
}

}  // namespace rift::sim
