#pragma once
// GPU detection: `nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader` when
// present; Apple's MPS on Darwin arm64; otherwise none (CPU only). Runs a process: call it off
// every request path (the job manager does, on its own thread, once at start).
#include <cstdint>
#include <string>
#include <vector>

namespace rift::jobs {

struct GpuInfo {
  std::string index;  // "0", "1", ... (the CUDA_VISIBLE_DEVICES value), or "mps"
  std::string name;
  uint64_t memory_mib = 0;
};

// Parses nvidia-smi's CSV lines ("0, NVIDIA A100-SXM4-40GB, 40960 MiB"); malformed lines are
// skipped.
std::vector<GpuInfo> ParseNvidiaSmi(const std::string& csv);
// What this machine has (see above).
std::vector<GpuInfo> DetectGpus();

}  // namespace rift::jobs
