#include "orchestrator/jobs/manager.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "orchestrator/base/log.h"
#include "orchestrator/base/time.h"
#include "orchestrator/jobs/catalogue.h"
#include "orchestrator/jobs/job_store.h"
#include "orchestrator/jobs/record_internal.h"

extern char** environ;  // NOLINT: POSIX

namespace rift::jobs {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr uint64_t kResultTailBytes = 64 << 10;
constexpr auto kGpuWait = std::chrono::seconds(15);
constexpr auto kRetentionInterval = std::chrono::seconds(60);
// After the grace, the shim kills the group itself; the monitor only steps in when it cannot.
constexpr auto kKillMargin = std::chrono::seconds(3);

int64_t NowMs() { return RealTime().WallMillis(); }

bool Secret(const std::string& kv) {
  static const char* kDropped[] = {"RINGRIFT_CLUSTER_AUTH_TOKEN", "NOTIFY_SOCKET=", "LISTEN_FDS=",
                                   "LISTEN_PID=", "LISTEN_FDNAMES=", "WATCHDOG_USEC=",
                                   "WATCHDOG_PID="};
  for (const char* p : kDropped) {
    if (kv.rfind(p, 0) == 0) return true;
  }
  return false;
}

std::string Join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

bool IsSelfplay(const std::string& kind) { return kind.find("selfplay") != std::string::npos; }
bool IsTraining(const std::string& kind) { return kind.rfind("training", 0) == 0; }

Status StartFailure(const std::string& id, const Status& st) {
  Code code = st.code();
  if (code == Code::kNotFound || code == Code::kPermissionDenied) code = Code::kFailedPrecondition;
  return Status(code, "job " + id + " did not start: " + st.message());
}

}  // namespace

std::string ParseResult(const std::string& tail) {
  size_t end = tail.size();
  while (end > 0) {
    size_t start = tail.rfind('\n', end - 1);
    start = start == std::string::npos ? 0 : start + 1;
    std::string line = tail.substr(start, end - start);
    end = start == 0 ? 0 : start - 1;
    line.erase(line.find_last_not_of(" \t\r\n") + 1);
    line.erase(0, line.find_first_not_of(" \t"));
    if (line.empty() || line.rfind("[job-shim]", 0) == 0 || line.front() != '{') continue;
    json j = json::parse(line, nullptr, false);
    if (j.is_object()) return j.dump();
  }
  return "";
}

struct JobManager::Impl {
  struct Entry {
    JobRecord rec;
    TimePoint kill_at{};
    bool launching = false;
  };

  ManagerOptions o;
  std::vector<settings::JobKind> catalogue;
  std::unique_ptr<JobStore> store;
  ProcessRunner runner;
  std::vector<std::string> base_env;

  mutable std::mutex mu;
  mutable std::condition_variable changed;
  std::map<std::string, Entry> jobs;
  std::map<std::string, std::string> keys;  // idempotency key -> job id
  std::vector<GpuInfo> gpus;
  bool gpus_known = false;
  bool stopping = false;
  std::mt19937_64 rng{std::random_device{}()};
  std::thread monitor;
  std::atomic<bool> shutting_down{false};

  explicit Impl(ManagerOptions options) : o(std::move(options)), runner(o.runner) {}

  const settings::JobKind* FindKind(const std::string& name) const {
    for (const auto& k : catalogue) {
      if (k.name == name) return &k;
    }
    return nullptr;
  }

  std::string KnownKinds() const {
    std::vector<std::string> names;
    for (const auto& k : catalogue) names.push_back(k.name);
    return Join(names, ", ");
  }

  std::string NewIdLocked() {
    char suffix[8];
    std::snprintf(suffix, sizeof suffix, "%04x", static_cast<unsigned>(rng() & 0xffff));
    return o.node_id + "-" + std::to_string(NowMs()) + "-" + suffix;
  }

