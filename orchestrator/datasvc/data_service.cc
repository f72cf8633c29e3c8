#include "orchestrator/datasvc/data_service.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "orchestrator/base/log.h"
#include "orchestrator/base/priority.h"
#include "orchestrator/base/time.h"
#include "orchestrator/sync/transfer_client.h"

namespace rift::datasvc {
namespace {

constexpr size_t kMaxBatchFiles = 1000;
constexpr size_t kMaxOutcomes = 10000;
constexpr int kMaxWalkDepth = 64;

bool IsSha256(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

int64_t NowMs() { return RealTime().WallMillis(); }

struct Job {
  std::string id;
  std::vector<PullSpec> files;
  std::vector<PushSpec> pushes;  // a push job (files empty)
  bool batch = false;
};

std::string PushKey(const PushSpec& p) { return p.target_id + "\n" + p.path; }

bool EndsWithPart(const char* name) {
  size_t n = std::strlen(name);
  return n > 5 && std::strcmp(name + n - 5, ".part") == 0;
}

struct PartFile {
  std::string rel;  // with ".part"
  uint64_t size = 0;
};

// Removes `*.part` files older than `cutoff_ns` (wall clock) under `fd` whose final path is not
// `active`; never follows a symlink, never leaves the tree.
void CollectParts(int fd, const std::string& prefix, int depth, int64_t cutoff_ns,
                  const std::function<bool(const std::string&)>& active,
                  std::vector<PartFile>* removed) {
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    ::close(fd);
    return;
  }
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;  // ".", "..", dot-files: never transferred
    struct stat st {};
    if (::fstatat(::dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    const std::string rel = prefix + e->d_name;
    if (S_ISDIR(st.st_mode)) {
      if (depth >= kMaxWalkDepth) continue;
      int sub = ::openat(::dirfd(dir), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) CollectParts(sub, rel + "/", depth + 1, cutoff_ns, active, removed);
      continue;
    }
    if (!S_ISREG(st.st_mode) || !EndsWithPart(e->d_name)) continue;
    int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    if (mtime >= cutoff_ns || active(rel.substr(0, rel.size() - 5))) continue;
    if (::unlinkat(::dirfd(dir), e->d_name, 0) == 0) {
      removed->push_back({rel, static_cast<uint64_t>(st.st_size)});
    }
  }
  ::closedir(dir);
}

}  // namespace

struct DataService::Impl {
  DataOptions options;
  std::vector<inventory::FileClass> classes;
  std::unique_ptr<inventory::Inventory> inv;

  mutable std::mutex mu;  // everything below
  std::condition_variable work_cv, scan_cv;
  std::atomic<bool> stopping{false};
  bool scan_soon = false;
  bool started = false;
  std::deque<Job> queue;
  std::map<std::string, TransferInfo> active;  // id -> record (queued or running)
  std::deque<TransferInfo> history;            // newest first
  std::set<std::string> inflight;              // paths written here: pulls queued or running,
                                               // pushes being received
  std::set<std::string> pushing;               // PushKey of pushes queued or running
  std::map<std::string, std::vector<PushSpec>> running_pushes;  // job id -> its pushes
  std::deque<PushOutcome> outcomes;                             // ended pushes not yet taken
  std::function<void()> on_push_done;
  DataFigures figures;
  uint64_t next_request = 1, next_push_request = 1;
  TimePoint next_part_gc;
  std::unique_ptr<sync::PushReceiver> receiver;
  std::thread scanner;
  std::vector<std::thread> workers;
  std::once_flag priority_warned;

  DataFigures FiguresLocked() const;  // mu held

