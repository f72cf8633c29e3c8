#include "orchestrator/node/node.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "orchestrator/api/handlers.h"
#include "orchestrator/api/http_server.h"
#include "orchestrator/api/node_api.h"
#include "orchestrator/api/router.h"
#include "orchestrator/base/log.h"
#include "orchestrator/base/random.h"
#include "orchestrator/core/node_core.h"
#include "orchestrator/datasvc/data_service.h"
#include "orchestrator/datasvc/leader_sync.h"
#include "orchestrator/datasvc/push_agent.h"
#include "orchestrator/datasvc/routes.h"
#include "orchestrator/improve/routes.h"
#include "orchestrator/improve/service.h"
#include "orchestrator/jobs/manager.h"
#include "orchestrator/jobs/routes.h"
#include "orchestrator/net/peer_transport.h"
#include "orchestrator/node/events.h"
#include "orchestrator/node/system_stats.h"
#include "orchestrator/store/vote_store.h"

namespace rift::node {
namespace fs = std::filesystem;

constexpr auto kTickInterval = milliseconds(10);
constexpr auto kSampleInterval = seconds(1);

std::string WithActualPort(const std::string& url, int port) {
  std::string u = url;
  bool slash = !u.empty() && u.back() == '/';
  if (slash) u.pop_back();
  if (u.size() >= 2 && u.compare(u.size() - 2, 2, ":0") == 0) {
    u = u.substr(0, u.size() - 1) + std::to_string(port);
  }
  return slash ? u + "/" : u;
}

namespace {

Status WritePortFile(const fs::path& state_dir, int port) {
  fs::path tmp = state_dir / "p2p.port.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out.flush()) return Internal("cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, state_dir / "p2p.port", ec);
  if (ec) return Internal("cannot rename " + tmp.string() + ": " + ec.message());
  return Status::Ok();
}

core::NodeConfig MakeCoreConfig(const settings::Settings& s, const std::string& url) {
  core::NodeConfig c;
  auto& m = c.membership;
  m.node_id = s.node_id;
  m.advertise_url = url;
  m.incarnation = static_cast<uint64_t>(RealTime().WallMillis());
  m.boot_id = OsSeed();
  m.voter = std::find(s.voters.begin(), s.voters.end(), s.node_id) != s.voters.end();
  m.outbound_only = s.outbound_only;
  m.seeds = s.Seeds();
  m.timers.probe_interval = s.timers.probe_interval;
  m.timers.probe_timeout = s.timers.probe_timeout;
  m.timers.suspicion_min = s.timers.suspicion_min;
  m.timers.suspicion_max = s.timers.suspicion_max;
  m.timers.dead_reap_ttl = s.timers.dead_reap_ttl;
  auto& e = c.election;
  e.node_id = s.node_id;
  e.self_url = url;
  e.voters = s.voters;
  e.preferred_leader = s.preferred_leader;
  e.mode =
      s.leader_mode == "static" ? election::LeaderMode::kStatic : election::LeaderMode::kElected;
  e.timers.heartbeat_interval = s.timers.heartbeat_interval;
  e.timers.election_timeout = s.timers.election_timeout;
  return c;
}

std::vector<inventory::FileClass> FileClasses(const settings::Settings& s) {
  std::vector<inventory::FileClass> out;
  for (const auto& c : s.file_classes) {
    out.push_back(
        {c.name, c.prefixes, c.replication, c.training_needs_all, c.protect, c.cleanup_rank});
  }
  return out;  // empty: the data service uses the defaults
}

datasvc::DataOptions MakeDataOptions(const settings::Settings& s) {
  fs::path dir = fs::absolute(s.ringrift_dir);
  datasvc::DataOptions o;
  o.node_id = s.node_id;
  o.data_root = (dir / "data").lexically_normal().string();
  o.db_path = (dir / "state" / "inventory.db").string();
  o.classes = FileClasses(s);
  o.quiet_period = s.sync.quiet_period;
  // Scan often enough that a quiet file is sealed soon after its quiet period.
  o.scan_interval = std::clamp<std::chrono::milliseconds>(
      std::chrono::duration_cast<std::chrono::milliseconds>(s.sync.quiet_period) / 2,
      milliseconds(250), milliseconds(2000));
  o.max_concurrent_transfers = s.sync.max_concurrent_transfers;
  // The per-node cap is split over the transfer slots (each pull has its own token bucket).
  o.bandwidth_bytes_per_sec = static_cast<uint64_t>(s.sync.bandwidth_limit_mbps) * 1000000 / 8 /
                              static_cast<uint64_t>(std::max(1, s.sync.max_concurrent_transfers));
  o.small_file_bytes = s.sync.small_file_bytes;
  o.part_max_age = s.sync.part_max_age;
  o.cpu_priority = s.sync.cpu_priority;
  o.token = s.auth_token;
  return o;
}

jobs::ManagerOptions MakeJobOptions(const settings::Settings& s, datasvc::DataService* data) {
  fs::path dir = fs::absolute(s.ringrift_dir).lexically_normal();
  jobs::ManagerOptions o;
  o.node_id = s.node_id;
  o.ringrift_dir = dir.string();
  o.data_root = data->options().data_root;
  o.bin_dir = fs::path(jobs::CurrentExecutable()).parent_path().string();
  o.db_path = (dir / "state" / "jobs.db").string();
  o.jobs_dir = (dir / "state" / "jobs").string();
  o.settings = s.jobs;
  const settings::Host* self = s.FindHost(s.node_id);
  o.max_jobs = self && self->max_parallel_jobs > 0 ? self->max_parallel_jobs : s.jobs.max_jobs;
  o.seal = [data](const std::string& rel) {
    return data->inventory()->SealNow(rel, RealTime().WallMillis());
  };
  return o;
}

}  // namespace

