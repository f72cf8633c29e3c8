#include "orchestrator/jobs/gpu.h"

#include <cctype>
#include <chrono>
#include <sstream>

#include "orchestrator/base/log.h"
#include "orchestrator/jobs/process.h"

namespace rift::jobs {
namespace {

std::string Trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(0, s.find_first_not_of(ws));
  s.erase(s.find_last_not_of(ws) + 1);
  return s;
}

}  // namespace

std::vector<GpuInfo> ParseNvidiaSmi(const std::string& csv) {
  std::vector<GpuInfo> out;
  std::stringstream lines(csv);
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> f;
    std::stringstream fields(line);
    for (std::string x; std::getline(fields, x, ',');) f.push_back(Trim(x));
    if (f.size() != 3 || f[0].empty()) continue;
    bool digits = true;
    for (char c : f[0]) digits = digits && std::isdigit(static_cast<unsigned char>(c));
    if (!digits) continue;
    GpuInfo g{f[0], f[1], 0};
    g.memory_mib = std::strtoull(f[2].c_str(), nullptr, 10);  // "40960 MiB"
    out.push_back(std::move(g));
  }
  return out;
}

std::vector<GpuInfo> DetectGpus() {
#if defined(__APPLE__) && defined(__aarch64__)
  return {GpuInfo{"mps", "Apple MPS", 0}};
#else
  auto out = RunCapture({"nvidia-smi", "--query-gpu=index,name,memory.total",
                         "--format=csv,noheader"},
                        std::chrono::seconds(10));
  if (!out.ok()) {
    if (out.status().code() != Code::kNotFound) {
      log::Warn("GPU detection: " + out.status().message() + "; assuming no GPU");
    }
    return {};
  }
  return ParseNvidiaSmi(*out);
#endif
}

}  // namespace rift::jobs
