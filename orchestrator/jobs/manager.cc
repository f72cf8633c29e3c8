#include "orchestrator/jobs/manager.h"

#include <algorithm>
#include <filesystem>

#include "orchestrator/base/log.h"
#include "orchestrator/jobs/manager_internal.h"

extern char** environ;  // NOLINT: POSIX

namespace rift::jobs {
namespace internal {

int64_t NowMs() { return RealTime().WallMillis(); }

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

}  // namespace internal

namespace {

namespace fs = std::filesystem;
using internal::Join;
using internal::kKillMargin;
using internal::NowMs;

constexpr auto kGpuWait = std::chrono::seconds(15);

bool Secret(const std::string& kv) {
  static const char* kDropped[] = {"RINGRIFT_CLUSTER_AUTH_TOKEN", "NOTIFY_SOCKET=", "LISTEN_FDS=",
                                   "LISTEN_PID=", "LISTEN_FDNAMES=", "WATCHDOG_USEC=",
                                   "WATCHDOG_PID="};
  for (const char* p : kDropped) {
    if (kv.rfind(p, 0) == 0) return true;
  }
  return false;
}

bool IsSelfplay(const std::string& kind) { return kind.find("selfplay") != std::string::npos; }
bool IsTraining(const std::string& kind) { return kind.rfind("training", 0) == 0; }

Status StartFailure(const std::string& id, const Status& st) {
  Code code = st.code();
  if (code == Code::kNotFound || code == Code::kPermissionDenied) code = Code::kFailedPrecondition;
  return Status(code, "job " + id + " did not start: " + st.message());
}

}  // namespace

const settings::JobKind* JobManager::Impl::FindKind(const std::string& name) const {
  for (const auto& k : catalogue) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

std::string JobManager::Impl::KnownKinds() const {
  std::vector<std::string> names;
  for (const auto& k : catalogue) names.push_back(k.name);
  return Join(names, ", ");
}

std::string JobManager::Impl::NewIdLocked() {
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "%04x", static_cast<unsigned>(rng() & 0xffff));
  return o.node_id + "-" + std::to_string(NowMs()) + "-" + suffix;
}

bool JobManager::Impl::WaitForGpus() {
  std::unique_lock lock(mu);
  return changed.wait_for(lock, kGpuWait, [this] { return gpus_known || stopping; }) &&
         gpus_known;
}

int JobManager::Impl::ActiveLocked(const std::string& kind) const {
  int n = 0;
  for (const auto& [id, e] : jobs) {
    if (!e.rec.Finished() && (kind.empty() || e.rec.kind == kind)) ++n;
  }
  return n;
}

Result<std::vector<std::string>> JobManager::Impl::AssignGpusLocked(const settings::JobKind& kind) const {
  if (kind.gpus <= 0) return std::vector<std::string>{};
  if (gpus.empty()) {
    return FailedPrecondition("kind " + kind.name + " needs " + std::to_string(kind.gpus) +
                              " GPU(s); this node has none");
  }
  std::vector<std::string> busy;
  for (const auto& [id, e] : jobs) {
    if (!e.rec.Finished()) busy.insert(busy.end(), e.rec.gpus.begin(), e.rec.gpus.end());
  }
  std::vector<std::string> free;
  for (const auto& g : gpus) {
    if (std::find(busy.begin(), busy.end(), g.index) == busy.end()) free.push_back(g.index);
  }
  if (free.size() < static_cast<size_t>(kind.gpus)) {
    return ResourceExhausted("kind " + kind.name + " needs " + std::to_string(kind.gpus) +
                             " GPU(s); " + std::to_string(free.size()) + " of " +
                             std::to_string(gpus.size()) + " free");
  }
  free.resize(static_cast<size_t>(kind.gpus));
  return free;
}

std::vector<std::string> JobManager::Impl::JobEnv(const JobRecord& rec, const Command& cmd) const {
  std::map<std::string, std::string> m;
  for (const auto& kv : base_env) {
    auto eq = kv.find('=');
    if (eq != std::string::npos && !Secret(kv)) m[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : cmd.env) m[k] = v;
  m["RINGRIFT_JOB_ID"] = rec.id;
  m["RINGRIFT_JOB_KIND"] = rec.kind;
  m["RINGRIFT_NODE_ID"] = o.node_id;
  m["RINGRIFT_OUT_DIR"] = cmd.out_dir_abs;
  if (!rec.gpus.empty() && rec.gpus[0] != "mps") m["CUDA_VISIBLE_DEVICES"] = Join(rec.gpus, ",");
  std::vector<std::string> env;
  for (const auto& [k, v] : m) env.push_back(k + "=" + v);
  return env;
}

void JobManager::Impl::Persist(const JobRecord& rec) {
  if (Status st = store->Put(rec); !st.ok()) {
    log::Error("jobs: cannot record job " + rec.id + ": " + st.ToString());
  }
}

JobManager::JobManager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

JobManager::~JobManager() { Stop(); }

Result<std::unique_ptr<JobManager>> JobManager::Open(ManagerOptions options) {
  std::error_code ec;
  fs::create_directories(options.jobs_dir, ec);
  if (ec) return Internal("cannot create " + options.jobs_dir + ": " + ec.message());
  auto impl = std::make_unique<Impl>(std::move(options));
  Impl& m = *impl;
  RIFT_ASSIGN_OR_RETURN(m.store, JobStore::Open(m.o.db_path));
  m.catalogue = MergeCatalogue(m.o.settings.catalogue);
  if (m.o.max_jobs <= 0) m.o.max_jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (m.o.base_env) {
    m.base_env = *m.o.base_env;
  } else {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) m.base_env.emplace_back(*e);
  }
  RIFT_ASSIGN_OR_RETURN(std::vector<JobRecord> records, m.store->LoadAll());
  int unfinished = 0;
  for (auto& r : records) {
    Impl::Entry e;
    if (!r.Finished()) {
      ++unfinished;
      if (r.stop_requested) e.kill_at = Clock::now() + m.o.settings.stop_grace + kKillMargin;
    }
    if (!r.idempotency_key.empty()) m.keys[r.idempotency_key] = r.id;
    e.rec = std::move(r);
    std::string id = e.rec.id;
    m.jobs.emplace(std::move(id), std::move(e));
  }
  log::Info("jobs: " + std::to_string(records.size()) + " record(s) loaded, " +
            std::to_string(unfinished) + " to re-adopt; node cap " + std::to_string(m.o.max_jobs));
  return std::unique_ptr<JobManager>(new JobManager(std::move(impl)));
}

void JobManager::Start() {
  if (impl_->monitor.joinable()) return;
  impl_->monitor = std::thread([impl = impl_.get()] { impl->MonitorLoop(); });
}

void JobManager::Stop() {
  BeginShutdown();
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->changed.notify_all();
  impl_->runner.Wake();
  if (impl_->monitor.joinable()) impl_->monitor.join();
}

void JobManager::BeginShutdown() {
  impl_->shutting_down = true;
  impl_->changed.notify_all();
}

bool JobManager::ShuttingDown() const { return impl_->shutting_down; }

Result<StartOutcome> JobManager::StartJob(const StartRequest& req) {
  Impl& m = *impl_;
  const settings::JobKind* kind = m.FindKind(req.kind);
  if (kind == nullptr) {
    return InvalidArgument("unknown job kind '" + req.kind + "' (known: " + m.KnownKinds() + ")");
  }
  if (kind->gpus > 0 && !m.WaitForGpus()) return Unavailable("GPU detection has not finished");

  std::unique_lock lock(m.mu);
  if (!req.idempotency_key.empty()) {
    if (auto it = m.keys.find(req.idempotency_key); it != m.keys.end()) {
      const JobRecord& seen = m.jobs.at(it->second).rec;
      bool same = seen.kind == req.kind;
      for (const auto& [k, v] : req.params) {
        auto p = seen.params.find(k);
        same = same && p != seen.params.end() && p->second == v;
      }
      if (!same) {
        return AlreadyExists("idempotency key '" + req.idempotency_key + "' was used for job " +
                             seen.id + " with another kind or other params");
      }
      return StartOutcome{seen, false};
    }
  }
  if (int active = m.ActiveLocked(); active >= m.o.max_jobs) {
    return ResourceExhausted("node cap reached: " + std::to_string(active) + " of at most " +
                             std::to_string(m.o.max_jobs) + " jobs run here");
  }
  if (kind->max_per_node > 0 && m.ActiveLocked(kind->name) >= kind->max_per_node) {
    return ResourceExhausted("cap of kind " + kind->name + " reached: " +
                             std::to_string(kind->max_per_node) + " run here");
  }
  RIFT_ASSIGN_OR_RETURN(std::vector<std::string> gpus, m.AssignGpusLocked(*kind));
  const std::string id = m.NewIdLocked();
  CommandContext ctx{m.o.node_id,
                     id,
                     m.o.ringrift_dir,
                     m.o.data_root,
                     (fs::path(m.o.data_root) / "models").string(),
                     m.o.bin_dir,
                     Join(gpus, ",")};
  RIFT_ASSIGN_OR_RETURN(Command cmd, BuildCommand(*kind, req.params, ctx, m.rng()));
  JobRecord rec;
  rec.id = id;
  rec.kind = kind->name;
  rec.node = m.o.node_id;
  rec.state = "starting";
  rec.created_ms = NowMs();
  rec.argv = cmd.argv;
  rec.params = cmd.params;
  rec.out_dir = cmd.out_dir;
  rec.job_dir = (fs::path(m.o.jobs_dir) / id).string();
  rec.log_path = LogPath(rec.job_dir);
  rec.idempotency_key = req.idempotency_key;
  rec.term = req.term;
  rec.gpus = gpus;
  rec.timeout_ms = std::chrono::duration_cast<milliseconds>(kind->timeout).count();
  m.jobs[id] = Impl::Entry{rec, {}, true};
  if (!rec.idempotency_key.empty()) m.keys[rec.idempotency_key] = id;
  lock.unlock();

  if (Status st = m.store->PutWithKey(rec); !st.ok()) {
    std::lock_guard relock(m.mu);
    m.jobs.erase(id);
    if (!rec.idempotency_key.empty()) m.keys.erase(rec.idempotency_key);
    return st;
  }
  LaunchSpec spec;
  spec.argv = cmd.argv;
  spec.env = m.JobEnv(rec, cmd);
  spec.cwd = cmd.cwd;
  spec.job_dir = rec.job_dir;
  spec.log_cap_bytes = m.o.settings.log_cap_bytes;
  spec.timeout = kind->timeout;
  spec.grace = m.o.settings.stop_grace;
  std::error_code ec;
  fs::create_directories(cmd.out_dir_abs, ec);
  Result<Launched> launched =
      ec ? Result<Launched>(Internal("cannot create " + cmd.out_dir_abs + ": " + ec.message()))
         : m.runner.Launch(spec);
  bool stop_now = false;
  auto done = m.Update(id, [&](Impl::Entry& e) {
    e.launching = false;
    if (launched.ok()) {
      e.rec.state = "running";
      e.rec.launched = *launched;
      e.rec.pid = launched->job.pid;
      e.rec.started_ms = launched->started_ms;
      stop_now = e.rec.stop_requested;
      if (stop_now) e.kill_at = Clock::now() + m.o.settings.stop_grace + kKillMargin;
    } else {
      e.rec.state = "failed";
      e.rec.error = launched.status().message();
      e.rec.ended_ms = NowMs();
    }
  });
  m.runner.Wake();
  if (!launched.ok()) {
    log::Warn("jobs: " + id + " (" + rec.kind + ") did not start: " + launched.status().message());
    return StartFailure(id, launched.status());
  }
  if (stop_now) (void)m.runner.Stop(*launched);
  log::Info("jobs: started " + id + " (" + rec.kind + ") pid " + std::to_string(done->pid));
  return StartOutcome{*done, true};
}

Result<JobRecord> JobManager::StopJob(const std::string& id_in, const std::string& key) {
  Impl& m = *impl_;
  std::string id = id_in;
  JobRecord rec;
  {
    std::lock_guard lock(m.mu);
    if (id.empty()) {
      auto k = m.keys.find(key);
      if (key.empty() || k == m.keys.end()) {
        return NotFound("no job with idempotency key '" + key + "'");
      }
      id = k->second;
    }
    auto it = m.jobs.find(id);
    if (it == m.jobs.end()) return NotFound("no job " + id);
    if (it->second.rec.Finished()) return it->second.rec;
    it->second.rec.stop_requested = true;
    it->second.kill_at = Clock::now() + m.o.settings.stop_grace + kKillMargin;
    rec = it->second.rec;
  }
  m.Persist(rec);
  if (rec.launched.job.valid()) {
    if (Status st = m.runner.Stop(rec.launched); !st.ok()) m.runner.Wake();  // monitor sees it
  }
  log::Info("jobs: stop requested for " + id);
  return rec;
}

Result<JobRecord> JobManager::Get(const std::string& id) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->jobs.find(id);
  if (it == impl_->jobs.end()) return NotFound("no job " + id);
  return it->second.rec;
}

