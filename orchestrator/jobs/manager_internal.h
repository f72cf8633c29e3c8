#pragma once
// The JobManager's state, shared by manager.cc (the API side) and manager_monitor.cc (the monitor
// thread). Not a public header.
#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "orchestrator/base/time.h"
#include "orchestrator/jobs/catalogue.h"
#include "orchestrator/jobs/job_store.h"
#include "orchestrator/jobs/manager.h"

namespace rift::jobs {
namespace internal {

// After the grace, the shim kills the group itself; the monitor only steps in when it cannot.
inline constexpr auto kKillMargin = std::chrono::seconds(3);

int64_t NowMs();
std::string Join(const std::vector<std::string>& v, const char* sep);

}  // namespace internal

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

  const settings::JobKind* FindKind(const std::string& name) const;
  std::string KnownKinds() const;
  std::string NewIdLocked();
  bool WaitForGpus();
  int ActiveLocked(const std::string& kind = "") const;
  Result<std::vector<std::string>> AssignGpusLocked(const settings::JobKind& kind) const;
  std::vector<std::string> JobEnv(const JobRecord& rec, const Command& cmd) const;
  void Persist(const JobRecord& rec);
  void SealOutputs(const JobRecord& rec);
  void Finalize(const std::string& id, const ExitRecord* e, const std::string& lost_reason);
  // One pass over the unfinished jobs: exits, stop deadlines, re-adoption of earlier daemons'.
  void Poll();
  void Retain();
  void MonitorLoop();

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
};

}  // namespace rift::jobs
