#include "tests/ssh/sshd.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "tests/harness/cluster.h"

namespace rift::testing {
namespace {

namespace fs = std::filesystem;
constexpr char kSshd[] = "/usr/sbin/sshd";

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return 0;
  }
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

bool Accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

}  // namespace

int Run(const std::vector<std::string>& argv, std::string* out) {
  return RunCommand(argv, out, std::chrono::seconds(30));
}

std::string SshdUnavailableReason() {
  if (access(kSshd, X_OK) != 0) {
    return "sshd is not installed (apt-get install openssh-server); skipping the SSH tests";
  }
  std::string out;
  if (Run({"ssh-keygen", "-?"}, &out) == 127) return "ssh-keygen is not installed";
  return "";
}

bool MakeKey(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
  fs::remove(path + ".pub", ec);
  std::string out;
  return Run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "rift-test", "-f", path},
             &out) == 0;
}

std::string Fingerprint(const std::string& pub_path) {
  std::string out;
  if (Run({"ssh-keygen", "-l", "-E", "sha256", "-f", pub_path}, &out) != 0) return "";
  std::istringstream in(out);
  std::string bits, fp;
  in >> bits >> fp;  // "256 SHA256:... comment (ED25519)"
  return fp;
}

SshdHost::SshdHost(std::string dir, std::string authorized_pub)
    : dir_(std::move(dir)), authorized_pub_(std::move(authorized_pub)) {}

SshdHost::~SshdHost() { Stop(); }

bool SshdHost::NewHostKey() { return MakeKey(dir_ + "/ssh_host_ed25519_key"); }

std::string SshdHost::Log() const {
  std::ifstream in(dir_ + "/sshd.log");
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

bool SshdHost::Start(std::string* error) {
  if (!fs::exists(dir_ + "/ssh_host_ed25519_key") && !NewHostKey()) {
    *error = "ssh-keygen failed for the host key";
    return false;
  }
  fs::copy_file(authorized_pub_, dir_ + "/authorized_keys", fs::copy_options::overwrite_existing);
  chmod((dir_ + "/authorized_keys").c_str(), 0600);
  // Privilege separation needs this directory when sshd runs as root.
  if (geteuid() == 0) {
    std::error_code ec;
    fs::create_directories("/run/sshd", ec);
  }
  std::string why;
  for (int attempt = 0; attempt < 8; ++attempt) {
    int port = (port_ != 0 && attempt == 0) ? port_ : FreePort();
    if (port != 0 && StartOn(port, &why)) {
      port_ = port;
      return true;
    }
  }
  *error = "sshd did not start: " + why + "\n" + Log();
  return false;
}

bool SshdHost::StartOn(int port, std::string* error) {
  const std::string cfg = dir_ + "/sshd_config";
  {
    std::ofstream c(cfg);
    c << "Port " << port << "\n"
      << "ListenAddress 127.0.0.1\n"
      << "HostKey " << dir_ << "/ssh_host_ed25519_key\n"
      << "PidFile " << dir_ << "/sshd.pid\n"
      << "AuthorizedKeysFile " << dir_ << "/authorized_keys\n"
      << "UsePAM no\n"
      << "StrictModes no\n"
      << "PermitRootLogin prohibit-password\n"
      << "PubkeyAuthentication yes\n"
      << "PasswordAuthentication no\n"
      << "KbdInteractiveAuthentication no\n"
      << "Subsystem sftp internal-sftp\n"
      << "MaxStartups 64\n"
      << "LogLevel VERBOSE\n";
  }
  const std::string log = dir_ + "/sshd.log";
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    execl(kSshd, kSshd, "-D", "-e", "-f", cfg.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  if (pid < 0) {
    *error = "fork failed";
    return false;
  }
  pid_ = pid;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      pid_ = -1;
      *error =
          "sshd exited (status " + std::to_string(status) + ") on port " + std::to_string(port);
      return false;
    }
    if (Accepts(port)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Stop();
  *error = "sshd did not accept connections on port " + std::to_string(port);
  return false;
}

void SshdHost::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 250; ++i) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

}  // namespace rift::testing
