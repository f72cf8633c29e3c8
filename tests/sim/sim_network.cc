#include "tests/sim/sim_network.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "orchestrator/base/log.h"

namespace rift::sim {
namespace {

// Start of virtual time; wall clock for incarnations is derived from it like FakeClock does.
constexpr TimePoint kEpoch{std::chrono::hours(1)};

uint64_t WallMillis(TimePoint t) { return 1'700'000'000'000ULL + ToMillis(t.time_since_epoch()); }

// splitmix64: independent per-node streams from one seed.
uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

std::string Pad(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "n%04d", i);
  return buf;
}

bool Later(const auto& a, const auto& b) { return a.at != b.at ? a.at > b.at : a.seq > b.seq; }

}  // namespace

Options Scaled(Options o, int k) {
  auto& m = o.membership;
  for (Duration* d :
       {&m.probe_interval, &m.probe_timeout, &m.suspicion_min, &m.suspicion_max, &m.dead_reap_ttl,
        &m.rejoin_interval, &o.election.heartbeat_interval, &o.election.election_timeout, &o.tick,
        &o.faults.min_delay, &o.faults.max_delay, &o.faults.slow_delay}) {
    *d *= k;
  }
  return o;
}

SimNetwork::SimNetwork(Options options)
    : options_(std::move(options)), random_(Mix(options_.seed)), now_(kEpoch), next_tick_(kEpoch) {
  if (options_.quiet) log::SetLevel(log::Level::kError);
  options_.voters = std::min(options_.voters, options_.nodes);
  options_.seed_nodes = std::max(1, std::min(options_.seed_nodes, options_.voters));
  nodes_.resize(options_.nodes);
  for (int i = 0; i < options_.nodes; ++i) {
    nodes_[i].id = Pad(i);
    nodes_[i].url = "http://" + nodes_[i].id + ".sim:8770";
    nodes_[i].store = std::make_unique<election::MemoryVoteStore>();
    by_url_[nodes_[i].url] = i;
    by_id_[nodes_[i].id] = i;
  }
}

SimNetwork::~SimNetwork() = default;

int SimNetwork::IndexOf(const std::string& node_id) const {
  auto it = by_id_.find(node_id);
  return it == by_id_.end() ? -1 : it->second;
}

std::vector<int> SimNetwork::UpNodes() const {
  std::vector<int> up;
  for (int i = 0; i < size(); ++i) {
    if (IsUp(i)) up.push_back(i);
  }
  return up;
}

void SimNetwork::Start(int i) {
  Node& n = nodes_[i];
  if (n.core) return;
  ++n.boot;
  core::NodeConfig c;
  c.membership.node_id = n.id;
  c.membership.advertise_url = n.url;
  // Per boot, the wall clock in ms: a restart always wins over the previous boot.
  n.last_incarnation = std::max(n.last_incarnation + 1, WallMillis(now_));
  c.membership.incarnation = n.last_incarnation;
  c.membership.boot_id = Mix(options_.seed ^ Mix(i * 1000003ULL + n.boot)) | 1;
  c.membership.voter = IsVoter(i);
  for (int s = 0; s < options_.seed_nodes; ++s) c.membership.seeds.push_back(nodes_[s].url);
  c.membership.timers = options_.membership;
  for (int v = 0; v < options_.voters; ++v) c.election.voters.push_back(nodes_[v].id);
  c.election.timers = options_.election;
  const uint64_t core_seed = Mix(c.membership.boot_id);
  n.core = std::make_unique<core::NodeCore>(std::move(c), n.store.get(), core_seed, now_);
  Observe(i);
}

void SimNetwork::Crash(int i) { nodes_[i].core.reset(); }

void SimNetwork::HealPartitions() {
  for (auto& n : nodes_) n.group = 0;
}

Duration SimNetwork::Delay() {
  const Faults& f = options_.faults;
  Duration d = random_.Between(f.min_delay, f.max_delay);
  if (f.slow_fraction > 0 && random_.Chance(f.slow_fraction)) d += f.slow_delay;
  return d;
}

void SimNetwork::Push(Event e) {
  e.seq = ++seq_;
  heap_.push_back(std::move(e));
  std::push_heap(heap_.begin(), heap_.end(),
                 [](const Event& a, const Event& b) { return Later(a, b); });
}

void SimNetwork::Send(int from, protocol::Envelope e) {
  ++stats_.requests;
  auto it = by_url_.find(e.to_url);
  if (it == by_url_.end() || !Reachable(from, it->second)) {
    ++stats_.cut;
    return;
  }
  if (random_.Chance(options_.faults.loss)) {
    ++stats_.lost;
    return;
  }
  Event ev{now_ + Delay(), 0, from, nodes_[from].boot, it->second, 0, {}};
  ev.batch.push_back(std::move(e));
  Push(std::move(ev));
}

