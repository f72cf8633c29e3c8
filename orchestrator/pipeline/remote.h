#pragma once
// A host the pipeline drives: run a shell command, list files, copy files both ways. The SSH
// implementation (ssh_remote.h) talks to real machines; LocalRemote (local_remote.h) runs on the
// coordinator itself with the same semantics, so every phase is written once.
//
// Error codes every implementation returns:
//   kUnavailable        transport trouble (refused, timed-out connect, dropped session): retry
//   kDeadlineExceeded   the command or transfer outran its timeout
//   kFailedPrecondition the host's key is unknown or changed (never retried; see ssh_remote.h)
//   kUnauthenticated    key authentication failed (never retried)
//   kNotFound           a file to read does not exist
//   kInternal           anything else (local disk errors, protocol errors)
// Not thread-safe: one Remote per thread.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "orchestrator/base/status.h"
#include "orchestrator/base/time.h"

namespace rift::pipeline {

struct ExecResult {
  int exit_code = 0;  // the command's exit status (128 + n when killed by signal n)
  std::string out;    // stdout (capped: see kMaxCapture)
  std::string err;    // stderr (capped)
};
inline constexpr size_t kMaxCapture = 64u << 20;

struct RemoteFile {
  std::string path;  // absolute
  uint64_t size = 0;
  int64_t mtime = 0;  // seconds since the epoch
};

struct Transferred {
  uint64_t bytes = 0;
  std::string sha256;  // of the bytes written, lower-case hex
  uint64_t lines = 0;  // newline characters seen (records, for JSON-lines data)
};

// Called with the bytes moved so far; never from another thread.
using TransferProgress = std::function<void(uint64_t bytes)>;

class Remote {
 public:
  virtual ~Remote() = default;

  // Where this remote runs, for messages ("h1 (root@10.0.0.1:22)" or "local").
  virtual std::string Describe() const = 0;

  // Runs `command` with /bin/sh on the host; stdin is empty. A non-zero exit is a result, not an
  // error. Stdout and stderr are drained together (a chatty stderr cannot stall the command).
  virtual Result<ExecResult> Exec(const std::string& command, Duration timeout) = 0;

  // Regular files under `dir`, recursively, whose names end with `suffix` (symlinks are not
  // followed). A missing `dir` is an empty list.
  virtual Result<std::vector<RemoteFile>> List(const std::string& dir,
                                               const std::string& suffix) = 0;

  // Copies the host's `path` into the local file `local_path` (created or truncated, fsynced),
  // hashing what was written. The caller verifies and renames.
  virtual Result<Transferred> Download(const std::string& path, const std::string& local_path,
                                       const TransferProgress& progress) = 0;

  // Copies the local file `local_path` to the host's `path` (parents created, mode 0644),
  // hashing what was read. The caller verifies on the host and renames.
  virtual Result<Transferred> Upload(const std::string& local_path, const std::string& path,
                                     const TransferProgress& progress) = 0;

  // Drops the connection (the next call reconnects). Used after transport errors.
  virtual void Disconnect() = 0;
};

}  // namespace rift::pipeline