  void ScanLoop() {
    EnterBackground("rift-scan");
    bool first = true, asked = false;
    while (!stopping) {
      auto stats = inv->Scan(NowMs());
      DataFigures f;
      bool recount =
          first || asked || (stats.ok() && (stats->changed || stats->sealed || stats->removed));
      if (recount) {
        auto sealed = inv->Sealed();
        f.sealed = sealed.size();
        for (const auto& r : sealed) f.bytes += r.size;
      }
      first = false;
      std::unique_lock lock(mu);
      figures.scans++;
      figures.last_scan_ms = NowMs();
      figures.last_scan_error = stats.ok() ? "" : stats.status().ToString();
      if (stats.ok()) figures.files = stats->files;
      if (recount) {
        figures.sealed = f.sealed;
        figures.bytes = f.bytes;
      }
      lock.unlock();
      receiver->ExpireIdle();
      if (Clock::now() >= next_part_gc) {
        next_part_gc = Clock::now() + options.part_gc_interval;
        CollectAbandonedParts();
      }
      lock.lock();
      scan_cv.wait_for(lock, options.scan_interval, [this] { return stopping || scan_soon; });
      asked = scan_soon;
      scan_soon = false;
    }
  }

  sync::PullOptions PullOpts(const std::string& id) {
    sync::PullOptions po;
    po.data_root = options.data_root;
    po.inventory = inv.get();
    po.bandwidth_bytes_per_sec = options.bandwidth_bytes_per_sec;
    po.progress = [this, id](const std::string& source, uint64_t done, uint64_t total) {
      std::lock_guard lock(mu);
      auto it = active.find(id);
      if (it != active.end()) {
        auto& t = it->second;
        t.source = source;
        t.bytes_done = std::min(done, t.bytes_total ? t.bytes_total : done);
        double secs = std::max<int64_t>(1, NowMs() - t.started_ms) / 1000.0;
        t.rate_bytes_per_sec = (t.bytes_done - std::min(t.bytes_done, t.bytes_resumed)) / secs;
        (void)total;
      }
      return !stopping.load();
    };
    return po;
  }

  std::vector<std::string> CollectAbandonedParts() {
    const int64_t cutoff =
        (NowMs() -
         std::chrono::duration_cast<std::chrono::milliseconds>(options.part_max_age).count()) *
        1000000;
    std::vector<PartFile> removed;
    int fd = ::open(options.data_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      CollectParts(
          fd, "", 0, cutoff,
          [this](const std::string& rel) {
            std::lock_guard lock(mu);
            return inflight.count(rel) > 0;
          },
          &removed);
    }
    std::vector<std::string> out;
    uint64_t bytes = 0;
    for (const auto& p : removed) {
      log::Info("part gc: removed " + p.rel + " (" + std::to_string(p.size) +
                " bytes, untouched for more than " + std::to_string(options.part_max_age.count()) +
                " s, no transfer writing it)");
      out.push_back(p.rel);
      bytes += p.size;
    }
    std::lock_guard lock(mu);
    figures.part_gc_runs++;
    figures.parts_removed += removed.size();
    figures.part_bytes_removed += bytes;
    return out;
  }

  sync::PushOptions PushOpts(const std::string& id) {
    sync::PushOptions po;
    po.data_root = options.data_root;
    po.inventory = inv.get();
    po.bandwidth_bytes_per_sec = options.bandwidth_bytes_per_sec;
    auto first = std::make_shared<bool>(true);
    po.progress = [this, id, first](uint64_t done, uint64_t total) {
      std::lock_guard lock(mu);
      auto it = active.find(id);
      if (it != active.end()) {
        auto& t = it->second;
        if (*first) t.bytes_resumed = done;  // the first call: what the target already holds
        *first = false;
        t.bytes_done = std::min(done, total);
        double secs = std::max<int64_t>(1, NowMs() - t.started_ms) / 1000.0;
        t.rate_bytes_per_sec = (t.bytes_done - std::min(t.bytes_done, t.bytes_resumed)) / secs;
      }
      return !stopping.load();
    };
    return po;
  }