struct Node::Impl : api::NodeApi {
  settings::Settings settings;
  std::string url;
  std::unique_ptr<election::VoteStore> store;
  mutable std::mutex core_mu;  // guards core; never held across I/O
  std::unique_ptr<core::NodeCore> core;
  mutable std::mutex state_mu;  // held only to copy the pointer
  std::shared_ptr<const api::PublishedState> state;
  std::unique_ptr<api::Router> router;
  std::unique_ptr<api::HttpServer> server;
  std::unique_ptr<net::PeerTransport> transport;
  std::unique_ptr<datasvc::DataService> data;
  std::unique_ptr<datasvc::LeaderSync> leader_sync;
  std::unique_ptr<improve::StateStore> improve_store;
  std::unique_ptr<improve::ImprovementService> improve;
  std::unique_ptr<datasvc::PushAgent> push_agent;  // outbound-only nodes
  std::unique_ptr<jobs::JobManager> jobs;
  std::vector<api::RunningJob> running_jobs;  // sampled with `system`
  SystemSampler sampler;
  api::SystemStats system;
  TimePoint next_sample{};
  EventLog events;
  std::thread ticker;
  std::atomic<Clock::rep> last_tick{0};  // Clock ticks since its epoch; 0 = never
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopping = false;
  bool started = false;

  explicit Impl(settings::Settings s)
      : settings(std::move(s)), sampler((fs::path(settings.ringrift_dir) / "data").string()) {}

  std::shared_ptr<const api::PublishedState> State() const override {
    std::lock_guard lock(state_mu);
    return state;
  }

