// ImprovementService: the scheduler round (read every node's capacity and jobs, start what the
// Scheduler decides) and outbound-only nodes (their reports, their mailboxes, their polls).
#include <nlohmann/json.hpp>

#include "orchestrator/base/log.h"
#include "orchestrator/improve/service_impl.h"

namespace rift::improve {
namespace {

using internal::Call;
using internal::ForEachParallel;
using nlohmann::json;

constexpr size_t kMailboxCap = 256;

void ApplyLimits(const HostLimits& h, NodeLoad* l) {
  if (h.cpus > 0) l->cpus = h.cpus;
  if (h.gpus >= 0) l->gpus = h.gpus;
  if (h.max_parallel_jobs > 0) l->max_parallel_jobs = h.max_parallel_jobs;
}

void FromCapacity(const Capacity& c, NodeLoad* l) {
  l->healthy = c.healthy;
  l->cpus = c.cpus;
  l->gpus = c.gpus;
  l->memory_percent = c.memory_percent;
  l->disk_percent = c.disk_percent;
  l->disk_high_percent = c.disk_high_percent;
}

}  // namespace

std::optional<ImprovementService::Impl::Report> ImprovementService::Impl::FreshReport(
    const std::string& id) const {
  std::lock_guard lock(mu);
  auto it = reports.find(id);
  if (it == reports.end() || Clock::now() - it->second.at > 3 * ctx.poll_interval) {
    return std::nullopt;
  }
  return it->second;
}

bool ImprovementService::Impl::IsOutbound(const std::vector<Peer>& peers,
                                          const std::string& id) const {
  for (const auto& p : peers) {
    if (p.node_id == id) return p.outbound_only;
  }
  return false;
}

void ImprovementService::Impl::ScheduleRound(uint64_t term) {
  auto peers = ctx.members();
  std::vector<Peer> alive;
  for (const auto& p : peers) {
    if (p.state == "alive") alive.push_back(p);
  }
  std::vector<NodeLoad> next(alive.size());
  std::vector<std::string> roots(alive.size());
  ForEachParallel(alive.size(), 4, [&](size_t i) {
    NodeLoad& l = next[i];
    l.node_id = alive[i].node_id;
    if (alive[i].outbound_only && alive[i].node_id != ctx.node_id) {
      auto rep = FreshReport(l.node_id);
      if (!rep) return;
      FromCapacity(rep->capacity, &l);
      l.jobs = rep->jobs.views;
      l.reachable = true;
      return;
    }
    std::string url = UrlOf(peers, l.node_id);
    auto cap = Call(url, ctx.token, "GET", "/scheduler/capacity");
    auto jobs = Call(url, ctx.token, "GET", "/jobs");
    if (cap.status != 200 || jobs.status != 200) return;
    auto c = internal::ParseCapacity(cap.body);
    auto j = internal::ParseJobs(jobs.body);
    if (!c.ok() || !j.ok()) return;
    FromCapacity(*c, &l);
    roots[i] = c->data_dir;
    l.jobs = std::move(j->views);
    l.reachable = true;
  });
  for (size_t i = 0; i < alive.size(); ++i) {
    if (!roots[i].empty()) data_dirs[alive[i].node_id] = roots[i];
  }
  for (auto& l : next) {
    if (auto h = ctx.hosts.find(l.node_id); h != ctx.hosts.end()) ApplyLimits(h->second, &l);
  }
  std::vector<StartRequest> starts = scheduler.Plan(term, next);
  if (!ctx.background_selfplay) starts.clear();
  loads = std::move(next);
  {
    std::lock_guard lock(mu);
    status_targets = scheduler.last_targets();
    if (!ctx.background_selfplay) {
      for (auto& t : status_targets) t.starting = 0;
    }
  }
  if (!ctx.has_lease()) return;
  std::vector<const StartRequest*> direct;
  for (const auto& s : starts) {
    std::string body = internal::StartJobBody(s.kind, s.params, s.idempotency_key, term);
    if (IsOutbound(peers, s.node_id) && s.node_id != ctx.node_id) {
      Deliver(s.node_id, {"start_job", body, s.idempotency_key});
    } else {
      direct.push_back(&s);
    }
  }
  std::vector<int> codes(direct.size());
  std::vector<std::string> bodies(direct.size());
  ForEachParallel(direct.size(), 4, [&](size_t i) {
    const StartRequest& s = *direct[i];
    auto r = Call(UrlOf(peers, s.node_id), ctx.token, "POST", "/start_job",
                  internal::StartJobBody(s.kind, s.params, s.idempotency_key, term), term,
                  std::chrono::milliseconds(10000));
    codes[i] = r.status;
    bodies[i] = r.status ? r.body : r.error;
  });
  for (size_t i = 0; i < direct.size(); ++i) {
    if (codes[i] == 201) {
      log::Info("scheduler: started " + direct[i]->kind + " " + direct[i]->idempotency_key +
                " on " + direct[i]->node_id);
    } else if (codes[i] != 200) {
      log::Warn("scheduler: " + direct[i]->idempotency_key + " on " + direct[i]->node_id + ": " +
                (codes[i] ? "HTTP " + std::to_string(codes[i]) + " " : "") +
                bodies[i].substr(0, 300));
    }
  }
}

void ImprovementService::Impl::Deliver(const std::string& node, Command c) {
  std::lock_guard lock(mu);
  auto& box = mailbox[node];
  if (box.size() >= kMailboxCap && !box.count(c.key)) return;
  std::string key = c.key;
  box[key] = std::move(c);
}

std::vector<Command> ImprovementService::OnPoll(const Capacity& capacity,
                                                const std::string& jobs_json) {
  Impl::Report rep;
  rep.capacity = capacity;
  rep.at = Clock::now();
  if (auto j = internal::ParseJobs(jobs_json, capacity.data_dir); j.ok()) rep.jobs = std::move(*j);
  std::vector<Command> out;
  std::lock_guard lock(impl_->mu);
  impl_->reports[capacity.node_id] = std::move(rep);
  auto it = impl_->mailbox.find(capacity.node_id);
  if (it != impl_->mailbox.end()) {
    for (auto& [key, c] : it->second) out.push_back(std::move(c));
    impl_->mailbox.erase(it);
  }
  return out;
}

// On an outbound-only node: report to the leader, run what it sends back against our own API.
void ImprovementService::Impl::PollLeader() {
  std::vector<std::string> candidates;
  if (!poll_url.empty()) candidates.push_back(poll_url);
  for (auto& u : ctx.leader_urls()) {
    if (!u.empty() && u != poll_url) candidates.push_back(u);
  }
  if (candidates.empty()) return;
  auto jobs = Call(ctx.self_url, ctx.token, "GET", "/jobs");
  json jobs_list = json::array();
  if (jobs.status == 200) {
    json j = json::parse(jobs.body, nullptr, false);
    if (j.is_object() && j.contains("jobs") && j["jobs"].is_array()) jobs_list = j["jobs"];
  }
  json cap = json::parse(internal::CapacityJson(ctx.local_capacity()));
  json body = {{"node_id", ctx.node_id}, {"capacity", cap}, {"jobs", jobs_list}};
  // The first candidate that is the leader; a 421 naming the leader tries that one next.
  json reply;
  std::string errors;
  for (size_t i = 0; i < candidates.size() && i < 8 && !reply.is_object(); ++i) {
    auto r = Call(candidates[i], ctx.token, "POST", "/leader/commands", body.dump());
    json j = json::parse(r.body, nullptr, false);
    if (r.status == 200 && j.is_object()) {
      poll_url = candidates[i];
      reply = std::move(j);
    } else if (r.status == 421 && j.is_object() && j.value("leader_url", json()).is_string() &&
               j["leader_url"] != candidates[i]) {
      poll_url = j["leader_url"];
      candidates.insert(candidates.begin() + static_cast<long>(i) + 1, poll_url);
    } else {
      if (candidates[i] == poll_url) poll_url.clear();
      errors += (errors.empty() ? "" : "; ") + candidates[i] + ": " +
                (r.status ? "HTTP " + std::to_string(r.status) : r.error);
    }
  }
  if (!reply.is_object()) {
    if (errors != poll_error) log::Warn("poll of the leader for commands: " + errors);
    poll_error = errors;
    return;
  }
  poll_error.clear();
  for (const auto& c : reply.value("commands", json::array())) {
    if (!c.is_object() || !c.contains("body")) continue;
    std::string op = c.value("op", "");
    std::string path = op == "start_job" ? "/start_job" : op == "sync_pull" ? "/sync/pull" : "";
    if (path.empty()) {
      log::Warn("poll: unknown command '" + op + "' from the leader: ignored");
      continue;
    }
    // The body carries the leader's term: our own routes fence it like any leader command.
    auto done = Call(ctx.self_url, ctx.token, "POST", path, c["body"].dump(), 0,
                     std::chrono::milliseconds(10000));
    if (done.status / 100 != 2) {
      log::Warn("poll: " + op + " from the leader: " +
                (done.status
                     ? "HTTP " + std::to_string(done.status) + " " + done.body.substr(0, 200)
                     : done.error));
    } else if (done.status == 201) {
      log::Info("poll: " + op + " from the leader done");
    }
  }
}

}  // namespace rift::improve
