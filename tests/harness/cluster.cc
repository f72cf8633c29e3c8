#include "tests/harness/cluster.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <utime.h>
#include <unistd.h>

#include <httplib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace rift::testing {

TempDir::TempDir(const std::string& prefix) {
  std::string tmpl = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
  char* p = mkdtemp(tmpl.data());
  path_ = p ? p : tmpl;
}
TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

size_t StatusView::CountState(const std::string& state) const {
  size_t n = 0;
  for (const auto& m : members) n += m.state == state;
  return n;
}
const MemberInfo* StatusView::Find(const std::string& id) const {
  for (const auto& m : members)
    if (m.node_id == id) return &m;
  return nullptr;
}

HttpResult HttpRequest(const std::string& method, const std::string& base_url,
                       const std::string& path, const std::string& token, const std::string& body,
                       const std::map<std::string, std::string>& headers,
                       std::chrono::milliseconds timeout) {
  HttpResult out;
  httplib::Client cli(base_url);
  cli.set_tcp_nodelay(true);
  cli.set_connection_timeout(timeout);
  cli.set_read_timeout(timeout);
  cli.set_write_timeout(timeout);
  httplib::Headers h;
  if (!token.empty()) h.emplace("Authorization", "Bearer " + token);
  for (const auto& [k, v] : headers) h.emplace(k, v);
  httplib::Result res = method == "POST"
                            ? cli.Post(path.c_str(), h, body, "application/json")
                            : cli.Get(path.c_str(), h);
  if (!res) {
    out.error = httplib::to_string(res.error());
    return out;
  }
  out.status = res->status;
  out.body = res->body;
  return out;
}

HttpResult HttpRequestInNetns(const std::string& netns, const std::string& method,
                              const std::string& base_url, const std::string& path,
                              const std::string& token, const std::string& body,
                              std::chrono::milliseconds timeout) {
  if (netns.empty()) return HttpRequest(method, base_url, path, token, body, {}, timeout);
  int fds[2];
  HttpResult out;
  if (pipe(fds) != 0) {
    out.error = "pipe failed";
    return out;
  }
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    int nsfd = open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0) _exit(3);
    HttpResult r = HttpRequest(method, base_url, path, token, body, {}, timeout);
    std::string msg = std::to_string(r.status) + "\n" + (r.status ? r.body : r.error);
    size_t off = 0;
    while (off < msg.size()) {
      ssize_t n = write(fds[1], msg.data() + off, msg.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    _exit(0);
  }
  close(fds[1]);
  std::string data;
  char buf[8192];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) data.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  size_t nl = data.find('\n');
  if (nl == std::string::npos) {
    out.error = "could not enter netns " + netns;
    return out;
  }
  out.status = std::atoi(data.substr(0, nl).c_str());
  (out.status ? out.body : out.error) = data.substr(nl + 1);
  return out;
}

