// The watchdog's settings (`watchdog:` in distributed_hosts.yaml, RINGRIFT_WATCHDOG_* in the
// environment, node.conf and ringrift-resilience's flags). The YAML section is mapped to the
// same canonical keys as the environment, so one resolver applies precedence and one converter
// reports errors with file:line for every source.
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>

#include "orchestrator/settings/internal.h"

namespace rift::settings::internal {
namespace {

// YAML key under `watchdog:` -> canonical key.
const std::vector<std::pair<std::string, std::string>>& YamlKeys() {
  static const std::vector<std::pair<std::string, std::string>> kKeys = [] {
    std::vector<std::pair<std::string, std::string>> keys;
    for (const char* k : {"interval", "health_timeout", "down_probes", "hang_probes",
                          "startup_grace", "backoff_initial", "backoff_max", "restart_budget",
                          "budget_window", "service_manager", "daemon_binary", "fallback",
                          "disconnect_grace", "fallback_max_jobs", "register_interval",
                          "cleanup_interval"}) {
      std::string canonical = "RINGRIFT_WATCHDOG_";
      for (const char* c = k; *c; ++c) {
        canonical += static_cast<char>(std::toupper(static_cast<unsigned char>(*c)));
      }
      keys.emplace_back(k, canonical);
    }
    keys.emplace_back("log_file", "RINGRIFT_RESILIENCE_LOG_FILE");
    return keys;
  }();
  return kKeys;
}

class Converter {
 public:
  Converter(const std::function<const Value*(const std::string&)>& find,
            std::vector<Problem>* problems)
      : find_(find), problems_(problems) {}

  void Error(const Value& v, const std::string& msg) {
    problems_->push_back(MakeError(v.file, v.line, v.name, msg));
  }

  void DurationValue(const std::string& key, Duration lo, Duration hi, Duration* out) {
    const Value* v = find_(key);
    if (!v) return;
    auto d = ParseDuration(v->value);
    if (!d) {
      Error(*v, "expected a duration such as 500ms, 10s, 5m or 1h, got '" + Trim(v->value) + "'");
    } else if (*d < lo || *d > hi) {
      Error(*v, "must be between " + FormatDuration(lo) + " and " + FormatDuration(hi) +
                    ", got " + Trim(v->value));
    } else {
      *out = *d;
    }
  }

  void Int(const std::string& key, int lo, int hi, int* out) {
    const Value* v = find_(key);
    if (!v) return;
    std::string s = Trim(v->value);
    char* end = nullptr;
    errno = 0;
    long n = std::strtol(s.c_str(), &end, 10);
    if (s.empty() || end != s.c_str() + s.size() || errno != 0) {
      Error(*v, "expected an integer, got '" + s + "'");
    } else if (n < lo || n > hi) {
      Error(*v,
            "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + s);
    } else {
      *out = static_cast<int>(n);
    }
  }

  void Bool(const std::string& key, bool* out) {
    const Value* v = find_(key);
    if (!v) return;
    std::string s = Trim(v->value);
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (s == "1" || s == "true" || s == "yes" || s == "on") {
      *out = true;
    } else if (s == "0" || s == "false" || s == "no" || s == "off") {
      *out = false;
    } else {
      Error(*v, "expected true or false (1/0, yes/no, on/off), got '" + Trim(v->value) + "'");
    }
  }

  const Value* String(const std::string& key, std::string* out) {
    const Value* v = find_(key);
    if (v) *out = Trim(v->value);
    return v;
  }

 private:
  const std::function<const Value*(const std::string&)>& find_;
  std::vector<Problem>* problems_;
};

}  // namespace

std::optional<Duration> ParseDuration(std::string_view text) {
  std::string s = Trim(text);
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  double n = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || errno != 0 || !std::isfinite(n) || n < 0) return std::nullopt;
  std::string unit = Trim(std::string_view(end));
  double scale = 0;  // seconds per unit
  if (unit.empty() || unit == "s") {
    scale = 1;
  } else if (unit == "ms") {
    scale = 1e-3;
  } else if (unit == "m" || unit == "min") {
    scale = 60;
  } else if (unit == "h") {
    scale = 3600;
  } else {
    return std::nullopt;
  }
  double secs = n * scale;
  if (secs > 1e7) return std::nullopt;  // beyond any sensible setting (and overflow)
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(secs));
}

