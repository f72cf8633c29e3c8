// ImprovementService: the loop's observations (stage jobs, files on the trainer, the model on
// every node) and its actions (job starts, training rounds, model pulls).
#include <algorithm>

#include "orchestrator/base/log.h"
#include "orchestrator/improve/service_impl.h"

namespace rift::improve {
namespace {

using internal::Call;
using internal::ForEachParallel;
using Seen = JobStatus::Seen;

constexpr auto kSyncRoundEvery = std::chrono::seconds(3);
constexpr auto kPullEvery = std::chrono::seconds(5);
constexpr auto kStartTimeout = std::chrono::milliseconds(10000);

const char* SeenName(Seen s) {
  switch (s) {
    case Seen::kUnknown:
      return "unknown";
    case Seen::kMissing:
      return "not started";
    case Seen::kActive:
      return "running";
    case Seen::kSucceeded:
      return "succeeded";
    case Seen::kFailed:
      return "failed";
  }
  return "?";
}

// The URL other nodes use for `id` (UrlOf() gives this node's loopback URL for itself).
std::string AdvertisedUrl(const std::vector<Peer>& peers, const std::string& id) {
  for (const auto& p : peers) {
    if (p.node_id == id) return p.url;
  }
  return "";
}

}  // namespace

std::string ImprovementService::Impl::UrlOf(const std::vector<Peer>& peers,
                                            const std::string& id) const {
  for (const auto& p : peers) {
    if (p.node_id == id && p.state != "dead")
      return p.node_id == ctx.node_id ? ctx.self_url : p.url;
  }
  return "";
}

std::string ImprovementService::Impl::DataDir(const std::vector<Peer>& peers,
                                              const std::string& id) {
  if (auto it = data_dirs.find(id); it != data_dirs.end()) return it->second;
  if (IsOutbound(peers, id) && id != ctx.node_id) {  // cannot be asked: from its last poll
    auto rep = FreshReport(id);
    return rep ? rep->capacity.data_dir : "";
  }
  auto r = Call(UrlOf(peers, id), ctx.token, "GET", "/scheduler/capacity");
  if (r.status != 200) return "";
  auto c = internal::ParseCapacity(r.body);
  if (!c.ok() || c->data_dir.empty()) return "";
  data_dirs[id] = c->data_dir;
  return c->data_dir;
}

void ImprovementService::Impl::StepLoop(uint64_t term) {
  if (!loop || loop->status != LoopStatus::kRunning) return;
  auto peers = ctx.members();
  // A new leader has not heard from outbound-only nodes yet: give them two polls before it
  // splits a selfplay stage, so they get their share.
  if (loop->stage == Stage::kSelfplay && loop->jobs.empty() &&
      Clock::now() - adopted_at < 2 * ctx.poll_interval) {
    for (const auto& p : peers) {
      if (p.outbound_only && p.state == "alive" && p.node_id != ctx.node_id &&
          !FreshReport(p.node_id)) {
        return;
      }
    }
  }
  for (int i = 0; i < 8 && loop->status == LoopStatus::kRunning; ++i) {
    Observation o = Observe(*loop, peers);
    StepResult r = Step(*loop, o);
    if (!ctx.has_lease()) return;
    if (!r.changed) {
      Act(*loop, r.actions, term, peers);
      return;
    }
    if (!Persist(r.state, term)) return;  // act only on a state a quorum stored
    bool new_iteration = r.state.iteration != loop->iteration;
    loop = std::move(r.state);
    if (new_iteration) held_cache.clear();
    Publish();
    log::Info("improvement: " + loop->loop_id + " iteration " + std::to_string(loop->iteration) +
              " " + StageName(loop->stage) + ": " + loop->note);
  }
}

Observation ImprovementService::Impl::Observe(const LoopState& s, const std::vector<Peer>& peers) {
  Observation o;
  o.now_ms = RealTime().WallMillis();
  std::map<std::string, const NodeLoad*> load;
  for (const auto& l : loads) load[l.node_id] = &l;
  std::map<std::string, Report> outbound;  // fresh reports of outbound-only nodes
  for (const auto& p : peers) {
    if (p.state != "alive") continue;
    if (p.outbound_only && p.node_id != ctx.node_id) {
      auto rep = FreshReport(p.node_id);
      if (!rep) continue;  // not heard from lately: as good as gone for the loop
      o.alive.insert(p.node_id);
      o.outbound.insert(p.node_id);
      if (rep->capacity.healthy) o.eligible.push_back(p.node_id);
      outbound[p.node_id] = std::move(*rep);
      continue;
    }
    o.alive.insert(p.node_id);
    auto it = load.find(p.node_id);
    bool fit = it == load.end() || (it->second->reachable && it->second->healthy);
    if (fit) o.eligible.push_back(p.node_id);
  }
  std::sort(o.eligible.begin(), o.eligible.end());
  // Stage jobs: one GET /jobs per node that runs one.
  std::vector<std::string> nodes;
  for (const auto& j : s.jobs) {
    if (std::find(nodes.begin(), nodes.end(), j.node) == nodes.end()) nodes.push_back(j.node);
  }
  std::vector<std::optional<internal::JobsListing>> listing(nodes.size());
  std::vector<std::string> roots;
  for (size_t i = 0; i < nodes.size(); ++i) {
    bool direct = o.alive.count(nodes[i]) && !o.outbound.count(nodes[i]);
    roots.push_back(direct ? DataDir(peers, nodes[i]) : "");
    if (auto it = outbound.find(nodes[i]); it != outbound.end()) listing[i] = it->second.jobs;
  }
  ForEachParallel(nodes.size(), 4, [&](size_t i) {
    bool direct = o.alive.count(nodes[i]) && !o.outbound.count(nodes[i]);
    std::string url = direct ? UrlOf(peers, nodes[i]) : "";
    if (url.empty()) return;
    auto r = Call(url, ctx.token, "GET", "/jobs", "", 0);
    if (r.status != 200) return;
    auto parsed = internal::ParseJobs(r.body, roots[i]);
    if (parsed.ok()) listing[i] = std::move(parsed).value();
  });
  std::map<std::string, std::string> shown;
  for (const auto& j : s.jobs) {
    size_t i = std::find(nodes.begin(), nodes.end(), j.node) - nodes.begin();
    JobStatus st;
    if (listing[i]) {
      auto it = listing[i]->by_key.find(j.key);
      if (it != listing[i]->by_key.end()) {
        st = it->second;
      } else if (auto e = start_errors.find(j.key); e != start_errors.end()) {
        st.seen = Seen::kFailed;
        st.error = e->second;
      } else {
        st.seen = Seen::kMissing;
      }
    }
    shown[j.key] = SeenName(st.seen);
    o.jobs[j.key] = std::move(st);
  }
  {
    std::lock_guard lock(mu);
    status_jobs = std::move(shown);
  }
  std::string trainer = UrlOf(peers, s.training_node);
  if (s.stage == Stage::kSync && !trainer.empty()) {
    std::vector<std::string> todo;
    for (const auto& f : s.expected_files) {
      if (!held_cache.count(f)) todo.push_back(f);
    }
    std::vector<bool> held(todo.size(), false);
    ForEachParallel(todo.size(), 4, [&](size_t i) {
      held[i] = internal::Probe(trainer, ctx.token, todo[i]).has_value();
    });
    for (size_t i = 0; i < todo.size(); ++i) {
      if (held[i]) held_cache.insert(todo[i]);
    }
    for (const auto& f : s.expected_files) {
      if (held_cache.count(f)) o.held_by_trainer.insert(f);
    }
  }
  if (s.stage == Stage::kDistribute && !trainer.empty()) {
    if (!s.promoted_sha) {
      o.candidate = internal::Probe(trainer, ctx.token, s.current.candidate);
      o.trainer_model = internal::Probe(trainer, ctx.token, kCurrentModel);
    } else {
      std::vector<std::string> ids;
      for (const auto& n : o.alive) {
        if (!o.outbound.count(n)) ids.push_back(n);
      }
      std::vector<std::string> sha(ids.size());
      ForEachParallel(ids.size(), 4, [&](size_t i) {
        if (auto v = internal::Probe(UrlOf(peers, ids[i]), ctx.token, kCurrentModel)) {
          sha[i] = v->sha256;
        }
      });
      for (size_t i = 0; i < ids.size(); ++i) {
        if (!sha[i].empty()) o.model_sha[ids[i]] = sha[i];
      }
    }
  }
  return o;
}

void ImprovementService::Impl::Act(const LoopState& s, const std::vector<Action>& actions,
                                   uint64_t term, const std::vector<Peer>& peers) {
  std::vector<const Action*> starts;
  auto now = Clock::now();
  for (const auto& a : actions) {
    if (a.type == Action::Type::kEnsureJob) {
      starts.push_back(&a);
    } else if (a.type == Action::Type::kSyncTraining) {
      if (now - last_sync_round < kSyncRoundEvery) continue;
      last_sync_round = now;
      std::string err = ctx.sync_training();
      if (!err.empty()) log::Warn("improvement: training sync round: " + err);
    } else if (a.type == Action::Type::kPullModel) {
      auto& last = last_pull[a.node];
      if (now - last < kPullEvery) continue;
      last = now;
      std::string source = AdvertisedUrl(peers, a.source);
      auto r = Call(UrlOf(peers, a.node), ctx.token, "POST", "/sync/pull",
                    internal::PullBody(kCurrentModel, a.file, source, term), term);
      if (r.status != 202) {
        log::Warn("improvement: model pull on " + a.node + ": " +
                  (r.status ? "HTTP " + std::to_string(r.status) + " " + r.body : r.error));
      }
    }
  }
  std::vector<std::string> errors(starts.size());
  std::vector<int> codes(starts.size(), 0);
  // "data:<rel>" params name files under the running node's data root.
  std::vector<std::optional<std::map<std::string, std::string>>> params(starts.size());
  for (size_t i = 0; i < starts.size(); ++i) {
    const StageJob& j = starts[i]->job;
    std::map<std::string, std::string> p = j.params;
    bool ok = true;
    for (auto& [k, v] : p) {
      if (v.rfind(kDataPrefix, 0) != 0) continue;
      std::string root = DataDir(peers, j.node);
      ok = ok && !root.empty();
      v = root + "/" + v.substr(sizeof(kDataPrefix) - 1);
    }
    if (ok) params[i] = std::move(p);
  }
  for (size_t i = 0; i < starts.size(); ++i) {  // outbound-only nodes: into their mailbox
    const StageJob& j = starts[i]->job;
    if (params[i] && IsOutbound(peers, j.node) && j.node != ctx.node_id) {
      Deliver(j.node,
              {"start_job", internal::StartJobBody(j.kind, *params[i], j.key, term), j.key});
      params[i].reset();
      codes[i] = 200;
    }
  }
  ForEachParallel(starts.size(), 4, [&](size_t i) {
    const StageJob& j = starts[i]->job;
    std::string url = UrlOf(peers, j.node);
    if (url.empty() || !params[i]) return;
    auto r = Call(url, ctx.token, "POST", "/start_job",
                  internal::StartJobBody(j.kind, *params[i], j.key, term), term, kStartTimeout);
    codes[i] = r.status;
    errors[i] = r.status ? r.body : r.error;
  });
  for (size_t i = 0; i < starts.size(); ++i) {
    const StageJob& j = starts[i]->job;
    if (codes[i] == 201) {
      log::Info("improvement: started " + j.role + " job " + j.key + " on " + j.node);
    } else if (codes[i] == 400 || codes[i] == 404) {
      start_errors[j.key] = "/start_job on " + j.node + " refused: HTTP " +
                            std::to_string(codes[i]) + " " + errors[i].substr(0, 300);
      log::Warn("improvement: " + start_errors[j.key]);
    } else if (codes[i] != 200) {
      log::Warn("improvement: starting " + j.key + " on " + j.node + ": " +
                (codes[i] ? "HTTP " + std::to_string(codes[i]) + " " : "") +
                errors[i].substr(0, 300));
    }
  }
  // Outbound-only nodes cannot be asked to pull: the promoted model goes into their mailbox.
  if (s.stage == Stage::kDistribute && s.promoted_sha) {
    std::string source = AdvertisedUrl(peers, s.training_node);
    for (const auto& p : peers) {
      if (p.outbound_only && p.state == "alive" && p.node_id != s.training_node) {
        Deliver(p.node_id, {"sync_pull",
                            internal::PullBody(kCurrentModel, {*s.promoted_sha, s.promoted_size},
                                               source, term),
                            "model-" + *s.promoted_sha});
      }
    }
  }
}

}  // namespace rift::improve