void SimNetwork::SendAll(int from, std::vector<protocol::Envelope>&& batch) {
  for (auto& e : batch) Send(from, std::move(e));
}

void SimNetwork::Deliver(Event& ev) {
  Node& dst = nodes_[ev.to];
  // A crashed destination refuses the connection; a reply reaches only the process that sent
  // the request; a partition that formed in flight cuts the message too.
  if (!dst.core || (ev.to_boot != 0 && ev.to_boot != dst.boot) || !Reachable(ev.from, ev.to)) {
    ++stats_.cut;
    return;
  }
  ++stats_.delivered;
  bool is_request = ev.to_boot == 0;
  std::vector<protocol::Envelope> replies;
  for (const auto& in : ev.batch) {
    protocol::Output out = dst.core->Receive(in, now_);
    Observe(ev.to);
    SendAll(ev.to, std::move(out.outbound));
    if (is_request) {
      for (auto& r : out.replies) replies.push_back(std::move(r));
    } else {
      // Nothing can carry a reply to a response: send it as a request of its own.
      SendAll(ev.to, std::move(out.replies));
    }
  }
  if (replies.empty()) return;
  ++stats_.replies;
  if (!nodes_[ev.from].core || !Reachable(ev.to, ev.from)) {
    ++stats_.cut;
    return;
  }
  if (random_.Chance(options_.faults.loss)) {
    ++stats_.lost;
    return;
  }
  Push(Event{now_ + Delay(), 0, ev.to, dst.boot, ev.from, ev.from_boot, std::move(replies)});
}

void SimNetwork::TickAll() {
  for (int i = 0; i < size(); ++i) {
    if (!nodes_[i].core) continue;
    ++stats_.ticks;
    SendAll(i, nodes_[i].core->Tick(now_));
    Observe(i);
  }
  CheckLeases();
}

void SimNetwork::RunFor(Duration d) {
  const TimePoint end = now_ + d;
  auto later = [](const Event& a, const Event& b) { return Later(a, b); };
  while (true) {
    bool event_first = !heap_.empty() && heap_.front().at <= next_tick_;
    TimePoint t = event_first ? heap_.front().at : next_tick_;
    if (t > end) break;
    now_ = t;
    if (event_first) {
      std::pop_heap(heap_.begin(), heap_.end(), later);
      Event ev = std::move(heap_.back());
      heap_.pop_back();
      Deliver(ev);
    } else {
      TickAll();
      next_tick_ += options_.tick;
    }
  }
  now_ = end;
}

std::optional<Duration> SimNetwork::RunUntil(Duration limit, const std::function<bool()>& done,
                                             Duration every) {
  const TimePoint start = now_;
  while (now_ - start < limit) {
    if (done()) return now_ - start;
    RunFor(std::min<Duration>(every, limit - (now_ - start)));
  }
  if (done()) return now_ - start;
  return std::nullopt;
}

void SimNetwork::Observe(int i) {
  Node& n = nodes_[i];
  const election::Election& el = n.core->election();
  uint64_t term = el.term();
  max_term_ = std::max(max_term_, term);
  std::optional<std::string> leader = el.leader_id();
  if (el.role() == election::Role::kLeader) {
    if (leader && *leader != n.id) {
      Violation(n.id + " is leader of term " + std::to_string(term) + " but names " + *leader);
    }
    leader = n.id;
  }
  if (!leader || (term == n.seen_term && *leader == n.seen_leader)) return;
  n.seen_term = term;
  n.seen_leader = *leader;
  auto [it, inserted] = claims_.emplace(term, *leader);
  if (!inserted && it->second != *leader) {
    Violation("two leaders in term " + std::to_string(term) + ": " + it->second + " and " +
              *leader + " (claimed by " + n.id + ")");
  }
}

void SimNetwork::CheckLeases() {
  int holder = -1;
  for (int v = 0; v < options_.voters; ++v) {
    if (!nodes_[v].core || !nodes_[v].core->HasLease(now_)) continue;
    if (holder >= 0) {
      Violation("overlapping leases: " + nodes_[holder].id + " (term " +
                std::to_string(nodes_[holder].core->election().term()) + ") and " + nodes_[v].id +
                " (term " + std::to_string(nodes_[v].core->election().term()) + ")");
    }
    holder = v;
  }
}

void SimNetwork::Violation(std::string what) {
  if (violations_.size() >= 20) return;  // the first few tell the story
  double t = std::chrono::duration<double>(now_ - kEpoch).count();
  char buf[32];
  std::snprintf(buf, sizeof buf, "t=%.3fs: ", t);
  violations_.push_back(buf + what);
}

}  // namespace rift::sim