  bool WaitForGpus() {
    std::unique_lock lock(mu);
    return changed.wait_for(lock, kGpuWait, [this] { return gpus_known || stopping; }) &&
           gpus_known;
  }

  int ActiveLocked(const std::string& kind = "") const {
    int n = 0;
    for (const auto& [id, e] : jobs) {
      if (!e.rec.Finished() && (kind.empty() || e.rec.kind == kind)) ++n;
    }
    return n;
  }

  Result<std::vector<std::string>> AssignGpusLocked(const settings::JobKind& kind) const {
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

  std::vector<std::string> JobEnv(const JobRecord& rec, const Command& cmd) const {
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

  void Persist(const JobRecord& rec) {
    if (Status st = store->Put(rec); !st.ok()) {
      log::Error("jobs: cannot record job " + rec.id + ": " + st.ToString());
    }
  }

  // Updates a record under the lock, then persists and announces it.
  template <typename Fn>
  std::optional<JobRecord> Update(const std::string& id, Fn&& fn) {
    JobRecord copy;
    {
      std::lock_guard lock(mu);
      auto it = jobs.find(id);
      if (it == jobs.end()) return std::nullopt;
      fn(it->second);
      copy = it->second.rec;
    }
    Persist(copy);
    changed.notify_all();
    return copy;
  }

  void SealOutputs(const JobRecord& rec) {
    if (!o.seal || rec.out_dir.empty()) return;
    std::error_code ec;
    fs::path root = fs::path(o.data_root) / rec.out_dir;
    int sealed = 0;
    for (auto it = fs::recursive_directory_iterator(
             root, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      std::string name = it->path().filename().string();
      if (!it->is_regular_file(ec) || name.empty() || name[0] == '.' ||
          (name.size() > 5 && name.compare(name.size() - 5, 5, ".part") == 0)) {
        continue;
      }
      std::string rel = (fs::path(rec.out_dir) / it->path().lexically_relative(root)).string();
      if (Status st = o.seal(rel); st.ok()) {
        ++sealed;
      } else {
        log::Warn("jobs: cannot seal " + rel + " of job " + rec.id + ": " + st.ToString());
      }
    }
    if (sealed > 0) log::Info("jobs: sealed " + std::to_string(sealed) + " file(s) of " + rec.id);
  }

  void Finalize(const std::string& id, const ExitRecord* e, const std::string& lost_reason) {
    JobRecord rec;
    {
      std::lock_guard lock(mu);
      auto it = jobs.find(id);
      if (it == jobs.end() || it->second.rec.Finished()) return;
      rec = it->second.rec;
    }
    rec.ended_ms = e && e->ended_ms ? e->ended_ms : NowMs();
    if (!e) {
      rec.state = "lost";
      rec.error = lost_reason;
    } else {
      rec.exit_code = e->exit_code;
      rec.signal = e->signal;
      rec.timed_out = e->timed_out;
      rec.stop_requested = rec.stop_requested || e->stop_requested;
      if (rec.stop_requested) {
        rec.state = "stopped";
      } else if (e->exit_code == 0 && e->error.empty() && !e->timed_out) {
        rec.state = "exited";
      } else {
        rec.state = "failed";
        rec.error = !e->error.empty() ? e->error
                    : e->timed_out   ? "timed out after " + std::to_string(rec.timeout_ms / 1000) + " s"
                    : e->signal      ? "killed by signal " + std::to_string(*e->signal)
                    : e->exit_code   ? "exit code " + std::to_string(*e->exit_code)
                                     : "no exit status";
      }
    }
    rec.result = ParseResult(ReadLogTail(rec.job_dir, kResultTailBytes));
    SealOutputs(rec);
    Update(id, [&](Entry& entry) { entry.rec = rec; });
    log::Info("jobs: " + rec.id + " (" + rec.kind + ") " + rec.state +
              (rec.error.empty() ? "" : ": " + rec.error));
  }

  // One pass over the unfinished jobs: exits, stop deadlines, re-adoption of earlier daemons'.
  void Poll() {
    std::vector<Entry> active;
    {
      std::lock_guard lock(mu);
      for (const auto& [id, e] : jobs) {
        if (!e.rec.Finished() && !e.launching) active.push_back(e);
      }
    }
    const TimePoint now = Clock::now();
    for (Entry& e : active) {
      JobRecord& rec = e.rec;
      if (!rec.launched.job.valid()) {  // an earlier daemon died while starting it
        if (auto started = ReadStarted(rec.job_dir)) {
          Update(rec.id, [&](Entry& x) {
            x.rec.launched = *started;
            x.rec.pid = started->job.pid;
            x.rec.started_ms = started->started_ms;
            x.rec.state = "running";
          });
          rec.launched = *started;
        } else if (auto exit = ReadExit(rec.job_dir)) {
          Finalize(rec.id, &*exit, "");
          continue;
        } else {
          Finalize(rec.id, nullptr, "the daemon stopped while the job was starting");
          continue;
        }
      }
      ProcessRunner::Probe p = runner.Check(rec.job_dir, rec.launched);
      switch (p.state) {
        case JobState::kExited:
          Finalize(rec.id, &p.exit, "");
          break;
        case JobState::kGone:
          Finalize(rec.id, nullptr,
                   "the job and its supervisor are gone and no exit was recorded");
          break;
        case JobState::kOrphaned:
        case JobState::kRunning: {
          bool overdue = rec.timeout_ms > 0 && p.state == JobState::kOrphaned &&
                         NowMs() - rec.started_ms > rec.timeout_ms + rec.timeout_ms / 10;
          bool kill = rec.stop_requested && e.kill_at != TimePoint{} && now >= e.kill_at;
          if (kill || overdue) runner.Kill(rec.launched);
          if (p.state == JobState::kOrphaned && rec.error.empty()) {
            Update(rec.id, [](Entry& x) {
              x.rec.error = "its supervisor was killed: the exit status will not be known";
            });
          }
          break;
        }
      }
    }
  }

  void Retain() {
    std::vector<JobRecord> drop;
    {
      std::lock_guard lock(mu);
      std::vector<const JobRecord*> finished;
      for (const auto& [id, e] : jobs) {
        if (e.rec.Finished()) finished.push_back(&e.rec);
      }
      if (finished.size() <= o.keep_finished) return;
      std::sort(finished.begin(), finished.end(), [](const JobRecord* a, const JobRecord* b) {
        return a->created_ms != b->created_ms ? a->created_ms < b->created_ms : a->id < b->id;
      });
      for (size_t i = 0; i + o.keep_finished < finished.size(); ++i) drop.push_back(*finished[i]);
      for (const auto& r : drop) {
        if (!r.idempotency_key.empty()) keys.erase(r.idempotency_key);
        jobs.erase(r.id);
      }
    }
    for (const auto& r : drop) {
      if (Status st = store->Delete(r.id); !st.ok()) log::Warn("jobs: " + st.ToString());
      std::error_code ec;
      if (!r.job_dir.empty()) fs::remove_all(r.job_dir, ec);
    }
  }

  void MonitorLoop() {
    std::vector<GpuInfo> found = o.detect_gpus ? o.detect_gpus() : std::vector<GpuInfo>{};
    {
      std::lock_guard lock(mu);
      gpus = std::move(found);
      gpus_known = true;
    }
    changed.notify_all();
    log::Info("jobs: " + std::to_string(gpus.size()) + " GPU(s) detected");
    TimePoint next_retention{};
    while (true) {
      {
        std::lock_guard lock(mu);
        if (stopping) return;
      }
      Poll();
      if (Clock::now() >= next_retention) {
        Retain();
        next_retention = Clock::now() + kRetentionInterval;
      }
      runner.WaitForActivity(o.poll_interval);
    }
  }
};

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