  // Runs one push job (no lock held); fills `t` and the per-file errors.
  void RunPush(const Job& job, TransferInfo* t, std::map<std::string, std::string>* failed) {
    if (!job.batch) {
      const PushSpec& p = job.pushes.front();
      sync::PushRequest req{
          {p.path, p.sha256, p.size, p.mtime_ns}, p.target_url, options.token, p.term};
      auto r = sync::PushFile(req, PushOpts(job.id));
      if (!r.ok()) {
        t->error = r.status().ToString();
        (*failed)[p.path] = t->error;
        return;
      }
      t->bytes_sent = r->bytes_sent;
      t->bytes_resumed = r->bytes_resumed;
      t->bytes_done = p.size;
      return;
    }
    std::vector<sync::PushRequest> reqs;
    for (const auto& p : job.pushes) {
      reqs.push_back({{p.path, p.sha256, p.size, p.mtime_ns}, p.target_url, options.token, p.term});
    }
    auto r = sync::PushBatch(reqs, PushOpts(job.id));
    if (!r.ok()) {
      t->error = r.status().ToString();
      for (const auto& p : job.pushes) (*failed)[p.path] = t->error;
      return;
    }
    t->bytes_sent = r->bytes_sent;
    t->bytes_done = r->bytes_sent;
    for (const auto& [path, st] : r->failed) (*failed)[path] = st.ToString();
    if (!r->failed.empty()) {
      t->error = std::to_string(r->failed.size()) + " of " + std::to_string(job.pushes.size()) +
                 " files failed; first: " + r->failed.front().first + ": " +
                 r->failed.front().second.ToString();
    }
  }

  // Runs one job (no lock held); fills the outcome into `t`.
  void Run(const Job& job, TransferInfo* t, std::map<std::string, std::string>* failed) {
    if (!job.pushes.empty()) return RunPush(job, t, failed);
    if (!job.batch) {
      const PullSpec& f = job.files.front();
      sync::PullRequest req{f.path, f.sha256, f.size, f.sources, options.token, f.mtime_ns};
      auto r = sync::PullFile(req, PullOpts(job.id));
      if (!r.ok()) {
        t->error = r.status().ToString();
        return;
      }
      t->bytes_received = r->bytes_received;
      t->bytes_resumed = r->bytes_resumed;
      t->bytes_done = f.size;
      t->source = r->source;
      return;
    }
    sync::BatchRequest req;
    req.sources = job.files.front().sources;
    req.token = options.token;
    for (const auto& f : job.files) req.files.push_back({f.path, f.sha256, f.size, f.mtime_ns});
    auto r = sync::PullBatch(req, PullOpts(job.id));
    if (!r.ok()) {
      t->error = r.status().ToString();
      return;
    }
    t->bytes_received = r->bytes_received;
    t->bytes_done = r->bytes_received;
    t->source = req.sources.front();
    if (!r->failed.empty()) {
      t->error = std::to_string(r->failed.size()) + " of " + std::to_string(job.files.size()) +
                 " files failed; first: " + r->failed.front().first + ": " +
                 r->failed.front().second.ToString();
    }
  }

  // Names the calling thread (as `top -H` and /proc show it) and lowers its CPU priority.
  void EnterBackground(const char* name) {
#if defined(__linux__)
    ::pthread_setname_np(::pthread_self(), name);  // (macOS has a one-argument form)
#endif
    Status st = SetThreadCpuPriority(options.cpu_priority);
    if (!st.ok()) {
      std::call_once(priority_warned, [&] {
        log::Warn("data: cannot set cpu priority " +
                  std::string(CpuPriorityName(options.cpu_priority)) + ": " + st.message());
      });
    }
  }

  void WorkLoop() {
    EnterBackground("rift-transfer");
    std::unique_lock lock(mu);
    while (true) {
      work_cv.wait(lock, [this] { return stopping || !queue.empty(); });
      if (stopping) return;
      Job job = std::move(queue.front());
      queue.pop_front();
      if (!job.pushes.empty()) running_pushes[job.id] = job.pushes;
      TransferInfo t = active[job.id];
      t.state = "running";
      t.started_ms = NowMs();
      active[job.id] = t;
      lock.unlock();
      std::map<std::string, std::string> failed;
      Run(job, &t, &failed);
      lock.lock();
      bool push = !job.pushes.empty();
      Finish(job, std::move(t), failed);
      if (push && on_push_done) {
        auto cb = on_push_done;
        lock.unlock();
        cb();
        lock.lock();
      }
    }
  }

