#include "orchestrator/inventory/types.h"

namespace rift::inventory {

// A prefix starting with '*' is a suffix rule: "*.log" matches any path ending in ".log". The
// logs class comes before selfplay/training in the defaults so `selfplay/run7/run.log` is a log
// (replication 1, cleaned early), not a game.
std::vector<FileClass> DefaultFileClasses() {
  return {
      {"tmp", {"tmp/"}, 1, false, false, 0},
      {"logs", {"logs/", "*.log"}, 1, false, false, 10},
      {"selfplay", {"selfplay/", "games/"}, 2, true, false, 50},
      {"training", {"training/"}, 2, false, false, 60},
      {"models", {"models/"}, 2, false, true, 100},
  };
}

namespace {

bool Matches(const std::string& rule, const std::string& path) {
  if (!rule.empty() && rule[0] == '*') {
    const size_t n = rule.size() - 1;
    return path.size() >= n && path.compare(path.size() - n, n, rule, 1, n) == 0;
  }
  return path.compare(0, rule.size(), rule) == 0;
}

}  // namespace

// Files no rule claims are kept at the default replication and cleaned after training data but
// before models. A config class named "other" (with no prefixes) overrides this fallback.
const FileClass& ClassOf(const std::vector<FileClass>& classes, const std::string& path) {
  static const FileClass kOther{"other", {}, 2, false, false, 70};
  const FileClass* other = &kOther;
  for (const FileClass& c : classes) {
    for (const std::string& rule : c.prefixes) {
      if (Matches(rule, path)) return c;
    }
    if (c.name == "other") other = &c;
  }
  return *other;
}

}  // namespace rift::inventory
