#pragma once
// Real OpenSSH servers for tests: each SshdHost is `/usr/sbin/sshd -D` on 127.0.0.1 with its own
// host key, config, authorized_keys and log in a directory of its own. Ports are picked by
// binding port 0 and releasing it (sshd cannot listen on port 0); a start that loses the port to
// someone else is retried on another one.
#include <sys/types.h>

#include <string>
#include <vector>

namespace rift::testing {

// "" when sshd and ssh-keygen are usable here, else why not (for GTEST_SKIP).
std::string SshdUnavailableReason();

// Runs a command (argv[0] looked up in PATH); returns the exit code, output in *out.
int Run(const std::vector<std::string>& argv, std::string* out);

// A fresh ed25519 key pair at `path` and `path`.pub. False on failure.
bool MakeKey(const std::string& path);

// The SHA256:... fingerprint of a public key file ("" on failure).
std::string Fingerprint(const std::string& pub_path);

class SshdHost {
 public:
  // `dir` must exist; `authorized_pub` is the client's public key file.
  SshdHost(std::string dir, std::string authorized_pub);
  ~SshdHost();  // stops sshd
  SshdHost(const SshdHost&) = delete;
  SshdHost& operator=(const SshdHost&) = delete;

  // Starts sshd (generating the host key the first time) and waits until it accepts TCP
  // connections. Keeps the port of an earlier start when it can. False with a reason.
  bool Start(std::string* error);
  void Stop();
  // A new host key (takes effect on the next Start).
  bool NewHostKey();

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  std::string host_key_pub() const { return dir_ + "/ssh_host_ed25519_key.pub"; }
  std::string Log() const;

 private:
  bool StartOn(int port, std::string* error);
  std::string dir_;
  std::string authorized_pub_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace rift::testing