  void Finish(const Job& job, TransferInfo t,
              const std::map<std::string, std::string>& failed) {  // mu held
    auto it = active.find(job.id);
    if (it != active.end()) {
      t.rate_bytes_per_sec = it->second.rate_bytes_per_sec;
      if (t.bytes_done == 0) t.bytes_done = it->second.bytes_done;  // how far a failure got
      if (t.source.empty()) t.source = it->second.source;
      active.erase(it);
    }
    t.finished_ms = NowMs();
    t.state = t.error.empty() ? "done" : "failed";
    double secs = std::max<int64_t>(1, t.finished_ms - t.started_ms) / 1000.0;
    if (t.state == "done") {
      t.rate_bytes_per_sec = (t.direction == "push" ? t.bytes_sent : t.bytes_received) / secs;
    }
    for (const auto& f : job.files) inflight.erase(f.path);
    running_pushes.erase(job.id);
    for (const auto& p : job.pushes) {
      pushing.erase(PushKey(p));
      auto it = failed.find(p.path);
      bool ok = it == failed.end();
      (ok ? figures.pushes_done : figures.pushes_failed)++;
      outcomes.push_back({p.path, p.sha256, p.target_id, ok, ok ? "" : it->second});
      while (outcomes.size() > kMaxOutcomes) outcomes.pop_front();
    }
    if (job.pushes.empty()) {
      (t.state == "done" ? figures.transfers_done : figures.transfers_failed)++;
      figures.bytes_received += t.bytes_received;
      figures.bytes_resumed += t.bytes_resumed;
    } else {
      figures.bytes_sent += t.bytes_sent;
    }
    if (!t.error.empty()) log::Warn("transfer " + t.id + " (" + t.path + "): " + t.error);
    scan_soon = true;  // refresh the figures with what arrived
    scan_cv.notify_all();
    history.push_front(std::move(t));
    while (history.size() > options.history) history.pop_back();
  }

  void EnqueuePushes(std::vector<PushSpec> pushes, bool batch, const std::string& id) {  // mu
    TransferInfo t;
    t.id = id;
    t.request_id = id.substr(0, id.find('.'));
    t.direction = "push";
    t.path = pushes.front().path;
    t.target = pushes.front().target_id;
    t.files = pushes.size();
    for (const auto& p : pushes) t.bytes_total += p.size;
    t.state = "queued";
    t.queued_ms = NowMs();
    active[id] = t;
    for (const auto& p : pushes) pushing.insert(PushKey(p));
    Job job;
    job.id = id;
    job.pushes = std::move(pushes);
    job.batch = batch;
    queue.push_back(std::move(job));
  }

  Status Validate(const PullSpec& f) const {
    if (f.path.empty() || f.path.front() == '/' || f.path.find("..") != std::string::npos) {
      return InvalidArgument("bad path '" + f.path + "'");
    }
    if (!IsSha256(f.sha256)) return InvalidArgument(f.path + ": sha256 must be 64 hex digits");
    if (f.sources.empty()) return InvalidArgument(f.path + ": no sources");
    return Status::Ok();
  }

  bool AlreadyHeld(const PullSpec& f) const {
    auto rec = inv->Get(f.path);
    return rec && !rec->deleted && rec->sealed && rec->sha256 == f.sha256;
  }

