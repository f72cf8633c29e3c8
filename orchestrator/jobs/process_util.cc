// Identities, job-dir files and small helpers shared by the launcher and the shim.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "orchestrator/base/time.h"
#include "orchestrator/jobs/process.h"
#include "orchestrator/jobs/process_internal.h"

#ifdef __APPLE__
#include <sys/sysctl.h>
#endif

namespace rift::jobs {
namespace fs = std::filesystem;

namespace internal {

std::string SpecPath(const std::string& job_dir) { return job_dir + "/spec.json"; }
std::string StartedPath(const std::string& job_dir) { return job_dir + "/started.json"; }
std::string StatusPath(const std::string& job_dir) { return job_dir + "/status.json"; }

namespace {

Status WriteAll(int fd, const std::string& text, const std::string& path) {
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Internal("cannot write " + path + ": " + std::strerror(errno));
    off += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

Status WriteFileAtomic(const std::string& path, const std::string& text, bool durable) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) return Internal("cannot create " + tmp + ": " + std::strerror(errno));
  Status st = WriteAll(fd, text, tmp);
  if (st.ok() && durable && ::fsync(fd) != 0) {
    st = Internal("cannot fsync " + tmp + ": " + std::strerror(errno));
  }
  ::close(fd);
  if (!st.ok()) return st;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return Internal("cannot rename " + tmp + ": " + std::strerror(errno));
  }
  if (durable) {
    std::string dir = fs::path(path).parent_path().string();
    int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
  return Status::Ok();
}

Result<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json IdentityJson(const ProcessIdentity& id) {
  return {{"pid", id.pid}, {"start_time", id.start_time}, {"boot_id", id.boot_id}};
}

ProcessIdentity IdentityFromJson(const json& j) {
  ProcessIdentity id;
  if (!j.is_object()) return id;
  id.pid = j.value("pid", 0);
  id.start_time = j.value("start_time", uint64_t{0});
  id.boot_id = j.value("boot_id", "");
  return id;
}

json ExitJson(const ExitRecord& e) {
  json j = {{"stop_requested", e.stop_requested},
            {"timed_out", e.timed_out},
            {"ended_ms", e.ended_ms}};
  if (e.exit_code) j["exit_code"] = *e.exit_code;
  if (e.signal) j["signal"] = *e.signal;
  if (!e.error.empty()) j["error"] = e.error;
  return j;
}

json LaunchedJson(const Launched& l) {
  return {{"job", IdentityJson(l.job)},
          {"shim", IdentityJson(l.shim)},
          {"started_ms", l.started_ms}};
}

int64_t WallMillis() { return RealTime().WallMillis(); }

void CloseFrom(int lowest, int max_fd) {
#if defined(__linux__) && defined(SYS_close_range)
  if (::syscall(SYS_close_range, static_cast<unsigned>(lowest), ~0U, 0) == 0) return;
#endif
  for (int fd = lowest; fd < max_fd; ++fd) ::close(fd);
}

}  // namespace internal

// ---- identities ------------------------------------------------------------------------------

namespace internal {

const std::string& BootId() {
  static const std::string id = [] {
#ifdef __APPLE__
    struct timeval tv {};
    size_t len = sizeof tv;
    int mib[2] = {CTL_KERN, KERN_BOOTTIME};
    if (::sysctl(mib, 2, &tv, &len, nullptr, 0) != 0) return std::string();
    return std::to_string(tv.tv_sec) + "." + std::to_string(tv.tv_usec);
#else
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::string s;
    std::getline(in, s);
    return s;
#endif
  }();
  return id;
}

bool ReadProcStat(int pid, char* state, uint64_t* start_time) {
#ifdef __APPLE__
  struct kinfo_proc kp {};
  size_t len = sizeof kp;
  int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PID, pid};
  if (::sysctl(mib, 4, &kp, &len, nullptr, 0) != 0 || len == 0) return false;
  *state = kp.kp_proc.p_stat == SZOMB ? 'Z' : 'R';
  *start_time = static_cast<uint64_t>(kp.kp_proc.p_starttime.tv_sec) * 1000000 +
                static_cast<uint64_t>(kp.kp_proc.p_starttime.tv_usec);
  return true;
#else
  // "pid (comm) S ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(in, text)) return false;
  size_t close = text.rfind(')');
  if (close == std::string::npos || close + 2 > text.size()) return false;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  for (int index = 3; rest >> field; ++index) {  // fields are numbered from 1; state is 3
    if (index == 3) *state = field.empty() ? '?' : field[0];
    if (index == 22) {
      *start_time = std::strtoull(field.c_str(), nullptr, 10);
      return true;
    }
  }
  return false;
#endif
}

}  // namespace internal

