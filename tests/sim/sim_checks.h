#pragma once
// Liveness checks over a SimNetwork, shared by the sim tests and the convergence benchmark.
#include <functional>
#include <optional>
#include <set>
#include <string>

#include "tests/sim/sim_network.h"

namespace rift::sim {

// The leader every up node in `among` agrees on (same term, same id), if that leader holds a
// lease; nullopt otherwise.
std::optional<int> AgreedLeaderAmong(const SimNetwork& net, const std::function<bool(int)>& among);
std::optional<int> AgreedLeader(const SimNetwork& net);

// Every up node lists every other up node, and not as dead.
bool MembershipConverged(const SimNetwork& net);
// Every up node lists every other up node as alive.
bool AllAlive(const SimNetwork& net);
// No up node lists any of `gone` (or, with `as_dead_ok`, lists them only as dead).
bool Forgotten(const SimNetwork& net, const std::set<int>& gone, bool as_dead_ok = false);

// Short diagnostics for failure messages.
std::string DescribeElection(const SimNetwork& net);
std::string DescribeMembership(const SimNetwork& net);
std::string DescribeRemembered(const SimNetwork& net, const std::set<int>& gone);

}  // namespace rift::sim
