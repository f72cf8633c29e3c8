#include "resilience/job_fallback.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "orchestrator/base/log.h"
#include "orchestrator/base/time.h"
#include "orchestrator/jobs/catalogue.h"
#include "orchestrator/jobs/process.h"

extern char** environ;  // NOLINT: POSIX

namespace rift::resilience {
namespace {

namespace fs = std::filesystem;
constexpr char kKind[] = "fallback_selfplay";
constexpr char kPrefix[] = "fallback-";

// Variables a job must not inherit: the cluster token, and systemd's notify socket.
bool Private(const std::string& key) {
  return key.find("TOKEN") != std::string::npos || key.rfind("NOTIFY_SOCKET", 0) == 0 ||
         key.rfind("WATCHDOG_", 0) == 0 || key.rfind("LISTEN_", 0) == 0;
}

// Job ids carry their slot: fallback-<slot>-<unix ms>.
int SlotOf(const std::string& id) {
  if (id.rfind(kPrefix, 0) != 0) return -1;
  return std::atoi(id.c_str() + sizeof kPrefix - 1);
}

class JobFallback : public FallbackJobs {
 public:
  JobFallback(JobFallbackOptions o, settings::JobKind kind)
      : o_(std::move(o)),
        kind_(std::move(kind)),
        runner_(jobs::RunnerOptions{o_.shim_path, std::chrono::milliseconds(10000)}),
        dir_(fs::path(o_.ringrift_dir) / "state" / "fallback") {
    if (o_.slots.empty()) o_.slots = {""};
  }

  int Running() override { return static_cast<int>(Scan().size()); }

  Status Start(int count) override {
    std::vector<bool> used(o_.slots.size(), false);
    for (const auto& j : Scan()) {
      if (j.slot >= 0 && j.slot < static_cast<int>(used.size())) used[j.slot] = true;
    }
    Status result = Status::Ok();
    for (size_t slot = 0; slot < used.size() && count > 0; ++slot) {
      if (used[slot]) continue;
      --count;
      if (Status st = Launch(static_cast<int>(slot)); !st.ok()) result = st;
    }
    return result;
  }

  void StopAll() override {
    std::vector<Job> jobs = Scan();
    for (const auto& j : jobs) {
      if (Status st = runner_.Stop(j.launched); !st.ok() && st.code() != Code::kNotFound) {
        log::Warn("fallback " + j.id + ": " + st.ToString());
      }
    }
    // The shims do SIGTERM then SIGKILL after the grace; wait for that, then make sure.
    const TimePoint deadline = Clock::now() + o_.jobs.stop_grace + seconds(5);
    while (!jobs.empty() && Clock::now() < deadline) {
      runner_.WaitForActivity(milliseconds(100));
      jobs = Scan();
    }
    for (const auto& j : jobs) runner_.Kill(j.launched);
    if (!jobs.empty()) Scan();
  }

 private:
  struct Job {
    std::string id;
    int slot = -1;
    jobs::Launched launched;
  };

  // Running jobs; finished ones are logged and their job dirs removed (their data stays).
  std::vector<Job> Scan() {
    std::vector<Job> running;
    std::error_code ec;
    if (!fs::is_directory(dir_, ec)) return running;
    for (const auto& entry : fs::directory_iterator(dir_, ec)) {
      const std::string id = entry.path().filename().string();
      const std::string job_dir = entry.path().string();
      auto started = jobs::ReadStarted(job_dir);
      jobs::ProcessRunner::Probe p;
      if (started) p = runner_.Check(job_dir, *started);
      if (started && (p.state == jobs::JobState::kRunning ||
                      p.state == jobs::JobState::kOrphaned)) {
        running.push_back({id, SlotOf(id), *started});
        continue;
      }
      if (!started && !jobs::ReadExit(job_dir)) {
        // Being launched right now (by us, in this thread, never), or a crash mid-launch:
        // leave a young one alone, forget an old one.
        auto age = fs::file_time_type::clock::now() - fs::last_write_time(entry.path(), ec);
        if (!ec && age < std::chrono::minutes(1)) continue;
      }
      std::string how = "ended";
      if (p.state == jobs::JobState::kExited || jobs::ReadExit(job_dir)) {
        jobs::ExitRecord e = p.state == jobs::JobState::kExited
                                 ? p.exit
                                 : jobs::ReadExit(job_dir).value_or(jobs::ExitRecord{});
        if (e.exit_code) how = "exited with code " + std::to_string(*e.exit_code);
        if (e.signal) how = "ended by signal " + std::to_string(*e.signal);
        if (!e.error.empty()) how += " (" + e.error + ")";
      }
      log::Info("fallback " + id + " " + how + "; log tail: " +
                jobs::ReadLogTail(job_dir, 300));
      fs::remove_all(entry.path(), ec);
    }
    return running;
  }