Result<ProcessIdentity> IdentityOf(int pid) {
  if (pid <= 0) return InvalidArgument("bad pid " + std::to_string(pid));
  char state = '?';
  uint64_t start = 0;
  if (!internal::ReadProcStat(pid, &state, &start) || state == 'Z' || state == 'X') {
    return NotFound("no running process " + std::to_string(pid));
  }
  return ProcessIdentity{pid, start, internal::BootId()};
}

bool IsAlive(const ProcessIdentity& id) {
  if (!id.valid()) return false;
  auto now = IdentityOf(id.pid);
  return now.ok() && now->start_time == id.start_time &&
         (id.boot_id.empty() || now->boot_id == id.boot_id);
}

// ---- job dir files ---------------------------------------------------------------------------

std::optional<Launched> ReadStarted(const std::string& job_dir) {
  auto text = internal::ReadWholeFile(internal::StartedPath(job_dir));
  if (!text.ok()) return std::nullopt;
  auto j = internal::json::parse(*text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  Launched l;
  l.job = internal::IdentityFromJson(j.value("job", internal::json()));
  l.shim = internal::IdentityFromJson(j.value("shim", internal::json()));
  l.started_ms = j.value("started_ms", int64_t{0});
  if (!l.job.valid()) return std::nullopt;
  return l;
}

std::optional<ExitRecord> ReadExit(const std::string& job_dir) {
  auto text = internal::ReadWholeFile(internal::StatusPath(job_dir));
  if (!text.ok()) return std::nullopt;
  auto j = internal::json::parse(*text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  ExitRecord e;
  if (j.contains("exit_code") && j["exit_code"].is_number_integer()) e.exit_code = j["exit_code"];
  if (j.contains("signal") && j["signal"].is_number_integer()) e.signal = j["signal"];
  e.stop_requested = j.value("stop_requested", false);
  e.timed_out = j.value("timed_out", false);
  e.error = j.value("error", "");
  e.ended_ms = j.value("ended_ms", int64_t{0});
  return e;
}

std::string LogPath(const std::string& job_dir) { return job_dir + "/run.log"; }
std::string RotatedLogPath(const std::string& job_dir) { return job_dir + "/run.log.1"; }

namespace {

// The last `bytes` of `path` (all of it when shorter).
std::string Tail(const std::string& path, uint64_t bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  auto size = static_cast<uint64_t>(std::max<std::streamoff>(0, in.tellg()));
  uint64_t take = std::min(size, bytes);
  std::string out(take, '\0');
  in.seekg(static_cast<std::streamoff>(size - take));
  in.read(out.data(), static_cast<std::streamsize>(take));
  out.resize(static_cast<size_t>(in.gcount()));
  return out;
}

}  // namespace

std::string ReadLogTail(const std::string& job_dir, uint64_t bytes) {
  std::string current = Tail(LogPath(job_dir), bytes);
  if (current.size() >= bytes) return current;
  return Tail(RotatedLogPath(job_dir), bytes - current.size()) + current;
}

std::string FindProgram(const std::string& program, const std::string& path_list) {
  if (program.empty()) return "";
  if (program.find('/') != std::string::npos) return program;
  std::stringstream ss(path_list);
  for (std::string dir; std::getline(ss, dir, ':');) {
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + program;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return "";
}

}  // namespace rift::jobs