  void Publish(core::Snapshot snap) {
    snap.taken_at_ms = RealTime().WallMillis();
    events.Observe(snap);
    auto next = std::make_shared<api::PublishedState>();
    next->core = std::move(snap);
    next->system = system;
    next->jobs = running_jobs;
    // Never waits for a data thread (they may run at SCHED_IDLE): if one holds the data
    // service's lock, the last figures stay.
    if (auto figures = data ? data->TryFigures() : std::nullopt; !figures) {
      std::lock_guard lock(state_mu);
      if (state) next->data = state->data;
    } else {
      const datasvc::DataFigures& f = *figures;
      next->data = {f.files,
                    f.sealed,
                    f.bytes,
                    f.transfers_active,
                    f.transfers_queued,
                    f.transfers_failed,
                    f.bytes_received};
    }
    std::lock_guard lock(state_mu);
    state = std::move(next);
  }

  // Inbound envelopes (from a request or from a reply) through the core; returns its output.
  protocol::Output Receive(const std::vector<protocol::Envelope>& batch) {
    protocol::Output all;
    std::lock_guard lock(core_mu);
    TimePoint now = Clock::now();
    for (const auto& e : batch) {
      protocol::Output o = core->Receive(e, now);
      std::move(o.replies.begin(), o.replies.end(), std::back_inserter(all.replies));
      std::move(o.outbound.begin(), o.outbound.end(), std::back_inserter(all.outbound));
    }
    return all;
  }

  std::vector<protocol::Envelope> Deliver(std::vector<protocol::Envelope> batch) override {
    protocol::Output out = Receive(batch);
    transport->Send(std::move(out.outbound));
    return std::move(out.replies);
  }

  // Replies to our own outbound batches: whatever they produce goes out through the transport.
  void OnReplies(std::vector<protocol::Envelope> batch) {
    protocol::Output out = Receive(batch);
    std::move(out.replies.begin(), out.replies.end(), std::back_inserter(out.outbound));
    transport->Send(std::move(out.outbound));
  }

  bool HasLease() const override {
    std::lock_guard lock(core_mu);
    return core->HasLease(Clock::now());
  }

  Status CheckTerm(uint64_t term) const override {
    std::lock_guard lock(core_mu);
    return core->CheckTerm(term);
  }

  Result<bool> Register(const api::Registration& r) override {
    Result<bool> added = [&]() -> Result<bool> {
      std::lock_guard lock(core_mu);
      return core->AddSeed(r.url, Clock::now());
    }();
    if (added.ok()) {
      std::string what = "registration: " + r.node_id + " at " + r.url +
                         (r.ssh_port > 0 ? " (ssh port " + std::to_string(r.ssh_port) + ")" : "");
      *added ? log::Info(what + ", new seed") : log::Debug(what);
    }
    return added;
  }

  // Alive members (this node included) for the leader's sync rounds, from the snapshot.
  std::vector<datasvc::MemberRef> AliveMembers() const {
    auto out = SyncMembers();
    std::erase_if(out, [](const datasvc::MemberRef& m) { return m.suspect; });
    return out;
  }

  // Alive and suspect members (flagged), this node included, from one snapshot.
  std::vector<datasvc::MemberRef> SyncMembers() const {
    auto s = State();
    std::vector<datasvc::MemberRef> out{
        {s->core.node_id, s->core.url, settings.outbound_only, s->core.incarnation}};
    for (const auto& m : s->core.members) {
      if (m.node_id == s->core.node_id) continue;
      if (m.state == "alive" || m.state == "suspect") {
        out.push_back({m.node_id, m.url, m.outbound_only, m.incarnation, m.state == "suspect"});
      }
    }
    return out;
  }

