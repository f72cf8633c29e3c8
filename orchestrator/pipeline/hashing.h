#pragma once
// Streaming SHA-256 and line counting for transfers (libcrypto stays in hashing.cc).
#include <cstddef>
#include <memory>
#include <string>

#include "orchestrator/base/status.h"
#include "orchestrator/pipeline/remote.h"

namespace rift::pipeline {

// Feeds bytes; Finish() returns the digest as lower-case hex and the bytes and newlines seen.
class StreamHash {
 public:
  StreamHash();
  ~StreamHash();
  StreamHash(const StreamHash&) = delete;
  StreamHash& operator=(const StreamHash&) = delete;

  void Update(const char* data, size_t n);
  Transferred Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Hashes a local file (kNotFound when missing).
Result<Transferred> HashFile(const std::string& path);

// True for 64 lower-case hex characters.
bool IsSha256Hex(const std::string& s);

}  // namespace rift::pipeline
