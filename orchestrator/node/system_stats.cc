#include "orchestrator/node/system_stats.h"

#include <sys/statvfs.h>

#include <fstream>
#include <sstream>
#include <string>

namespace rift::node {
namespace {

double DiskPercent(const std::string& dir) {
  struct statvfs st {};
  if (statvfs(dir.c_str(), &st) != 0 || st.f_blocks == 0) return 0;
  // As df: used / (used + available to unprivileged users).
  double used = static_cast<double>(st.f_blocks - st.f_bfree);
  double avail = static_cast<double>(st.f_bavail);
  return used + avail > 0 ? 100.0 * used / (used + avail) : 0;
}

double MemoryPercent() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t value = 0, total = 0, available = 0;
  std::string unit;
  while (in >> key >> value) {
    std::getline(in, unit);
    if (key == "MemTotal:") total = value;
    if (key == "MemAvailable:") available = value;
  }
  if (total == 0 || available > total) return 0;
  return 100.0 * static_cast<double>(total - available) / static_cast<double>(total);
}

// Aggregate "cpu" line of /proc/stat: busy and total jiffies.
bool CpuJiffies(uint64_t* busy, uint64_t* total) {
  std::ifstream in("/proc/stat");
  std::string line;
  if (!std::getline(in, line) || line.rfind("cpu ", 0) != 0) return false;
  std::istringstream fields(line.substr(4));
  uint64_t v[8] = {};
  for (auto& x : v) fields >> x;  // user nice system idle iowait irq softirq steal
  *total = 0;
  for (auto x : v) *total += x;
  *busy = *total - v[3] - v[4];
  return true;
}

}  // namespace

SystemSampler::SystemSampler(std::string data_dir) : data_dir_(std::move(data_dir)) {}

api::SystemStats SystemSampler::Sample() {
  api::SystemStats s;
  s.disk_percent = DiskPercent(data_dir_);
  s.memory_percent = MemoryPercent();
  uint64_t busy = 0, total = 0;
  if (CpuJiffies(&busy, &total)) {
    if (prev_total_ != 0 && total > prev_total_ && busy >= prev_busy_) {
      s.cpu_percent =
          100.0 * static_cast<double>(busy - prev_busy_) / static_cast<double>(total - prev_total_);
    }
    prev_busy_ = busy;
    prev_total_ = total;
  }
  return s;
}

}  // namespace rift::node
