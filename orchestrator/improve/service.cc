// ImprovementService: the thread, the requests from HTTP workers, and durability (adopting the
// quorum's state once per term, storing every transition on a quorum of voters before acting).
#include <nlohmann/json.hpp>

#include "orchestrator/base/log.h"
#include "orchestrator/improve/codec.h"
#include "orchestrator/improve/service_impl.h"

namespace rift::improve {
namespace {

using internal::Call;
using internal::ForEachParallel;
using nlohmann::json;

constexpr auto kRequestWait = std::chrono::seconds(30);

}  // namespace

ImprovementService::ImprovementService(ServiceContext context) : impl_(std::make_unique<Impl>()) {
  impl_->ctx = std::move(context);
  impl_->scheduler = Scheduler(impl_->ctx.scheduler);
  if (auto s = impl_->ctx.store->Load(); !s.empty()) {  // shown until a leader adopts a state
    impl_->status_loop = s.state;
    impl_->status_term = s.term;
    impl_->status_seq = s.seq;
  }
}

ImprovementService::~ImprovementService() { Stop(); }

void ImprovementService::Start() {
  std::lock_guard lock(impl_->mu);
  if (impl_->started) return;
  impl_->started = true;
  impl_->stopping = false;
  impl_->thread = std::thread([impl = impl_.get()] { impl->Loop(); });
}

void ImprovementService::Stop() {
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->started) return;
    impl_->started = false;
    impl_->stopping = true;
  }
  impl_->cv.notify_all();
  impl_->thread.join();
  std::lock_guard lock(impl_->mu);
  for (auto& r : impl_->requests) r->done.set_value(Unavailable("the daemon is stopping"));
  impl_->requests.clear();
}

Result<std::string> ImprovementService::Impl::Submit(std::shared_ptr<Request> req) {
  auto done = req->done.get_future();
  {
    std::lock_guard lock(mu);
    if (!started) return Unavailable("the improvement service is not running");
    requests.push_back(std::move(req));
  }
  cv.notify_all();
  if (done.wait_for(kRequestWait) != std::future_status::ready) {
    return DeadlineExceeded("the leader did not take the request within 30 s");
  }
  return done.get();
}

Result<std::string> ImprovementService::StartLoop(const StartOptions& options) {
  auto req = std::make_shared<Impl::Request>();
  req->type = Impl::Request::Type::kStart;
  req->options = options;
  return impl_->Submit(std::move(req));
}

Result<std::string> ImprovementService::StopLoop() {
  auto req = std::make_shared<Impl::Request>();
  req->type = Impl::Request::Type::kStop;
  return impl_->Submit(std::move(req));
}

std::string ImprovementService::StatusJson() const {
  std::lock_guard lock(impl_->mu);
  json targets = json::array();
  for (const auto& t : impl_->status_targets) {
    targets.push_back({{"node_id", t.node_id},
                       {"kind", t.kind},
                       {"target", t.target},
                       {"running", t.running},
                       {"starting", t.starting},
                       {"why", t.why}});
  }
  json loop = impl_->status_loop.empty() ? json(nullptr) : json::parse(impl_->status_loop);
  return json{{"node_id", impl_->ctx.node_id},
              {"term", impl_->status_term},
              {"seq", impl_->status_seq},
              {"loop", loop},
              {"jobs", impl_->status_jobs},
              {"scheduler",
               {{"background_selfplay", impl_->ctx.background_selfplay},
                {"interval_ms", impl_->ctx.scheduler_interval.count()},
                {"targets", targets}}}}
      .dump();
}

void ImprovementService::Impl::Loop() {
  std::unique_lock lock(mu);
  while (!stopping) {
    lock.unlock();
    Tick();
    lock.lock();
    cv.wait_for(lock, ctx.tick, [this] { return stopping || !requests.empty(); });
  }
}