std::optional<StatusView> ParseStatus(const std::string& body) {
  try {
    json j = json::parse(body);
    StatusView v;
    v.node_id = j.value("node_id", "");
    v.role = j.value("role", "");
    v.term = j.value("term", uint64_t{0});
    if (j.contains("leader_id") && j["leader_id"].is_string()) v.leader_id = j["leader_id"];
    if (j.contains("leader_url") && j["leader_url"].is_string()) v.leader_url = j["leader_url"];
    v.quorum = j.value("quorum", false);
    for (const auto& m : j.value("members", json::array())) {
      MemberInfo mi;
      mi.node_id = m.value("node_id", "");
      mi.url = m.value("url", "");
      mi.state = m.value("state", "");
      mi.incarnation = m.value("incarnation", uint64_t{0});
      mi.voter = m.value("voter", false);
      v.members.push_back(std::move(mi));
    }
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

Daemon::Daemon(std::string binary, DaemonOptions options, std::string dir)
    : binary_(std::move(binary)), options_(std::move(options)), dir_(std::move(dir)) {
  fs::create_directories(dir_);
}

Daemon::~Daemon() {
  if (pid_ > 0) Kill(SIGKILL);
}

bool Daemon::Start(std::string* error, std::chrono::milliseconds deadline) {
  std::error_code ec;
  fs::remove(fs::path(dir_) / "state" / "p2p.port", ec);
  std::map<std::string, std::string> env = options_.env;
  env["NODE_ID"] = options_.node_id;
  env["RINGRIFT_DIR"] = dir_;
  env["P2P_PORT"] = std::to_string(options_.port);
  fs::path default_hosts = fs::path(dir_) / "config" / "distributed_hosts.yaml";
  if (!env.count("RINGRIFT_HOSTS_FILE") && !options_.background_selfplay &&
      !fs::exists(default_hosts, ec)) {
    fs::create_directories(default_hosts.parent_path(), ec);
    std::ofstream(default_hosts) << kNoBackgroundSelfplayYaml;
  }
  if (!env.count("BIND_HOST")) env["BIND_HOST"] = options_.host;
  std::vector<std::string> argv;
  if (!options_.netns.empty()) argv = {"ip", "netns", "exec", options_.netns};
  argv.push_back(binary_);
  for (const auto& a : options_.args) argv.push_back(a);
  std::string log_path = dir_ + "/daemon.log";

  pid_t pid = fork();
  if (pid < 0) {
    *error = "fork failed";
    return false;
  }
  if (pid == 0) {
    setpgid(0, 0);
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    // A clean environment: only what the test says (plus PATH), so the machine's
    // RINGRIFT_* variables never leak into a test.
    std::vector<std::string> envs;
    if (const char* p = getenv("PATH")) envs.push_back(std::string("PATH=") + p);
    for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
    std::vector<char*> cenv, cargv;
    for (auto& s : envs) cenv.push_back(s.data());
    cenv.push_back(nullptr);
    for (auto& s : argv) cargv.push_back(s.data());
    cargv.push_back(nullptr);
    execvpe(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  pid_ = pid;
  auto port_file = fs::path(dir_) / "state" / "p2p.port";
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (!Running()) {
      *error = "daemon exited during startup; log:\n" + LogTail();
      return false;
    }
    std::ifstream in(port_file);
    int port = 0;
    if (in >> port && port > 0) {
      port_ = port;
      options_.port = port;  // a restart keeps its address, as a real node would
      url_ = "http://" + options_.host + ":" + std::to_string(port);
      HttpResult r = Request("GET", "/health");
      if (r.status == 200) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  *error = "daemon did not answer /health in time; log:\n" + LogTail();
  return false;
}

void Daemon::Signal(int signal) {
  if (pid_ > 0) ::kill(pid_, signal);
}

void Daemon::Kill(int signal) {
  if (pid_ <= 0) return;
  ::kill(pid_, signal);
  if (signal == SIGKILL || signal == SIGTERM) {
    if (signal == SIGTERM) {
      // Bounded graceful wait, then force.
      for (int i = 0; i < 250; ++i) {
        if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
          pid_ = -1;
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      ::kill(pid_, SIGKILL);
    }
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
}

bool Daemon::Running() {
  if (pid_ <= 0) return false;
  int st = 0;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

std::optional<StatusView> Daemon::Status(const std::string& token) const {
  if (url_.empty()) return std::nullopt;
  HttpResult r = Request("GET", "/status", token);
  if (r.status != 200) return std::nullopt;
  return ParseStatus(r.body);
}

HttpResult Daemon::Request(const std::string& method, const std::string& path,
                           const std::string& token, const std::string& body) const {
  return HttpRequestInNetns(options_.netns, method, url_, path, token, body,
                            std::chrono::milliseconds(1000));
}

std::string Daemon::LogTail(size_t bytes) const {
  std::ifstream in(dir_ + "/daemon.log", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > bytes ? s.substr(s.size() - bytes) : s;
}

void WriteFilledFile(const std::string& path, size_t bytes, char fill, int age_days) {
  fs::create_directories(fs::path(path).parent_path());
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    std::string block(1 << 20, fill);
    for (size_t done = 0; done < bytes; done += block.size()) {
      out.write(block.data(), static_cast<std::streamsize>(std::min(block.size(), bytes - done)));
    }
  }
  struct utimbuf t;
  t.actime = t.modtime = time(nullptr) - static_cast<time_t>(age_days) * 86400;
  utime(path.c_str(), &t);
}

bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout,
             std::chrono::milliseconds step) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(step);
  }
}

std::string DaemonBinary() {
  if (const char* e = getenv("RIFT_P2P_BINARY")) return e;
#ifdef RIFT_P2P_BINARY
  return RIFT_P2P_BINARY;
#else
  return "ringrift-p2p";
#endif
}

std::string RiftctlBinary() {
  if (const char* e = getenv("RIFT_RIFTCTL_BINARY")) return e;
#ifdef RIFT_RIFTCTL_BINARY
  return RIFT_RIFTCTL_BINARY;
#else
  return "riftctl";
#endif
}

std::string ResilienceBinary() {
  if (const char* e = getenv("RIFT_RESILIENCE_BINARY")) return e;
#ifdef RIFT_RESILIENCE_BINARY
  return RIFT_RESILIENCE_BINARY;
#else
  return "ringrift-resilience";
#endif
}

Process::~Process() {
  if (pid_ > 0) Stop(SIGKILL);
}

bool Process::Start(const std::vector<std::string>& argv,
                    const std::map<std::string, std::string>& env, const std::string& log_path) {
  log_path_ = log_path;
  std::vector<std::string> envs;
  if (const char* p = getenv("PATH")) envs.push_back(std::string("PATH=") + p);
  for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
  std::vector<std::string> args = argv;
  std::vector<char*> cenv, cargv;
  for (auto& e : envs) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  exit_code_.reset();
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    setpgid(0, 0);
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    execvpe(cargv[0], cargv.data(), cenv.data());
    _exit(127);
  }
  pid_ = pid;
  return true;
}

bool Process::Running() {
  if (pid_ <= 0) return false;
  int st = 0;
  if (waitpid(pid_, &st, WNOHANG) == pid_) {
    exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    pid_ = -1;
    return false;
  }
  return true;
}

int Process::Stop(int signal, std::chrono::milliseconds grace) {
  if (pid_ <= 0) return exit_code_.value_or(-1);
  ::kill(pid_, signal);
  if (!WaitFor([this] { return !Running(); }, grace)) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    waitpid(pid_, &st, 0);
    exit_code_ = 128 + SIGKILL;
    pid_ = -1;
  }
  return exit_code_.value_or(-1);
}

std::string Process::Log() const {
  std::ifstream in(log_path_, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int RunCommand(const std::vector<std::string>& argv, std::string* output,
               std::chrono::milliseconds timeout) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> cargv;
    std::vector<std::string> copy = argv;
    for (auto& s : copy) cargv.push_back(s.data());
    cargv.push_back(nullptr);
    execvp(cargv[0], cargv.data());
    _exit(127);
  }
  close(fds[1]);
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  auto until = std::chrono::steady_clock::now() + timeout;
  std::string out;
  int status = 0;
  bool done = false;
  while (!done) {
    pollfd p{fds[0], POLLIN, 0};
    poll(&p, 1, 50);
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    if (waitpid(pid, &status, WNOHANG) == pid) {
      while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
      done = true;
    } else if (std::chrono::steady_clock::now() > until) {
      ::kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      out += "\n[timed out]";
      done = true;
      status = -1;
    }
  }
  close(fds[0]);
  if (output) *output = out;
  if (status == -1) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace rift::testing