  void StartDataPlane(api::Router* r) {
    datasvc::LeaderContext lc;
    lc.node_id = settings.node_id;
    lc.token = settings.auth_token;
    lc.has_lease = [this] { return HasLease(); };
    lc.term = [this] { return State()->core.term; };
    lc.alive_members = [this] { return AliveMembers(); };
    lc.sync_members = [this] { return SyncMembers(); };
    std::vector<std::string> trainers = settings::TrainingNodeIds(settings);
    lc.training_nodes.insert(trainers.begin(), trainers.end());
    for (const auto& h : settings.hosts) {
      if (h.nat_blocked) lc.outbound_only_nodes.insert(h.id);
    }
    lc.classes = data->classes();
    lc.high_watermark = settings.cleanup.high_watermark;
    lc.sync_interval = settings.sync.interval;
    lc.cleanup_interval = settings.cleanup.interval;
    leader_sync = std::make_unique<datasvc::LeaderSync>(std::move(lc));
    datasvc::RouteContext rc;
    rc.node = this;
    rc.data = data.get();
    rc.leader = leader_sync.get();
    rc.marks = {settings.cleanup.high_watermark, settings.cleanup.low_watermark};
    rc.outbound_only = settings.outbound_only;
    rc.training = std::find(trainers.begin(), trainers.end(), settings.node_id) != trainers.end();
    if (settings.outbound_only) {  // nobody can call us: ask the leader for work
      datasvc::PushAgentContext pc;
      pc.data = data.get();
      pc.node_id = settings.node_id;
      pc.token = settings.auth_token;
      pc.marks = rc.marks;
      pc.leader_urls = [this] {
        auto s = State();
        std::vector<std::string> out;
        if (!s) return out;
        if (!s->core.leader_url.empty()) out.push_back(s->core.leader_url);
        for (const auto& m : s->core.members) {
          if (m.state == "alive" && !m.outbound_only && m.node_id != s->core.node_id) {
            out.push_back(m.url);
          }
        }
        return out;
      };
      push_agent = std::make_unique<datasvc::PushAgent>(std::move(pc));
      rc.agent = push_agent.get();
    }
    datasvc::RegisterDataRoutes(r, rc);
  }

  // Every known member with its voter flag and state, this node first (for the leader's loop
  // and scheduler).
  std::vector<improve::Peer> Peers() const {
    auto s = State();
    std::vector<improve::Peer> out{
        {s->core.node_id, s->core.url, "alive", s->core.voter, settings.outbound_only}};
    for (const auto& m : s->core.members) {
      if (m.node_id != s->core.node_id) {
        out.push_back({m.node_id, m.url, m.state, m.voter, m.outbound_only});
      }
    }
    return out;
  }

  improve::Capacity LocalCapacity() const {
    auto s = State();
    improve::Capacity c;
    c.node_id = settings.node_id;
    c.cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const settings::Host* self = settings.FindHost(settings.node_id);
    c.gpus = self ? improve::GpuCount(self->gpu) : 0;
    c.memory_percent = s->system.memory_percent;
    c.disk_percent = s->system.disk_percent;
    c.disk_high_percent = settings.cleanup.high_watermark * 100;
    c.healthy = api::IsHealthy(s->system);
    c.outbound_only = settings.outbound_only;
    c.data_dir = data->options().data_root;
    return c;
  }

