#pragma once
// A Remote over SSH (libssh stays in ssh_remote.cc): key authentication only, strict
// known_hosts, a connect timeout, commands over exec channels, files over SFTP. The session is
// opened on first use and again after a transport error.
//
// Host keys: a key the known_hosts file does not list, or lists differently, is refused with
// kFailedPrecondition naming the host and the key's SHA-256 fingerprint; nothing is ever added
// implicitly. TrustHost() is the explicit way to record a key (`riftctl ssh trust HOST`).
#include <chrono>
#include <memory>
#include <string>

#include "orchestrator/pipeline/remote.h"

namespace rift::pipeline {

struct SshOptions {
  std::string host_id;  // for messages: the id in distributed_hosts.yaml
  std::string address;  // ssh_host
  int port = 22;
  std::string user;         // "" = the current user
  std::string key_file;     // private key ("~/" expanded); "" = the default identities and agent
  std::string known_hosts;  // ("~/" expanded); "" = ~/.ssh/known_hosts
  std::chrono::seconds connect_timeout{10};
};

class SshRemote : public Remote {
 public:
  explicit SshRemote(SshOptions options);
  ~SshRemote() override;
  SshRemote(const SshRemote&) = delete;
  SshRemote& operator=(const SshRemote&) = delete;

  std::string Describe() const override;
  Result<ExecResult> Exec(const std::string& command, Duration timeout) override;
  Result<std::vector<RemoteFile>> List(const std::string& dir, const std::string& suffix) override;
  Result<Transferred> Download(const std::string& path, const std::string& local_path,
                               const TransferProgress& progress) override;
  Result<Transferred> Upload(const std::string& local_path, const std::string& path,
                             const TransferProgress& progress) override;
  void Disconnect() override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// What a server presented and what the known_hosts file says about it.
struct HostKeyInfo {
  enum class Verdict { kKnown, kUnknown, kChanged };
  Verdict verdict = Verdict::kUnknown;
  std::string key_type;     // "ssh-ed25519", ...
  std::string fingerprint;  // "SHA256:..."
  std::string known_hosts;  // the file consulted
};
std::string_view VerdictName(HostKeyInfo::Verdict v);  // "known", "unknown", "changed"

// Connects (no authentication) and reports the server's key. kUnavailable when unreachable.
Result<HostKeyInfo> ProbeHostKey(const SshOptions& options);

// Records the server's key in the known_hosts file (created 0600 with its directory 0700 when
// missing) unless it is already known. Refuses (kFailedPrecondition) when the file holds a
// different key for this host (remove the old line first, e.g. `ssh-keygen -R`), and when
// `expected_fingerprint` is given and differs from the key presented.
Result<HostKeyInfo> TrustHost(const SshOptions& options, const std::string& expected_fingerprint);

// "~/x" -> "$HOME/x"; other paths unchanged.
std::string ExpandHome(const std::string& path);

}  // namespace rift::pipeline
