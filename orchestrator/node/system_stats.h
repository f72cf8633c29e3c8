#pragma once
// Samples disk, memory and CPU use for /health. Called by the node's ticker (~1 Hz), never from
// a request. Not thread-safe (one owner).
#include <cstdint>
#include <string>

#include "orchestrator/api/node_api.h"

namespace rift::node {

class SystemSampler {
 public:
  // `data_dir`: the volume measured for disk_percent (statvfs), as cleanup will measure it.
  explicit SystemSampler(std::string data_dir);
  // CPU is the busy share since the previous call (0 on the first).
  api::SystemStats Sample();

 private:
  std::string data_dir_;
  uint64_t prev_busy_ = 0;
  uint64_t prev_total_ = 0;
};

}  // namespace rift::node