  // The leader's scheduler and improvement loop (improve/), and their routes.
  Status StartImprovement(api::Router* r, int port, std::vector<std::string> voters) {
    const auto& im = settings.improvement;
    auto store = improve::StateStore::Open(
        (fs::path(settings.ringrift_dir) / "state" / "improvement.db").string());
    if (!store.ok()) return store.status();
    improve_store = std::move(store).value();
    improve::ServiceContext c;
    c.node_id = settings.node_id;
    c.token = settings.auth_token;
    bool any =
        settings.bind_host.empty() || settings.bind_host == "0.0.0.0" || settings.bind_host == "::";
    std::string host = any ? "127.0.0.1" : settings.bind_host;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    c.self_url = "http://" + host + ":" + std::to_string(port);
    c.voters = std::move(voters);
    c.outbound_only = settings.outbound_only;
    c.has_lease = [this] { return HasLease(); };
    c.term = [this] { return State()->core.term; };
    c.members = [this] { return Peers(); };
    c.leader_urls = [this] {
      auto s = State();
      std::vector<std::string> out;
      if (s->core.leader_id && *s->core.leader_id != s->core.node_id) {
        out.push_back(s->core.leader_url);
      }
      for (const auto& m : s->core.members) {
        if (m.state == "alive" && !m.outbound_only && m.node_id != s->core.node_id) {
          out.push_back(m.url);
        }
      }
      return out;
    };
    c.local_capacity = [this] { return LocalCapacity(); };
    c.sync_training = [this] {
      auto plan = leader_sync->Run(datasvc::PlanKind::kTraining);
      return plan.ok() ? std::string() : plan.status().ToString();
    };
    c.store = improve_store.get();
    c.scheduler = {im.selfplay_per_gpu, im.cpu_selfplay_max, im.memory_pressure_percent,
                   im.selfplay_games, im.board};
    c.background_selfplay = im.background_selfplay;
    c.scheduler_interval = im.scheduler_interval;
    c.poll_interval = im.poll_interval;
    for (const auto& h : settings.hosts) {
      c.hosts[h.id] = {h.cpus, h.gpu.empty() ? -1 : improve::GpuCount(h.gpu), h.max_parallel_jobs};
    }
    c.training_nodes = settings::TrainingNodeIds(settings);
    c.training_node = im.training_node;
    c.loop_defaults = {im.iterations,
                       im.games_per_iteration,
                       im.eval_games,
                       im.promote_win_rate,
                       im.board,
                       im.max_attempts,
                       ToMillis(im.sync_timeout),
                       ToMillis(im.distribute_timeout)};
    improve = std::make_unique<improve::ImprovementService>(std::move(c));
    improve::RegisterImprovementRoutes(
        r, {this, improve.get(), improve_store.get(), [this] { return LocalCapacity(); }});
    return Status::Ok();
  }

  void SampleJobs() {
    jobs::JobCounts c = jobs->Counts();
    system.selfplay_jobs = c.selfplay;
    system.training_jobs = c.training;
    running_jobs.clear();
    for (const auto& j : jobs->List("", "running")) {
      running_jobs.push_back({j.id, j.kind, j.pid, j.started_ms});
    }
  }

  // All periodic work, in one place (redis serverCron style).
  void Cron(TimePoint now) {
    std::vector<protocol::Envelope> out;
    core::Snapshot snap;
    {
      std::lock_guard lock(core_mu);
      out = core->Tick(now);
      snap = core->TakeSnapshot(now);
    }
    if (now >= next_sample) {  // disk/memory/cpu: outside every lock, never in a request
      system = sampler.Sample();
      SampleJobs();
      next_sample = now + kSampleInterval;
    }
    Publish(std::move(snap));
    transport->Send(std::move(out));
  }

  void TickerLoop() {
    std::unique_lock lock(stop_mu);
    while (!stopping) {
      lock.unlock();
      Cron(Clock::now());
      last_tick.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed);
      lock.lock();
      stop_cv.wait_for(lock, kTickInterval, [this] { return stopping; });
    }
  }
};

Node::Node(settings::Settings settings) : impl_(std::make_unique<Impl>(std::move(settings))) {}

Node::~Node() { Stop(); }

