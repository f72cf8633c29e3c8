#pragma once
// File helpers: whole-file reads, durable atomic replacement (temp + fsync + rename + fsync of
// the directory), the selfplay ".part" writer, and SHA-256 of bytes.
#include <cstdio>
#include <string>
#include <string_view>

#include "orchestrator/base/status.h"

namespace rift::c4 {

Result<std::string> ReadWholeFile(const std::string& path);

// Replaces `path` with `data` so that readers see the old or the new file, never a mix, and the
// new file survives a crash once this returns. The temporary is ".<name>.<pid>.part" beside it
// (hidden and ".part": never indexed by the data inventory).
Status WriteFileAtomic(const std::string& path, std::string_view data);

// Creates `dir` and its parents if missing; an error if it exists but is not a directory.
Status EnsureDir(const std::string& dir);

// Lower-case hex SHA-256.
std::string Sha256Hex(std::string_view data);

// Appends lines to `<final>.part`; Commit() flushes, fsyncs and renames it to `final`.
// Dropping an uncommitted writer removes the .part file.
class PartFile {
 public:
  PartFile() = default;
  ~PartFile();
  PartFile(const PartFile&) = delete;
  PartFile& operator=(const PartFile&) = delete;

  Status Open(const std::string& final_path);
  Status Append(std::string_view line);  // adds the newline
  Status Commit();
  void Discard();

 private:
  std::string final_path_;
  std::string part_path_;
  std::FILE* file_ = nullptr;
};

}  // namespace rift::c4