std::vector<JobRecord> JobManager::List(const std::string& kind, const std::string& state) const {
  std::vector<JobRecord> out;
  {
    std::lock_guard lock(impl_->mu);
    for (const auto& [id, e] : impl_->jobs) {
      if ((kind.empty() || e.rec.kind == kind) && (state.empty() || e.rec.state == state)) {
        out.push_back(e.rec);
      }
    }
  }
  std::sort(out.begin(), out.end(), [](const JobRecord& a, const JobRecord& b) {
    return a.created_ms != b.created_ms ? a.created_ms > b.created_ms : a.id > b.id;
  });
  return out;
}

JobCounts JobManager::Counts() const {
  JobCounts c;
  std::lock_guard lock(impl_->mu);
  for (const auto& [id, e] : impl_->jobs) {
    if (e.rec.Finished()) continue;
    ++c.running;
    if (IsSelfplay(e.rec.kind)) ++c.selfplay;
    if (IsTraining(e.rec.kind)) ++c.training;
  }
  return c;
}

std::vector<GpuInfo> JobManager::Gpus() const {
  std::lock_guard lock(impl_->mu);
  return impl_->gpus;
}

const std::vector<settings::JobKind>& JobManager::catalogue() const { return impl_->catalogue; }

void JobManager::WaitForChange(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mu);
  impl_->changed.wait_for(lock, timeout);
}

}  // namespace rift::jobs