  void Enqueue(std::vector<PullSpec> files, bool batch, const std::string& id) {  // mu held
    TransferInfo t;
    t.id = id;
    t.request_id = id.substr(0, id.find('.'));
    t.path = files.front().path;
    t.files = files.size();
    for (const auto& f : files) t.bytes_total += f.size;
    t.state = "queued";
    t.queued_ms = NowMs();
    active[id] = t;
    for (const auto& f : files) inflight.insert(f.path);
    queue.push_back(Job{id, std::move(files), {}, batch});
  }
};

DataService::DataService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DataService::~DataService() { Stop(); }

Result<std::unique_ptr<DataService>> DataService::Open(DataOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->classes = options.classes.empty() ? inventory::DefaultFileClasses() : options.classes;
  inventory::InventoryOptions io;
  io.data_root = options.data_root;
  io.db_path = options.db_path;
  io.classes = impl->classes;
  io.quiet_period = options.quiet_period;
  RIFT_ASSIGN_OR_RETURN(impl->inv, inventory::Inventory::Open(std::move(io)));
  options.max_concurrent_transfers = std::max(1, options.max_concurrent_transfers);
  if (options.part_gc_interval <= std::chrono::milliseconds(0)) {
    options.part_gc_interval = std::clamp<std::chrono::milliseconds>(
        std::chrono::duration_cast<std::chrono::milliseconds>(options.part_max_age) / 4,
        std::chrono::seconds(10), std::chrono::minutes(10));
  }
  impl->options = std::move(options);
  sync::PushReceiverOptions ro;
  ro.data_root = impl->options.data_root;
  ro.inventory = impl->inv.get();
  Impl* raw = impl.get();
  ro.claim = [raw](const std::string& rel) {
    std::lock_guard lock(raw->mu);
    return raw->inflight.insert(rel).second;
  };
  ro.release = [raw](const std::string& rel) {
    {
      std::lock_guard lock(raw->mu);
      raw->inflight.erase(rel);
      raw->scan_soon = true;  // index what arrived
    }
    raw->scan_cv.notify_all();
  };
  impl->receiver = std::make_unique<sync::PushReceiver>(std::move(ro));
  impl->next_part_gc = Clock::now();
  return std::unique_ptr<DataService>(new DataService(std::move(impl)));
}

void DataService::Start() {
  Impl& s = *impl_;
  std::lock_guard lock(s.mu);
  if (s.started) return;
  s.started = true;
  log::Info("data: scans, hashing and transfers run at cpu priority " +
            std::string(CpuPriorityName(s.options.cpu_priority)) + " (" +
            std::to_string(s.options.max_concurrent_transfers) + " transfer workers)");
  s.scanner = std::thread([&s] { s.ScanLoop(); });
  for (int i = 0; i < s.options.max_concurrent_transfers; ++i) {
    s.workers.emplace_back([&s] { s.WorkLoop(); });
  }
}

void DataService::Stop() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mu);
    if (!s.started) return;
    s.started = false;
    s.stopping = true;
  }
  s.work_cv.notify_all();
  s.scan_cv.notify_all();
  s.scanner.join();
  for (auto& w : s.workers) w.join();
  s.workers.clear();
}

sync::PushReceiver* DataService::push_receiver() const { return impl_->receiver.get(); }

std::vector<std::string> DataService::CollectAbandonedParts() {
  return impl_->CollectAbandonedParts();
}

Result<SubmitResult> DataService::SubmitPushes(std::vector<PushSpec> pushes) {
  Impl& s = *impl_;
  for (const auto& p : pushes) {
    if (p.path.empty() || p.path.front() == '/' || p.path.find("..") != std::string::npos) {
      return InvalidArgument("bad path '" + p.path + "'");
    }
    if (!IsSha256(p.sha256)) return InvalidArgument(p.path + ": sha256 must be 64 hex digits");
    if (p.target_url.empty() || p.target_id.empty()) {
      return InvalidArgument(p.path + ": push without a target");
    }
    if (p.term == 0) return InvalidArgument(p.path + ": push without the leader's term");
  }
  SubmitResult out;
  std::lock_guard lock(s.mu);
  out.request_id = "s" + std::to_string(s.next_push_request++);
  // Small files travel together, by target (and term: one header per request).
  std::map<std::pair<std::string, uint64_t>, std::vector<PushSpec>> small;
  size_t n = 0;
  std::set<std::string> seen;
  for (auto& p : pushes) {
    if (s.pushing.count(PushKey(p)) || !seen.insert(PushKey(p)).second) {
      out.skipped++;
      continue;
    }
    out.queued++;
    if (p.size > s.options.push_batch_file_bytes) {
      s.EnqueuePushes({std::move(p)}, false, out.request_id + "." + std::to_string(++n));
      continue;
    }
    auto& group = small[{p.target_url, p.term}];
    group.push_back(std::move(p));
    if (group.size() == kMaxBatchFiles) {
      s.EnqueuePushes(std::move(group), true, out.request_id + "." + std::to_string(++n));
      group.clear();
    }
  }
  for (auto& [key, group] : small) {
    if (!group.empty()) {
      s.EnqueuePushes(std::move(group), true, out.request_id + "." + std::to_string(++n));
    }
  }
  s.work_cv.notify_all();
  return out;
}

