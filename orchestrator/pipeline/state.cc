#include "orchestrator/pipeline/state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace rift::pipeline {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

json ToJson(const HostStep& h) {
  return {{"status", h.status},        {"attempt", h.attempt}, {"pid", h.pid},
          {"games", h.games},          {"detail", h.detail},   {"error", h.error},
          {"error_code", h.error_code}};
}

json ToJson(const PhaseState& p) {
  json hosts = json::object();
  for (const auto& [id, h] : p.hosts) hosts[id] = ToJson(h);
  return {{"status", p.status},         {"attempt", p.attempt},     {"started_ms", p.started_ms},
          {"ended_ms", p.ended_ms},     {"detail", p.detail},       {"error", p.error},
          {"error_code", p.error_code}, {"hosts", std::move(hosts)}};
}

HostStep HostFrom(const json& j) {
  HostStep h;
  h.status = j.value("status", std::string(kPending));
  h.attempt = j.value("attempt", 0);
  h.pid = j.value("pid", int64_t{0});
  h.games = j.value("games", int64_t{0});
  h.detail = j.value("detail", "");
  h.error = j.value("error", "");
  h.error_code = j.value("error_code", "");
  return h;
}

PhaseState PhaseFrom(const json& j) {
  PhaseState p;
  p.status = j.value("status", std::string(kPending));
  p.attempt = j.value("attempt", 0);
  p.started_ms = j.value("started_ms", int64_t{0});
  p.ended_ms = j.value("ended_ms", int64_t{0});
  p.detail = j.value("detail", "");
  p.error = j.value("error", "");
  p.error_code = j.value("error_code", "");
  const json hosts = j.value("hosts", json::object());  // items() must not outlive its json
  for (const auto& [id, h] : hosts.items()) p.hosts[id] = HostFrom(h);
  return p;
}

Status FsyncDir(const fs::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Internal("cannot open " + dir.string() + ": " + std::strerror(errno));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Internal("cannot fsync " + dir.string() + ": " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace

bool IsPhase(std::string_view name) {
  const auto& names = PhaseNames();
  return std::find(names.begin(), names.end(), name) != names.end();
}

const PhaseState* RunState::FindPhase(const std::string& name) const {
  auto it = phases.find(name);
  return it == phases.end() ? nullptr : &it->second;
}

std::string RunState::NextPhase() const {
  for (const auto& name : PhaseNames()) {
    const PhaseState* p = FindPhase(name);
    if (p == nullptr || (p->status != kDone && p->status != kSkipped)) return name;
  }
  return "";
}

std::string EncodeState(const RunState& s) {
  json phases = json::object();
  for (const auto& [name, p] : s.phases) phases[name] = ToJson(p);
  json pulled = json::object();
  for (const auto& [key, f] : s.pulled) {
    pulled[key] = {{"sha256", f.sha256},
                   {"bytes", f.bytes},
                   {"records", f.records},
                   {"mtime", f.mtime},
                   {"run_id", f.run_id}};
  }
  json j = {{"version", s.version},
            {"run_id", s.run_id},
            {"created_ms", s.created_ms},
            {"updated_ms", s.updated_ms},
            {"completed", s.completed},
            {"games", s.games},
            {"target_games", s.target_games},
            {"hosts", s.hosts},
            {"training_host", s.training_host},
            {"phases", std::move(phases)},
            {"pulled", std::move(pulled)},
            {"candidate_sha", s.candidate_sha},
            {"train_result", s.train_result},
            {"eval_mode", s.eval_mode},
            {"eval_result", s.eval_result},
            {"promoted", s.promoted},
            {"model_sha", s.model_sha}};
  j["win_rate"] = s.win_rate ? json(*s.win_rate) : json(nullptr);
  j["promote"] = s.promote ? json(*s.promote) : json(nullptr);
  return j.dump(2) + "\n";
}

Result<RunState> DecodeState(std::string_view text, const std::string& where) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return InvalidArgument(where + ": not a pipeline state file (bad JSON)");
  RunState s;
  try {
    s.version = j.value("version", 0);
    if (s.version != 1) {
      return InvalidArgument(where + ": unsupported state version " + std::to_string(s.version));
    }
    s.run_id = j.at("run_id").get<std::string>();
    s.created_ms = j.value("created_ms", int64_t{0});
    s.updated_ms = j.value("updated_ms", int64_t{0});
    s.completed = j.value("completed", false);
    s.games = j.value("games", 0);
    s.target_games = j.value("target_games", int64_t{0});
    s.hosts = j.value("hosts", std::vector<std::string>{});
    s.training_host = j.value("training_host", "");
    const json phases = j.value("phases", json::object());
    const json pulled = j.value("pulled", json::object());
    for (const auto& [name, p] : phases.items()) {
      s.phases[name] = PhaseFrom(p);
    }
    for (const auto& [key, f] : pulled.items()) {
      PulledFile pf;
      pf.sha256 = f.value("sha256", "");
      pf.bytes = f.value("bytes", uint64_t{0});
      pf.records = f.value("records", uint64_t{0});
      pf.mtime = f.value("mtime", int64_t{0});
      pf.run_id = f.value("run_id", "");
      s.pulled[key] = pf;
    }
    s.candidate_sha = j.value("candidate_sha", "");
    s.train_result = j.value("train_result", "");
    s.eval_mode = j.value("eval_mode", "");
    s.eval_result = j.value("eval_result", "");
    if (j.contains("win_rate") && j["win_rate"].is_number())
      s.win_rate = j["win_rate"].get<double>();
    if (j.contains("promote") && j["promote"].is_boolean()) s.promote = j["promote"].get<bool>();
    s.promoted = j.value("promoted", false);
    s.model_sha = j.value("model_sha", "");
  } catch (const json::exception& e) {
    return InvalidArgument(where + ": malformed pipeline state: " + e.what());
  }
  return s;
}

Result<std::optional<RunState>> LoadState(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT || !fs::exists(path)) return std::optional<RunState>();
    return Internal("cannot read " + path + ": " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  RIFT_ASSIGN_OR_RETURN(RunState s, DecodeState(text.str(), path));
  return std::optional<RunState>(std::move(s));
}

Status SaveState(const std::string& path, const RunState& state) {
  const fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  const std::string tmp = path + ".tmp";
  const std::string text = EncodeState(state);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Internal("cannot write " + tmp + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      std::string msg = "cannot write " + tmp + ": " + std::strerror(errno);
      ::close(fd);
      return Internal(msg);
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    std::string msg = "cannot fsync " + tmp + ": " + std::strerror(errno);
    ::close(fd);
    return Internal(msg);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Internal("cannot replace " + path + ": " + std::strerror(errno));
  }
  return FsyncDir(target.parent_path());
}

Result<StateLock> StateLock::Acquire(const std::string& state_path) {
  const std::string path = state_path + ".lock";
  std::error_code ec;
  fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Internal("cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return FailedPrecondition("another pipeline run holds " + path +
                              " (one run per state file at a time)");
  }
  return StateLock(fd);
}

StateLock::~StateLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace rift::pipeline