std::string FormatDuration(Duration d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms % 3'600'000 == 0 && ms > 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0 && ms > 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

const std::vector<std::string>& WatchdogKeys() {
  static const std::vector<std::string> kKeys = [] {
    std::vector<std::string> keys;
    for (const auto& [yaml, canonical] : YamlKeys()) keys.push_back(canonical);
    return keys;
  }();
  return kKeys;
}

void ParseWatchdogYaml(const std::string& path, const YAML::Node& section, Layer* values,
                       std::vector<Problem>* problems) {
  auto line_of = [](const YAML::Node& n) { return n.Mark().line + 1; };
  if (section.IsNull()) return;
  if (!section.IsMap()) {
    problems->push_back(MakeError(path, line_of(section), "watchdog", "expected a map"));
    return;
  }
  std::vector<std::string> known;
  for (const auto& [yaml, canonical] : YamlKeys()) known.push_back(yaml);
  std::set<std::string> seen;
  for (const auto& kv : section) {
    const std::string k = kv.first.IsScalar() ? kv.first.Scalar() : "";
    const std::string name = "watchdog." + k;
    if (!seen.insert(k).second) {
      problems->push_back(MakeError(path, line_of(kv.first), name, "duplicate key"));
      continue;
    }
    auto it = std::find_if(YamlKeys().begin(), YamlKeys().end(),
                           [&](const auto& p) { return p.first == k; });
    if (it == YamlKeys().end()) {
      problems->push_back(
          MakeError(path, line_of(kv.first), name, "unknown key" + DidYouMean(k, known)));
      continue;
    }
    if (kv.second.IsNull()) continue;  // `key:` with nothing: the default
    if (!kv.second.IsScalar()) {
      problems->push_back(MakeError(path, line_of(kv.second), name, "expected a single value"));
      continue;
    }
    (*values)[it->second] = Value{kv.second.Scalar(), path, line_of(kv.second), name};
  }
}

void ResolveWatchdog(const std::function<const Value*(const std::string&)>& find,
                     std::vector<Problem>* problems, WatchdogSettings* w) {
  using std::chrono::hours;
  using std::chrono::milliseconds;
  using std::chrono::seconds;
  Converter c(find, problems);
  c.DurationValue("RINGRIFT_WATCHDOG_INTERVAL", milliseconds(10), hours(1), &w->interval);
  c.DurationValue("RINGRIFT_WATCHDOG_HEALTH_TIMEOUT", milliseconds(10), seconds(60),
                  &w->health_timeout);
  c.Int("RINGRIFT_WATCHDOG_DOWN_PROBES", 1, 100, &w->down_probes);
  c.Int("RINGRIFT_WATCHDOG_HANG_PROBES", 1, 100, &w->hang_probes);
  c.DurationValue("RINGRIFT_WATCHDOG_STARTUP_GRACE", Duration::zero(), hours(1),
                  &w->startup_grace);
  c.DurationValue("RINGRIFT_WATCHDOG_BACKOFF_INITIAL", Duration::zero(), hours(24),
                  &w->backoff_initial);
  c.DurationValue("RINGRIFT_WATCHDOG_BACKOFF_MAX", Duration::zero(), hours(24), &w->backoff_max);
  c.Int("RINGRIFT_WATCHDOG_RESTART_BUDGET", 1, 10000, &w->restart_budget);
  c.DurationValue("RINGRIFT_WATCHDOG_BUDGET_WINDOW", seconds(1), hours(24 * 7),
                  &w->budget_window);
  if (const Value* v = c.String("RINGRIFT_WATCHDOG_SERVICE_MANAGER", &w->service_manager)) {
    static const std::vector<std::string> kManagers = {"auto", "systemd", "launchd", "none"};
    if (std::find(kManagers.begin(), kManagers.end(), w->service_manager) == kManagers.end()) {
      c.Error(*v, "expected auto, systemd, launchd or none, got '" + w->service_manager + "'" +
                      DidYouMean(w->service_manager, kManagers));
    }
  }
  c.String("RINGRIFT_WATCHDOG_DAEMON_BINARY", &w->daemon_binary);
  c.Bool("RINGRIFT_WATCHDOG_FALLBACK", &w->fallback);
  c.DurationValue("RINGRIFT_WATCHDOG_DISCONNECT_GRACE", Duration::zero(), hours(24),
                  &w->disconnect_grace);
  c.Int("RINGRIFT_WATCHDOG_FALLBACK_MAX_JOBS", 1, 256, &w->fallback_max_jobs);
  c.DurationValue("RINGRIFT_WATCHDOG_REGISTER_INTERVAL", seconds(1), hours(24),
                  &w->register_interval);
  c.DurationValue("RINGRIFT_WATCHDOG_CLEANUP_INTERVAL", seconds(1), hours(24),
                  &w->cleanup_interval);
  c.String("RINGRIFT_RESILIENCE_LOG_FILE", &w->log_file);
  if (w->backoff_initial > w->backoff_max) {
    const Value* v = find("RINGRIFT_WATCHDOG_BACKOFF_INITIAL");
    if (!v) v = find("RINGRIFT_WATCHDOG_BACKOFF_MAX");
    if (v) {
      c.Error(*v, "the initial backoff (" + FormatDuration(w->backoff_initial) +
                      ") must not exceed the maximum (" + FormatDuration(w->backoff_max) + ")");
    }
  }
}

}  // namespace rift::settings::internal