std::vector<PushOutcome> DataService::TakePushOutcomes() {
  std::lock_guard lock(impl_->mu);
  std::vector<PushOutcome> out(impl_->outcomes.begin(), impl_->outcomes.end());
  impl_->outcomes.clear();
  return out;
}

std::vector<PushSpec> DataService::PendingPushes() const {
  std::lock_guard lock(impl_->mu);
  std::vector<PushSpec> out;
  for (const auto& job : impl_->queue) {
    out.insert(out.end(), job.pushes.begin(), job.pushes.end());
  }
  for (const auto& [id, specs] : impl_->running_pushes) {
    out.insert(out.end(), specs.begin(), specs.end());
  }
  return out;
}

void DataService::OnPushDone(std::function<void()> callback) {
  std::lock_guard lock(impl_->mu);
  impl_->on_push_done = std::move(callback);
}

inventory::Inventory* DataService::inventory() const { return impl_->inv.get(); }
const DataOptions& DataService::options() const { return impl_->options; }
const std::vector<inventory::FileClass>& DataService::classes() const { return impl_->classes; }

DataFigures DataService::Figures() const {
  sync::PushReceiverFigures received = impl_->receiver->Figures();  // before mu: lock order
  std::lock_guard lock(impl_->mu);
  DataFigures f = impl_->FiguresLocked();
  f.received_pushes = received;
  return f;
}

std::optional<DataFigures> DataService::TryFigures() const {
  // Without received_pushes: the scanner takes the receiver's lock too.
  std::unique_lock lock(impl_->mu, std::try_to_lock);
  if (!lock.owns_lock()) return std::nullopt;
  return impl_->FiguresLocked();
}

DataFigures DataService::Impl::FiguresLocked() const {
  DataFigures f = figures;
  f.transfers_queued = queue.size();
  f.transfers_active = active.size() - std::min(active.size(), f.transfers_queued);
  return f;
}

Result<SubmitResult> DataService::Submit(std::vector<PullSpec> files) {
  Impl& s = *impl_;
  for (const auto& f : files) RIFT_RETURN_IF_ERROR(s.Validate(f));
  std::vector<PullSpec> wanted;
  SubmitResult out;
  for (auto& f : files) {  // inventory reads outside mu
    if (s.AlreadyHeld(f)) {
      out.skipped++;
    } else {
      wanted.push_back(std::move(f));
    }
  }
  std::lock_guard lock(s.mu);
  out.request_id = "p" + std::to_string(s.next_request++);
  std::map<std::vector<std::string>, std::vector<PullSpec>> small;  // by sources
  size_t n = 0;
  for (auto& f : wanted) {
    if (!s.inflight.insert(f.path).second) {  // queued or running already (or twice here)
      out.skipped++;
      continue;
    }
    out.queued++;
    if (f.size > s.options.small_file_bytes) {
      s.Enqueue({std::move(f)}, false, out.request_id + "." + std::to_string(++n));
      continue;
    }
    auto& group = small[f.sources];
    group.push_back(std::move(f));
    if (group.size() == kMaxBatchFiles) {
      s.Enqueue(std::move(group), true, out.request_id + "." + std::to_string(++n));
      group.clear();
    }
  }
  for (auto& [sources, group] : small) {
    if (!group.empty())
      s.Enqueue(std::move(group), true, out.request_id + "." + std::to_string(++n));
  }
  s.work_cv.notify_all();
  return out;
}

std::vector<TransferInfo> DataService::Transfers() const {
  std::lock_guard lock(impl_->mu);
  std::vector<TransferInfo> out;
  for (const auto& [id, t] : impl_->active) out.push_back(t);
  out.insert(out.end(), impl_->history.begin(), impl_->history.end());
  return out;
}

void DataService::ScanSoon() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->scan_soon = true;
  }
  impl_->scan_cv.notify_all();
}

}  // namespace rift::datasvc
