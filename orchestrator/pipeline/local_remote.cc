#include "orchestrator/pipeline/local_remote.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "orchestrator/pipeline/hashing.h"

namespace rift::pipeline {
namespace {

namespace fs = std::filesystem;

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

void Append(std::string* to, const char* data, size_t n) {
  if (to->size() < kMaxCapture) to->append(data, std::min(n, kMaxCapture - to->size()));
}

}  // namespace

Result<ExecResult> LocalRemote::Exec(const std::string& command, Duration timeout) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return Internal(Errno("pipe"));
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    close(out_pipe[0]);
    close(out_pipe[1]);
    return Internal(Errno("pipe"));
  }
  pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) close(fd);
    return Internal(Errno("fork"));
  }
  if (pid == 0) {
    setpgid(0, 0);  // a timeout kills the whole group
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);  // also here: a timeout may come before the child ran its own setpgid
  close(out_pipe[1]);
  close(err_pipe[1]);
  ExecResult r;
  const TimePoint deadline = Clock::now() + timeout;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  bool timed_out = false;
  char buf[65536];
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    int n = poll(fds, 2, static_cast<int>(std::min<int64_t>(left, 1000)));
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        Append(i == 0 ? &r.out : &r.err, buf, static_cast<size_t>(got));
      } else if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  if (timed_out && kill(-pid, SIGKILL) != 0) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return DeadlineExceeded("command timed out after " + std::to_string(ToMillis(timeout)) +
                            " ms on the coordinator");
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

Result<std::vector<RemoteFile>> LocalRemote::List(const std::string& dir,
                                                  const std::string& suffix) {
  std::vector<RemoteFile> files;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return files;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  if (ec) return Internal("cannot list " + dir + ": " + ec.message());
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return Internal("cannot list " + dir + ": " + ec.message());
    const std::string path = it->path().string();
    struct stat st;
    if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (path.size() < suffix.size() ||
        path.compare(path.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    files.push_back(
        RemoteFile{path, static_cast<uint64_t>(st.st_size), static_cast<int64_t>(st.st_mtime)});
  }
  return files;
}

Result<Transferred> CopyLocalFile(const std::string& from, const std::string& to,
                                  const TransferProgress& progress) {
  int in = open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    std::string msg = Errno("cannot open " + from);
    return errno == ENOENT ? NotFound(msg) : Internal(msg);
  }
  std::error_code ec;
  fs::create_directories(fs::path(to).parent_path(), ec);
  int out = open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) {
    std::string msg = Errno("cannot create " + to);
    close(in);
    return Internal(msg);
  }
  StreamHash hash;
  std::vector<char> buf(1 << 20);
  uint64_t done = 0;
  Status failed;
  while (failed.ok()) {
    ssize_t n = read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      failed = Internal(Errno("cannot read " + from));
      break;
    }
    if (n == 0) break;
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(out, buf.data() + off, static_cast<size_t>(n - off));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        failed = Internal(Errno("cannot write " + to));
        break;
      }
      off += w;
    }
    hash.Update(buf.data(), static_cast<size_t>(n));
    done += static_cast<uint64_t>(n);
    if (progress) progress(done);
  }
  if (failed.ok() && fsync(out) != 0) failed = Internal(Errno("cannot fsync " + to));
  close(in);
  if (close(out) != 0 && failed.ok()) failed = Internal(Errno("cannot close " + to));
  if (!failed.ok()) return failed;
  return hash.Finish();
}

Result<Transferred> LocalRemote::Download(const std::string& path, const std::string& local_path,
                                          const TransferProgress& progress) {
  return CopyLocalFile(path, local_path, progress);
}

Result<Transferred> LocalRemote::Upload(const std::string& local_path, const std::string& path,
                                        const TransferProgress& progress) {
  return CopyLocalFile(local_path, path, progress);
}

}  // namespace rift::pipeline
