#pragma once
// The coordinator itself as a Remote: commands run with /bin/sh -c as child processes, files are
// copied on the local disk. Used when training runs on the coordinator ("local"), and by tests
// of the phases that need no SSH.
#include <string>

#include "orchestrator/pipeline/remote.h"

namespace rift::pipeline {

class LocalRemote : public Remote {
 public:
  LocalRemote() = default;
  std::string Describe() const override { return "local"; }
  Result<ExecResult> Exec(const std::string& command, Duration timeout) override;
  Result<std::vector<RemoteFile>> List(const std::string& dir, const std::string& suffix) override;
  Result<Transferred> Download(const std::string& path, const std::string& local_path,
                               const TransferProgress& progress) override;
  Result<Transferred> Upload(const std::string& local_path, const std::string& path,
                             const TransferProgress& progress) override;
  void Disconnect() override {}
};

// Copies `from` to `to` (parents created, truncated, fsynced), hashing the bytes. Shared with
// the SSH remote's local side.
Result<Transferred> CopyLocalFile(const std::string& from, const std::string& to,
                                  const TransferProgress& progress);

}  // namespace rift::pipeline