Status Node::Start() {
  Impl& n = *impl_;
  const auto& s = n.settings;
  fs::path dir(s.ringrift_dir);
  std::error_code ec;
  for (const char* sub : {"state", "data"}) {
    fs::create_directories(dir / sub, ec);
    if (ec) return Internal("cannot create " + (dir / sub).string() + ": " + ec.message());
  }
  auto store = store::SqliteVoteStore::Open((dir / "state" / "p2p.db").string());
  if (!store.ok()) return store.status();
  n.store = std::move(store).value();

  if (s.auth_token.empty()) {
    log::Warn(
        "no cluster token configured: every endpoint is open (set "
        "RINGRIFT_CLUSTER_AUTH_TOKEN[_FILE], or --require-auth to refuse this)");
  }
  auto data = datasvc::DataService::Open(MakeDataOptions(s));
  if (!data.ok()) return data.status();
  n.data = std::move(data).value();
  auto jobs = jobs::JobManager::Open(MakeJobOptions(s, n.data.get()));
  if (!jobs.ok()) return jobs.status();
  n.jobs = std::move(jobs).value();

  n.router = std::make_unique<api::Router>(s.auth_token);
  api::RegisterRoutes(n.router.get(), &n);
  n.StartDataPlane(n.router.get());
  jobs::RegisterJobRoutes(n.router.get(), {&n, n.jobs.get()});
  api::ServerOptions so;
  so.bind_host = s.bind_host;
  so.port = s.port;
  n.server = std::make_unique<api::HttpServer>(n.router.get(), so);
  RIFT_RETURN_IF_ERROR(n.server->Bind());
  int port = n.server->port();
  n.url = s.port == 0 ? WithActualPort(s.advertise_url, port) : s.advertise_url;

  auto config = MakeCoreConfig(s, n.url);
  if (config.election.voters.empty() && config.membership.seeds.empty()) {
    log::Warn("no voters and no peers configured: this node is the only voter");
    config.election.voters = {s.node_id};
    config.membership.voter = true;
  }
  n.core = std::make_unique<core::NodeCore>(config, n.store.get(), OsSeed(), Clock::now());
  RIFT_RETURN_IF_ERROR(n.StartImprovement(n.router.get(), port, config.election.voters));

  net::TransportOptions to;
  to.auth_token = s.auth_token;
  to.request_timeout = std::max<std::chrono::milliseconds>(
      std::chrono::duration_cast<std::chrono::milliseconds>(s.timers.probe_timeout),
      milliseconds(500));
  n.transport = std::make_unique<net::PeerTransport>(
      to,
      [impl = impl_.get()](std::vector<protocol::Envelope> r) { impl->OnReplies(std::move(r)); });

  n.Cron(Clock::now());  // publish a first snapshot before the first request
  RIFT_RETURN_IF_ERROR(n.server->Serve());
  RIFT_RETURN_IF_ERROR(WritePortFile(dir / "state", port));
  n.ticker = std::thread([impl = impl_.get()] { impl->TickerLoop(); });
  n.data->Start();
  n.leader_sync->Start();
  n.improve->Start();
  if (n.push_agent) n.push_agent->Start();
  n.jobs->Start();
  n.started = true;
  log::Info("node " + s.node_id + " listening on " + s.bind_host + ":" + std::to_string(port) +
            " advertising " + n.url + " (p2p_port=" + std::to_string(port) + ")");
  std::printf("ringrift-p2p listening port=%d url=%s\n", port, n.url.c_str());
  std::fflush(stdout);
  return Status::Ok();
}

void Node::Stop() {
  Impl& n = *impl_;
  if (!n.started) {
    if (n.server) n.server->Stop();
    return;
  }
  n.started = false;
  n.jobs->BeginShutdown();  // ends log follows, so the server's workers can be joined
  n.server->Stop();
  {
    std::lock_guard lock(n.stop_mu);
    n.stopping = true;
  }
  n.stop_cv.notify_all();
  n.ticker.join();
  n.improve->Stop();  // before the sync it calls into
  if (n.push_agent) n.push_agent->Stop();
  n.leader_sync->Stop();
  n.jobs->Stop();  // the jobs themselves keep running: the next daemon re-adopts them
  n.data->Stop();
  n.transport->Stop();
  std::error_code ec;
  fs::remove(fs::path(n.settings.ringrift_dir) / "state" / "p2p.port", ec);
  log::Info("node " + n.settings.node_id + " stopped");
}

int Node::port() const { return impl_->server ? impl_->server->port() : 0; }

std::string Node::advertise_url() const { return impl_->url; }

std::chrono::steady_clock::time_point Node::last_tick() const {
  return TimePoint(Duration(impl_->last_tick.load(std::memory_order_relaxed)));
}

}  // namespace rift::node
