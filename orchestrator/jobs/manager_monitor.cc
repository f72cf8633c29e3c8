// The JobManager's monitor thread: exits, stop deadlines, re-adoption, results, sealing,
// retention.
#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "orchestrator/base/log.h"
#include "orchestrator/jobs/manager_internal.h"

namespace rift::jobs {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using internal::kKillMargin;
using internal::NowMs;

constexpr uint64_t kResultTailBytes = 64 << 10;
constexpr auto kRetentionInterval = std::chrono::seconds(60);

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

void JobManager::Impl::SealOutputs(const JobRecord& rec) {
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

void JobManager::Impl::Finalize(const std::string& id, const ExitRecord* e, const std::string& lost_reason) {
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
void JobManager::Impl::Poll() {
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

void JobManager::Impl::Retain() {
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

void JobManager::Impl::MonitorLoop() {
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

}  // namespace rift::jobs
