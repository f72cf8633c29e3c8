#include "orchestrator/datasvc/data_service.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "orchestrator/base/log.h"
#include "orchestrator/base/time.h"
#include "orchestrator/sync/transfer_client.h"

namespace rift::datasvc {
namespace {

constexpr size_t kMaxBatchFiles = 1000;

bool IsSha256(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

int64_t NowMs() { return RealTime().WallMillis(); }

struct Job {
  std::string id;
  std::vector<PullSpec> files;
  bool batch = false;
};

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
  std::set<std::string> inflight;              // paths queued or running
  DataFigures figures;
  uint64_t next_request = 1;
  std::thread scanner;
  std::vector<std::thread> workers;

  void ScanLoop() {
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

  // Runs one job (no lock held); fills the outcome into `t`.
  void Run(const Job& job, TransferInfo* t) {
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

  void WorkLoop() {
    std::unique_lock lock(mu);
    while (true) {
      work_cv.wait(lock, [this] { return stopping || !queue.empty(); });
      if (stopping) return;
      Job job = std::move(queue.front());
      queue.pop_front();
      TransferInfo t = active[job.id];
      t.state = "running";
      t.started_ms = NowMs();
      active[job.id] = t;
      lock.unlock();
      Run(job, &t);
      lock.lock();
      Finish(job, std::move(t));
    }
  }

  void Finish(const Job& job, TransferInfo t) {  // mu held
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
    if (t.state == "done") t.rate_bytes_per_sec = t.bytes_received / secs;
    for (const auto& f : job.files) inflight.erase(f.path);
    (t.state == "done" ? figures.transfers_done : figures.transfers_failed)++;
    figures.bytes_received += t.bytes_received;
    figures.bytes_resumed += t.bytes_resumed;
    if (!t.error.empty()) log::Warn("transfer " + t.id + " (" + t.path + "): " + t.error);
    scan_soon = true;  // refresh the figures with what arrived
    scan_cv.notify_all();
    history.push_front(std::move(t));
    while (history.size() > options.history) history.pop_back();
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
    queue.push_back(Job{id, std::move(files), batch});
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
  impl->options = std::move(options);
  return std::unique_ptr<DataService>(new DataService(std::move(impl)));
}

void DataService::Start() {
  Impl& s = *impl_;
  std::lock_guard lock(s.mu);
  if (s.started) return;
  s.started = true;
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

inventory::Inventory* DataService::inventory() const { return impl_->inv.get(); }
const DataOptions& DataService::options() const { return impl_->options; }
const std::vector<inventory::FileClass>& DataService::classes() const { return impl_->classes; }

DataFigures DataService::Figures() const {
  std::lock_guard lock(impl_->mu);
  DataFigures f = impl_->figures;
  f.transfers_queued = impl_->queue.size();
  f.transfers_active = impl_->active.size() - std::min(impl_->active.size(), f.transfers_queued);
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
