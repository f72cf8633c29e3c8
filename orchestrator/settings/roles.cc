// Which hosts are training nodes: by role, else the strongest GPU hosts (settings.h).
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <string>
#include <vector>

#include "orchestrator/settings/settings.h"

namespace rift::settings {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool Contains(const std::string& haystack, const char* needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

bool IsTrainingRole(const std::string& role) {
  return Contains(role, "nn_training") || role == "all";
}

double GpuScore(const std::string& gpu) {
  std::string g = Lower(gpu);
  if (g.empty() || g == "none" || g == "cpu" || g == "no") return 0;
  // "2x RTX 4090", "4 x A100": a leading count multiplies the per-GPU score.
  double count = 1;
  char* end = nullptr;
  long n = std::strtol(g.c_str(), &end, 10);
  if (end != g.c_str() && n > 0 && n <= 64) {
    std::string rest(end);
    rest.erase(0, rest.find_first_not_of(' '));
    if (!rest.empty() && rest[0] == 'x') count = static_cast<double>(n);
  }
  // Rough training strength per GPU model (relative; newest first where names overlap).
  static const std::pair<const char*, double> kTable[] = {
      {"b200", 100}, {"gh200", 92}, {"h200", 95}, {"h100", 90}, {"a100", 80}, {"l40s", 70},
      {"l40", 65},   {"5090", 62},  {"a6000", 60}, {"4090", 55}, {"a10", 45},  {"3090", 45},
      {"4080", 45},  {"v100", 40},  {"3080", 35},  {"a4000", 30}, {"t4", 20},   {"mps", 15},
      {"apple", 15}, {"m1", 12},    {"m2", 13},    {"m3", 14},    {"m4", 15},
  };
  for (const auto& [name, score] : kTable) {
    if (Contains(g, name)) return score * count;
  }
  return 10 * count;  // some GPU we do not know: better than none
}

std::vector<std::string> TrainingNodeIds(const Settings& s) {
  std::vector<std::string> out;
  for (const auto& h : s.hosts) {
    if (h.status != "disabled" && IsTrainingRole(h.role)) out.push_back(h.id);
  }
  if (!out.empty()) return out;
  double best = 0;
  for (const auto& h : s.hosts) {
    if (h.status != "disabled") best = std::max(best, GpuScore(h.gpu));
  }
  if (best <= 0) return out;
  for (const auto& h : s.hosts) {
    if (h.status != "disabled" && GpuScore(h.gpu) == best) out.push_back(h.id);
  }
  return out;
}

}  // namespace rift::settings