  std::vector<std::string> Env(const jobs::Command& cmd, const std::string& id,
                               const std::string& gpu) const {
    std::map<std::string, std::string> m;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::string kv(*e);
      auto eq = kv.find('=');
      if (eq != std::string::npos && !Private(kv.substr(0, eq))) {
        m[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
    }
    for (const auto& [k, v] : cmd.env) m[k] = v;
    m["RINGRIFT_JOB_ID"] = id;
    m["RINGRIFT_JOB_KIND"] = kKind;
    m["RINGRIFT_NODE_ID"] = o_.node_id;
    m["RINGRIFT_OUT_DIR"] = cmd.out_dir_abs;
    if (!gpu.empty() && gpu != "mps") m["CUDA_VISIBLE_DEVICES"] = gpu;
    std::vector<std::string> env;
    for (const auto& [k, v] : m) env.push_back(k + "=" + v);
    return env;
  }

  Status Launch(int slot) {
    const std::string gpu = o_.slots[static_cast<size_t>(slot)];
    const std::string id =
        kPrefix + std::to_string(slot) + "-" + std::to_string(RealTime().WallMillis());
    const std::string data_root = (fs::path(o_.ringrift_dir) / "data").string();
    jobs::CommandContext ctx{o_.node_id,
                             id,
                             o_.ringrift_dir,
                             data_root,
                             (fs::path(data_root) / "models").string(),
                             o_.bin_dir,
                             gpu};
    RIFT_ASSIGN_OR_RETURN(jobs::Command cmd, jobs::BuildCommand(kind_, {}, ctx, rng_()));
    std::error_code ec;
    fs::create_directories(cmd.out_dir_abs, ec);
    if (ec) return Internal("cannot create " + cmd.out_dir_abs + ": " + ec.message());
    jobs::LaunchSpec spec;
    spec.argv = cmd.argv;
    spec.env = Env(cmd, id, gpu);
    spec.cwd = cmd.cwd;
    spec.job_dir = (dir_ / id).string();
    spec.log_cap_bytes = o_.jobs.log_cap_bytes;
    spec.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(kind_.timeout);
    spec.grace = std::chrono::duration_cast<std::chrono::milliseconds>(o_.jobs.stop_grace);
    auto launched = runner_.Launch(spec);
    if (!launched.ok()) {
      fs::remove_all(spec.job_dir, ec);
      return launched.status();
    }
    log::Info("fallback " + id + " started (pid " + std::to_string(launched->job.pid) + ", " +
              (gpu.empty() ? std::string("CPU") : "GPU " + gpu) + ") writing " + cmd.out_dir);
    return Status::Ok();
  }

  JobFallbackOptions o_;
  settings::JobKind kind_;
  jobs::ProcessRunner runner_;
  fs::path dir_;
  std::mt19937_64 rng_{std::random_device{}()};
};

}  // namespace

Result<std::unique_ptr<FallbackJobs>> MakeJobFallback(JobFallbackOptions options) {
  const auto kinds = jobs::MergeCatalogue(options.jobs.catalogue);
  auto it = std::find_if(kinds.begin(), kinds.end(),
                         [](const settings::JobKind& k) { return k.name == kKind; });
  if (it == kinds.end()) return InvalidArgument("the job catalogue has no kind fallback_selfplay");
  if (it->argv.empty()) return InvalidArgument("fallback_selfplay: empty argv");
  settings::JobKind kind = *it;
  // Fallback games go where the data plane syncs selfplay, whatever the kind leaves unsaid.
  if (kind.out_dir.empty()) kind.out_dir = "selfplay/fallback/{node}/{job_id}";
  return std::unique_ptr<FallbackJobs>(new JobFallback(std::move(options), std::move(kind)));
}

}  // namespace rift::resilience