void ImprovementService::Impl::Tick() {
  auto now = Clock::now();
  if (!ctx.has_lease()) {
    adopted_term = 0;
    ServeRequests(false);
    if (ctx.outbound_only && now >= next_poll) {
      PollLeader();
      next_poll = Clock::now() + ctx.poll_interval;
    }
    return;
  }
  uint64_t term = ctx.term();
  if (adopted_term != term && !Adopt(term)) {
    ServeRequests(false);
    return;
  }
  ServeRequests(true);
  StepLoop(term);
  if (now >= next_schedule) {
    ScheduleRound(term);
    next_schedule = Clock::now() + ctx.scheduler_interval;
  }
}

void ImprovementService::Impl::ServeRequests(bool leading) {
  std::deque<std::shared_ptr<Request>> todo;
  {
    std::lock_guard lock(mu);
    todo.swap(requests);
  }
  for (auto& r : todo) {
    if (!leading) {
      r->done.set_value(NotLeader("this node lost leadership (or has no voter quorum yet)"));
      continue;
    }
    if (r->type == Request::Type::kStart) {
      r->done.set_value(DoStart(r->options));
      continue;
    }
    if (!loop || loop->status != LoopStatus::kRunning) {
      r->done.set_value(std::string());  // nothing to stop
      continue;
    }
    Observation o;
    o.now_ms = RealTime().WallMillis();
    o.stop_requested = true;
    StepResult next = Step(*loop, o);
    if (!Persist(next.state, adopted_term)) {
      r->done.set_value(Unavailable("could not store the stop on a quorum of voters"));
      continue;
    }
    loop = next.state;
    Publish();
    log::Info("improvement: " + loop->note);
    r->done.set_value(loop->loop_id);
  }
}

Result<std::string> ImprovementService::Impl::DoStart(const StartOptions& o) {
  if (loop && loop->status == LoopStatus::kRunning) {
    return AlreadyExists("loop " + loop->loop_id + " is running (iteration " +
                         std::to_string(loop->iteration) + ", " + StageName(loop->stage) +
                         "): stop it first");
  }
  std::string trainer = ctx.training_node;
  if (trainer.empty() && !ctx.training_nodes.empty()) trainer = ctx.training_nodes.front();
  if (trainer.empty()) {
    return FailedPrecondition(
        "no training node: set improvement.training_node, or give a host `role: nn_training` "
        "(or `all`) in distributed_hosts.yaml");
  }
  if (IsOutbound(ctx.members(), trainer)) {
    return FailedPrecondition("the training node " + trainer +
                              " is outbound-only: the leader must be able to call it (set "
                              "improvement.training_node to another training node)");
  }
  LoopConfig c = ctx.loop_defaults;
  if (o.iterations) c.iterations = *o.iterations;
  if (o.games_per_iteration) c.games_per_iteration = *o.games_per_iteration;
  if (o.eval_games) c.eval_games = *o.eval_games;
  if (o.promote_win_rate) c.promote_win_rate = *o.promote_win_rate;
  if (o.board) c.board = *o.board;
  ModelRef model;
  if (loop) {
    model = loop->model;  // the previous loop's model carries on
  } else if (auto url = UrlOf(ctx.members(), trainer); !url.empty()) {
    if (auto v = internal::Probe(url, ctx.token, kCurrentModel)) {
      model = {kCurrentModel, v->sha256, v->size, 0};  // a model installed before any loop
    }
  }
  int64_t now = RealTime().WallMillis();
  LoopState s = NewLoop("t" + std::to_string(adopted_term) + "-" + std::to_string(now), c, trainer,
                        model, now);
  if (!Persist(s, adopted_term)) {
    return Unavailable("could not store the new loop on a quorum of voters");
  }
  loop = s;
  held_cache.clear();
  Publish();
  log::Info("improvement: started loop " + s.loop_id + " (" + std::to_string(c.iterations) +
            " iterations of " + std::to_string(c.games_per_iteration) + " games; trainer " +
            trainer + ")");
  return s.loop_id;
}

