// Phases that produce and collect data: selfplay, wait, pull.
#include <filesystem>

#include "orchestrator/pipeline/driver.h"
#include "orchestrator/pipeline/hashing.h"

namespace rift::pipeline::internal {
namespace {

namespace fs = std::filesystem;

bool Retryable(const Status& st) { return st.code() == Code::kUnavailable; }

// Selfplay was launched on the host in this run (so it may hold this run's data).
bool Started(const HostStep& hs) {
  return hs.pid != 0 || hs.status == kRunning || hs.status == kDone;
}

void MarkFailed(HostStep* hs, const Status& st) {
  hs->status = kFailed;
  hs->error = st.message();
  hs->error_code = std::string(CodeName(st.code()));
}

}  // namespace

Status Driver::Selfplay() {
  PhaseState& p = phase();
  std::vector<std::string> unreachable;
  Status refused;
  int launched = 0;
  for (const auto& id : state_.hosts) {
    const HostSpec& host = *config_.FindHost(id);
    HostStep& hs = p.hosts[id];
    if (hs.status == kRunning || hs.status == kDone) {
      // Started by an earlier call of this run: the step is detached, nothing to do.
      ++launched;
      HostUpdate(id, "already started (pid " + std::to_string(hs.pid) + ")");
      continue;
    }
    // A launch that may have got through (interrupted, or a transport error) is repeated in
    // the same step directory, where the marker makes it idempotent; a selfplay that ended
    // badly gets a fresh directory.
    if (hs.attempt == 0 || (hs.status == kFailed && hs.error_code != "UNAVAILABLE")) {
      ++hs.attempt;
    }
    hs.status = kStarting;
    hs.error.clear();
    hs.error_code.clear();
    RIFT_RETURN_IF_ERROR(Save());
    auto cmd = Expand(config_.commands.at("selfplay"), VarsFor(host, "selfplay", hs.attempt), true);
    if (!cmd.ok()) return cmd.status();
    HostUpdate(id, "starting selfplay (" + std::to_string(state_.games) + " games)");
    auto r = Launch(host, "selfplay", hs.attempt, *cmd);
    if (!r.ok()) {
      MarkFailed(&hs, r.status());
      HostUpdate(id, "failed: " + r.status().message());
      if (Retryable(r.status())) {
        unreachable.push_back(id);
      } else if (refused.ok()) {
        refused = r.status();
      }
      RIFT_RETURN_IF_ERROR(Save());
      continue;
    }
    hs.status = kRunning;
    hs.pid = r->pid;
    hs.detail =
        std::string(r->fresh ? "started" : "attached to") + " pid " + std::to_string(r->pid);
    HostUpdate(id, hs.detail);
    ++launched;
    RIFT_RETURN_IF_ERROR(Save());
  }
  // A refused host key or login stops the run: the operator has to look at it.
  if (!refused.ok()) return refused;
  if (launched == 0) {
    return Unavailable("selfplay could not start on any host (" +
                       std::to_string(unreachable.size()) + " unreachable)");
  }
  if (state_.target_games == 0) {
    state_.target_games =
        config_.min_games > 0 ? config_.min_games : int64_t{state_.games} * launched;
  }
  p.detail = "started on " + std::to_string(launched) + " of " +
             std::to_string(state_.hosts.size()) + " hosts";
  if (!unreachable.empty()) {
    std::string list;
    for (const auto& id : unreachable) list += (list.empty() ? "" : ", ") + id;
    p.detail += " (unreachable: " + list + ")";
  }
  return Status::Ok();
}

Status Driver::Wait() {
  PhaseState& self = state_.Phase("selfplay");
  const Duration timeout = config_.timeouts.at("selfplay");
  const TimePoint deadline = time_.Now() + timeout;
  while (true) {
    int64_t total = 0;
    bool all_ended = true;
    for (const auto& id : state_.hosts) {
      HostStep& hs = self.hosts[id];
      if (hs.status != kRunning) {
        total += hs.games;  // finished, failed (it may have written some) or never started
        continue;
      }
      const HostSpec& host = *config_.FindHost(id);
      auto probe = ProbeStep(host, "selfplay", hs.attempt, OutDir(host));
      if (!probe.ok()) {
        if (!Retryable(probe.status())) return probe.status();
        all_ended = false;
        total += hs.games;
        HostUpdate(id, std::to_string(hs.games) +
                           " games (unreachable: " + probe.status().message() + ")");
        continue;
      }
      if (probe->games) hs.games = *probe->games;
      total += hs.games;
      std::string text = std::to_string(hs.games) + " games";
      if (probe->exit_code && *probe->exit_code == 0) {
        hs.status = kDone;
        hs.detail = text + ", finished";
      } else if (probe->exit_code || probe->lost() || !probe->launched) {
        auto out = ReadOutput(host, "selfplay", hs.attempt);
        std::string why = probe->exit_code
                              ? ExitSummary(*probe->exit_code, out.ok() ? out->err_tail : "")
                              : std::string("stopped without an exit status");
        MarkFailed(&hs, Internal(id + ": selfplay " + why));
        hs.detail = text;
      } else {
        all_ended = false;
        hs.detail = text + ", running";
      }
      HostUpdate(id, hs.status == kFailed ? text + ", failed: " + hs.error : hs.detail);
    }
    RIFT_RETURN_IF_ERROR(SaveSoon());
    if (total >= state_.target_games) {
      phase().detail =
          std::to_string(total) + " games (target " + std::to_string(state_.target_games) + ")";
      return Status::Ok();
    }
    if (all_ended) {
      // Not enough games and nothing still running: the failed hosts start again on --resume.
      std::string failed;
      for (auto& [id, hs] : self.hosts) {
        if (hs.status == kFailed) failed += (failed.empty() ? "" : "; ") + hs.error;
      }
      self.status = kFailed;
      self.error = "selfplay ended with too few games";
      return FailedPrecondition("selfplay ended with " + std::to_string(total) + " of " +
                                std::to_string(state_.target_games) + " games" +
                                (failed.empty() ? "" : " (" + failed + ")") +
                                "; --resume starts it again where it failed");
    }
    if (time_.Now() >= deadline) {
      return DeadlineExceeded("only " + std::to_string(total) + " of " +
                              std::to_string(state_.target_games) + " games after " +
                              std::to_string(ToMillis(timeout) / 1000) +
                              " s; selfplay keeps running, --resume waits again");
    }
    waiter_.Sleep(config_.poll_interval);
  }
}

Status Driver::Pull() {
  PhaseState& p = phase();
  const PhaseState& self = state_.Phase("selfplay");
  const std::string store = LocalStoreDir(config_);
  uint64_t new_files = 0, new_records = 0, new_bytes = 0, seen = 0;
  Status first_error;
  // The hosts that played in this run; every host when selfplay did not run (`--phase pull`
  // on its own collects whatever the hosts hold).
  const bool played = self.status != kPending;
  for (const auto& id : state_.hosts) {
    auto it = self.hosts.find(id);
    if (played && (it == self.hosts.end() || !Started(it->second))) continue;
    const HostSpec& host = *config_.FindHost(id);
    HostStep& hs = p.hosts[id];
    hs.status = kRunning;
    hs.error.clear();
    hs.error_code.clear();
    Status st = [&]() -> Status {
      HostUpdate(id, "listing " + host.selfplay_dir);
      auto files =
          Retry(host, "listing", [&](Remote& r) { return r.List(host.selfplay_dir, ".jsonl"); });
      if (!files.ok()) return files.status();
      // Hash on the host only what has not been hashed before at this size and mtime.
      std::vector<std::string> unknown;
      for (const auto& f : *files) {
        auto known = state_.pulled.find(id + ":" + f.path);
        if (known == state_.pulled.end() || known->second.bytes != f.size ||
            known->second.mtime != f.mtime) {
          unknown.push_back(f.path);
        }
      }
      RIFT_ASSIGN_OR_RETURN(auto hashes, RemoteSha256(host, unknown));
      uint64_t host_new = 0, done = 0;
      for (const auto& f : *files) {
        ++done;
        const std::string key = id + ":" + f.path;
        auto h = hashes.find(f.path);
        if (h != hashes.end()) {
          state_.pulled[key] = PulledFile{h->second, f.size, 0, f.mtime, state_.run_id};
        }
        auto entry = state_.pulled.find(key);
        if (entry == state_.pulled.end()) continue;  // vanished between listing and hashing
        PulledFile& pf = entry->second;
        const std::string dest = store + "/" + pf.sha256.substr(0, 2) + "/" + pf.sha256 + ".jsonl";
        std::error_code ec;
        if (fs::exists(dest, ec)) {
          if (pf.records == 0) {
            auto local = HashFile(dest);
            if (local.ok()) pf.records = local->lines;
          }
          continue;  // same content already stored: never a second copy
        }
        HostUpdate(id, "pulling " + std::to_string(done) + "/" + std::to_string(files->size()) +
                           ": " + fs::path(f.path).filename().string());
        RIFT_ASSIGN_OR_RETURN(Transferred t, GetVerified(host, f.path, dest, pf.sha256));
        pf.records = t.lines;
        ++host_new;
        ++new_files;
        new_records += t.lines;
        new_bytes += t.bytes;
        RIFT_RETURN_IF_ERROR(SaveSoon());
      }
      seen += files->size();
      hs.detail = std::to_string(files->size()) + " files, " + std::to_string(host_new) + " new";
      return Status::Ok();
    }();
    if (st.ok()) {
      hs.status = kDone;
      HostUpdate(id, hs.detail);
    } else {
      MarkFailed(&hs, st);
      HostUpdate(id, "failed: " + st.message());
      if (first_error.ok()) first_error = st;
    }
    RIFT_RETURN_IF_ERROR(Save());
  }
  if (!first_error.ok()) return first_error;
  p.detail = std::to_string(new_files) + " new files (" + std::to_string(new_records) +
             " records, " + std::to_string(new_bytes) + " bytes) of " + std::to_string(seen) +
             " seen";
  return Status::Ok();
}

}  // namespace rift::pipeline::internal
