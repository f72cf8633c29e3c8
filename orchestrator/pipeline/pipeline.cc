// RunPipeline: run bookkeeping, retries, detached steps, verified transfers. The phases
// themselves are in phases_data.cc and phases_model.cc.
#include "orchestrator/pipeline/pipeline.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <thread>

#include "orchestrator/pipeline/driver.h"
#include "orchestrator/pipeline/steps.h"
#include "orchestrator/pipeline/hashing.h"

namespace rift::pipeline {
namespace internal {
namespace {

namespace fs = std::filesystem;

std::string NewRunId(int64_t wall_ms) {
  std::time_t t = static_cast<std::time_t>(wall_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "-%04x",
                static_cast<unsigned>((wall_ms ^ (static_cast<int64_t>(getpid()) << 7)) & 0xffff));
  return std::string(buf) + suffix;
}

uint32_t Fnv1a(const std::string& s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

Status FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Internal("cannot open " + dir + ": " + std::strerror(errno));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Internal("cannot fsync " + dir + ": " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace

std::string ExitSummary(int exit_code, const std::string& err) {
  std::string line(LastLine(err));
  if (line.size() > 300) line = line.substr(line.size() - 300);
  return "exit " + std::to_string(exit_code) + (line.empty() ? "" : ": " + line);
}

Remote& Driver::RemoteFor(const HostSpec& host) {
  auto& slot = remotes_[host.id];
  if (!slot) slot = factory_(host);
  return *slot;
}

Status Driver::Save() {
  state_.updated_ms = time_.WallMillis();
  last_save_ = time_.Now();
  return SaveState(config_.state_file, state_);
}

Status Driver::SaveSoon() {
  if (time_.Now() - last_save_ < seconds(1)) return Status::Ok();
  return Save();
}

void Driver::HostUpdate(const std::string& host, const std::string& text) {
  progress_.Host(current_phase_, host, text);
}

Result<std::string> Driver::Check(const HostSpec& host, const std::string& what,
                                  const std::string& script) {
  auto r =
      Retry(host, what, [&](Remote& remote) { return remote.Exec(script, config_.exec_timeout); });
  if (!r.ok()) return r.status();
  if (r->exit_code != 0) {
    return Internal(host.id + ": " + what + " failed (" + ExitSummary(r->exit_code, r->err) + ")");
  }
  return std::move(r->out);
}

Vars Driver::VarsFor(const HostSpec& host, const std::string& step, int attempt) const {
  const std::string seed_key =
      state_.run_id + "/" + host.id + "/" + step + "/" + std::to_string(attempt);
  Vars v = {{"host", host.id},
            {"ringrift_path", host.ringrift_path},
            {"bin_dir", host.bin_dir},
            {"run_id", state_.run_id},
            {"seed", std::to_string(Fnv1a(seed_key) & 0x7fffffff)},
            {"models_dir", ModelsDir(host)},
            {"current_model", ModelsDir(host) + "/current.model"},
            {"games", std::to_string(state_.games)},
            {"out_dir", OutDir(host)},
            {"data_dir", DataDir(host)},
            {"candidate", CandidatePath(host)},
            {"eval_games", std::to_string(config_.eval_games)}};
  return v;
}

std::string Driver::StepDir(const HostSpec& host, const std::string& step, int attempt) const {
  return host.ringrift_path + "/pipeline/steps/" + state_.run_id + "/" + step + "-" +
         std::to_string(attempt);
}

std::string Driver::DataDir(const HostSpec& host) const {
  return host.ringrift_path + "/pipeline/pulled";
}

std::string Driver::CandidatePath(const HostSpec& host) const {
  return host.ringrift_path + "/pipeline/candidates/" + state_.run_id + ".model";
}

Result<LaunchReply> Driver::Launch(const HostSpec& host, const std::string& step, int attempt,
                                   const std::string& command) {
  const std::string script =
      LaunchScript(StepDir(host, step, attempt), host.ringrift_path, command);
  // Safe to retry: only the first launch that creates the step's marker starts anything.
  RIFT_ASSIGN_OR_RETURN(std::string out, Check(host, "starting " + step, script));
  return ParseLaunch(out);
}

Result<Probe> Driver::ProbeStep(const HostSpec& host, const std::string& step, int attempt,
                                const std::string& games_dir) {
  RIFT_ASSIGN_OR_RETURN(
      std::string out,
      Check(host, "checking " + step, ProbeScript(StepDir(host, step, attempt), games_dir)));
  return ParseProbe(out);
}

Result<StepOutput> Driver::ReadOutput(const HostSpec& host, const std::string& step, int attempt) {
  RIFT_ASSIGN_OR_RETURN(std::string out, Check(host, "reading the output of " + step,
                                               OutputScript(StepDir(host, step, attempt),
                                                            /*lines=*/200, /*bytes=*/4000)));
  return ParseOutput(out);
}

Result<StepResult> Driver::RunStep(const HostSpec& host, const std::string& step, int attempt,
                                   const std::string& command, Duration timeout) {
  RIFT_ASSIGN_OR_RETURN(LaunchReply launch, Launch(host, step, attempt, command));
  HostUpdate(host.id, std::string(launch.fresh ? "started" : "attached to") + " " + step +
                          " (pid " + std::to_string(launch.pid) + ")");
  const TimePoint deadline = time_.Now() + timeout;
  const TimePoint started = time_.Now();
  while (true) {
    RIFT_ASSIGN_OR_RETURN(Probe probe, ProbeStep(host, step, attempt, ""));
    if (probe.exit_code || probe.lost()) {
      RIFT_ASSIGN_OR_RETURN(StepOutput output, ReadOutput(host, step, attempt));
      if (!probe.exit_code) {
        return Internal(host.id + ": " + step + " stopped without an exit status (killed, or " +
                        "the host restarted)" +
                        (output.err_tail.empty() ? "" : ": " + std::string(LastLine(output.err_tail))));
      }
      StepResult r;
      r.exit_code = *probe.exit_code;
      r.result_line = LastJsonLine(output.out_tail);
      r.output = std::move(output);
      return r;
    }
    if (time_.Now() >= deadline) {
      auto killed =
          Check(host, "stopping " + step, KillScript(StepDir(host, step, attempt), /*grace_s=*/5));
      return DeadlineExceeded(
          host.id + ": " + step + " did not finish within " +
          std::to_string(ToMillis(timeout) / 1000) + " s" +
          (killed.ok() ? "; stopped it" : "; could not stop it: " + killed.status().message()));
    }
    HostUpdate(host.id, step + " running (" +
                            std::to_string(ToMillis(time_.Now() - started) / 1000) + " s)");
    waiter_.Sleep(config_.poll_interval);
  }
}

Result<std::map<std::string, std::string>> Driver::RemoteSha256(
    const HostSpec& host, const std::vector<std::string>& paths) {
  std::map<std::string, std::string> all;
  constexpr size_t kBatch = 200;  // keeps each command line well under ARG_MAX
  for (size_t i = 0; i < paths.size(); i += kBatch) {
    std::vector<std::string> batch(
        paths.begin() + static_cast<std::ptrdiff_t>(i),
        paths.begin() + static_cast<std::ptrdiff_t>(std::min(paths.size(), i + kBatch)));
    RIFT_ASSIGN_OR_RETURN(std::string out, Check(host, "hashing", Sha256Script(batch)));
    RIFT_ASSIGN_OR_RETURN(auto part, ParseSha256(out));
    all.insert(part.begin(), part.end());
  }
  return all;
}

Status Driver::PutVerified(const HostSpec& host, const std::string& local,
                           const std::string& remote, const std::string& sha256) {
  const std::string part = remote + ".part-" + state_.run_id;
  auto sent =
      Retry(host, "uploading " + remote, [&](Remote& r) { return r.Upload(local, part, nullptr); });
  if (!sent.ok()) return sent.status();
  if (sent->sha256 != sha256) {
    return Internal("local file " + local + " changed while uploading (expected " + sha256 +
                    ", read " + sent->sha256 + ")");
  }
  RIFT_ASSIGN_OR_RETURN(std::string out, Check(host, "verifying " + remote,
                                               VerifyRenameScript(part, remote, sha256)));
  if (LastLine(out) != "ok") {
    return Internal(host.id + ": " + remote + " arrived corrupted (" + std::string(LastLine(out)) +
                    ", expected " + sha256 + "); removed");
  }
  return Status::Ok();
}

Result<Transferred> Driver::GetVerified(const HostSpec& host, const std::string& remote,
                                        const std::string& local, const std::string& sha256) {
  const std::string part = local + ".part";
  auto got = Retry(host, "downloading " + remote,
                   [&](Remote& r) { return r.Download(remote, part, nullptr); });
  std::error_code ec;
  if (!got.ok()) {
    fs::remove(part, ec);
    return got.status();
  }
  if (got->sha256 != sha256) {
    fs::remove(part, ec);
    return Internal(host.id + ": " + remote + " arrived corrupted (sha256 " + got->sha256 +
                    ", the host says " + sha256 + ")");
  }
  fs::rename(part, local, ec);
  if (ec) return Internal("cannot rename " + part + ": " + ec.message());
  RIFT_RETURN_IF_ERROR(FsyncDir(fs::path(local).parent_path().string()));
  return got;
}

Result<RunState> Driver::NewRun(const std::optional<RunState>& previous) {
  RunState s;
  s.created_ms = time_.WallMillis();
  s.run_id = NewRunId(s.created_ms);
  s.games = config_.games;
  for (const auto& h : config_.hosts) s.hosts.push_back(h.id);
  s.training_host = config_.trainer.id;
  if (previous) s.pulled = previous->pulled;  // hashes of files already in the store
  for (const auto& name : PhaseNames()) s.phases[name] = PhaseState{};
  return s;
}

Status Driver::RunPhase(const std::string& name) {
  current_phase_ = name;
  PhaseState& p = phase();
  // Single-step phases re-attach to a step that may still be running; anything else that ran
  // before gets a fresh attempt (a new step directory).
  const bool reattach = p.attempt > 0 && (p.status == kRunning ||
                                          (p.status == kFailed && p.error_code == "UNAVAILABLE"));
  if (!reattach) ++p.attempt;
  p.status = kRunning;
  p.started_ms = time_.WallMillis();
  p.ended_ms = 0;
  p.error.clear();
  p.error_code.clear();
  p.detail.clear();
  RIFT_RETURN_IF_ERROR(Save());
  std::vector<std::string> hosts = state_.hosts;
  if (name == "train" || name == "eval" || name == "promote") hosts = {state_.training_host};
  progress_.PhaseStart(name, hosts);

  Status st;
  if (name == "selfplay")
    st = Selfplay();
  else if (name == "wait")
    st = Wait();
  else if (name == "pull")
    st = Pull();
  else if (name == "train")
    st = Train();
  else if (name == "eval")
    st = Eval();
  else if (name == "promote")
    st = Promote();
  else
    st = Push();

  PhaseState& q = phase();
  q.ended_ms = time_.WallMillis();
  if (st.ok()) {
    if (q.status != kSkipped) q.status = kDone;
  } else {
    q.status = kFailed;
    q.error = st.message();
    q.error_code = std::string(CodeName(st.code()));
  }
  Status saved = Save();
  progress_.PhaseEnd(name, q.status, st.ok() ? q.detail : q.error);
  if (!st.ok()) return st;
  return saved;
}

Result<RunReport> Driver::Run() {
  if (!options_.phase.empty() && !IsPhase(options_.phase)) {
    std::string names;
    for (const auto& n : PhaseNames()) names += (names.empty() ? "" : ", ") + n;
    return InvalidArgument("unknown phase '" + options_.phase + "' (phases: " + names + ")");
  }
  if (options_.resume && options_.fresh) {
    return InvalidArgument("--resume and --fresh contradict each other");
  }
  RIFT_ASSIGN_OR_RETURN(StateLock lock, StateLock::Acquire(config_.state_file));
  RIFT_ASSIGN_OR_RETURN(std::optional<RunState> previous, LoadState(config_.state_file));

  const bool unfinished = previous && !previous->completed;
  if (unfinished && !options_.resume && !options_.fresh && options_.phase.empty()) {
    return FailedPrecondition("run " + previous->run_id + " in " + config_.state_file +
                              " is unfinished (next phase: " + previous->NextPhase() +
                              "); pass --resume to continue it or --fresh to start a new run");
  }
  const bool keep = previous && !options_.fresh && (options_.resume || !options_.phase.empty());
  RunReport report;
  if (keep) {
    state_ = *previous;
    std::string missing;
    for (const auto& id : state_.hosts) {
      if (config_.FindHost(id) == nullptr) missing += (missing.empty() ? "" : ", ") + id;
    }
    if (config_.FindHost(state_.training_host) == nullptr) {
      missing += (missing.empty() ? "" : ", ") + state_.training_host + " (training)";
    }
    if (!missing.empty()) {
      return FailedPrecondition("run " + state_.run_id + " uses hosts that are no longer ready: " +
                                missing + "; pass --fresh to start a new run");
    }
  } else {
    RIFT_ASSIGN_OR_RETURN(state_, NewRun(previous));
  }
  state_.completed = false;
  RIFT_RETURN_IF_ERROR(Save());

  for (const auto& name : PhaseNames()) {
    if (!options_.phase.empty() && name != options_.phase) continue;
    const PhaseState& p = state_.Phase(name);
    if (options_.phase.empty() && (p.status == kDone || p.status == kSkipped)) {
      report.skipped.push_back(name);
      progress_.Note(name + ": already " + p.status +
                     (p.detail.empty() ? "" : " (" + p.detail + ")"));
      continue;
    }
    report.ran.push_back(name);
    Status st = RunPhase(name);
    if (!st.ok()) return st;
  }
  state_.completed = state_.NextPhase().empty();
  RIFT_RETURN_IF_ERROR(Save());
  report.state = state_;
  return report;
}

}  // namespace internal

class RealWaiterImpl : public Waiter {
 public:
  void Sleep(Duration d) override { std::this_thread::sleep_for(d); }
};

Waiter& RealWaiter() {
  static RealWaiterImpl waiter;
  return waiter;
}

std::string LocalStoreDir(const Config& config) {
  return config.local.ringrift_path + "/pipeline/pulled";
}

Result<RunReport> RunPipeline(const Config& config, const RunOptions& options,
                              const RemoteFactory& factory, Progress& progress, Waiter& waiter,
                              TimeSource& time) {
  internal::Driver driver(config, options, factory, progress, waiter, time);
  return driver.Run();
}

}  // namespace rift::pipeline