std::vector<Peer> ImprovementService::Impl::VoterPeers() const {
  std::set<std::string> voters(ctx.voters.begin(), ctx.voters.end());
  std::vector<Peer> out;
  for (const auto& p : ctx.members()) {
    if (p.node_id != ctx.node_id && voters.count(p.node_id) && p.state != "dead" &&
        !p.url.empty()) {
      out.push_back(p);
    }
  }
  return out;
}

size_t ImprovementService::Impl::Majority() const {
  return (ctx.voters.empty() ? 1 : ctx.voters.size()) / 2 + 1;
}

bool ImprovementService::Impl::Adopt(uint64_t term) {
  StoredState best = ctx.store->Load();
  size_t answers = 1;  // our own store (the leader is a voter)
  auto voters = VoterPeers();
  std::vector<StoredState> got(voters.size());
  std::vector<bool> ok(voters.size(), false);
  ForEachParallel(voters.size(), 4, [&](size_t i) {
    auto r = Call(voters[i].url, ctx.token, "GET", "/improvement/state", "", term);
    if (r.status != 200) return;
    json j = json::parse(r.body, nullptr, false);
    if (!j.is_object()) return;
    got[i].term = j.value("term", uint64_t{0});
    got[i].seq = j.value("seq", uint64_t{0});
    if (j.contains("state") && j["state"].is_object()) got[i].state = j["state"].dump();
    ok[i] = true;
  });
  for (size_t i = 0; i < voters.size(); ++i) {
    if (!ok[i]) continue;
    answers++;
    if (!got[i].empty() && Newer(got[i], best)) best = got[i];
  }
  if (answers < Majority()) return false;
  held_cache.clear();
  last_pull.clear();
  start_errors.clear();
  seq = best.seq;
  if (best.empty()) {
    loop.reset();
    adopted_term = term;
    adopted_at = Clock::now();
    Publish();
    return true;
  }
  auto decoded = DecodeState(best.state);
  if (!decoded.ok()) {
    log::Error("improvement: the stored loop state cannot be read (" + decoded.status().ToString() +
               "); not adopting it");
    return false;
  }
  if (decoded->status == LoopStatus::kRunning) {
    if (!Persist(*decoded, term)) return false;  // ours before acting on it
    log::Info("improvement: term " + std::to_string(term) + " resumes loop " + decoded->loop_id +
              " at iteration " + std::to_string(decoded->iteration) + ", stage " +
              StageName(decoded->stage) + " (stored by term " + std::to_string(best.term) +
              ", seq " + std::to_string(best.seq) + ")");
  } else {
    (void)ctx.store->Store(best);
  }
  loop = std::move(decoded).value();
  adopted_term = term;
  adopted_at = Clock::now();
  Publish();
  return true;
}

bool ImprovementService::Impl::Persist(const LoopState& next, uint64_t term) {
  StoredState st{term, seq + 1, EncodeState(next)};
  size_t acks = 0;
  if (Status s = ctx.store->Store(st); s.ok()) {
    acks++;
  } else {
    log::Warn("improvement: local store refused the loop state: " + s.ToString());
    return false;
  }
  auto voters = VoterPeers();
  std::string body = "{\"term\":" + std::to_string(term) + ",\"seq\":" + std::to_string(st.seq) +
                     ",\"state\":" + st.state + "}";
  std::vector<int> status(voters.size(), 0);
  ForEachParallel(voters.size(), 4, [&](size_t i) {
    status[i] = Call(voters[i].url, ctx.token, "POST", "/improvement/state", body, term).status;
  });
  for (int s : status) acks += s == 200;
  if (acks < Majority()) {
    log::Warn("improvement: loop state stored on " + std::to_string(acks) + " voter(s), " +
              std::to_string(Majority()) + " needed: not acting on it yet");
    return false;
  }
  seq = st.seq;
  return true;
}

void ImprovementService::Impl::Publish() {
  std::string text = loop ? EncodeState(*loop) : "";
  std::lock_guard lock(mu);
  status_loop = std::move(text);
  status_term = adopted_term;
  status_seq = seq;
}

}  // namespace rift::improve
