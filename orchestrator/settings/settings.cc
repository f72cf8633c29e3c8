// settings::Load: merges the sources key by key, then converts and validates each value against
// the source it came from, so every problem can say file:line: KEY.
#include "orchestrator/settings/settings.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "orchestrator/settings/internal.h"

namespace rift::settings {
namespace {

using internal::Layer;
using internal::MakeError;
using internal::MakeWarning;
using internal::Value;

bool FileExists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

std::string Hostname() {
  std::array<char, 256> buf{};
  if (gethostname(buf.data(), buf.size() - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf.data();
}

// Resolves each key through the layers in precedence order and converts it, reporting problems
// against the winning source.
class Resolver {
 public:
  Resolver(std::vector<Problem>* problems) : problems_(problems) {}
  void AddLayer(const Layer* layer) { layers_.push_back(layer); }

  const Value* Find(const std::string& key) const {
    for (const Layer* layer : layers_) {
      auto it = layer->find(key);
      if (it != layer->end() && !it->second.value.empty()) return &it->second;
    }
    return nullptr;
  }

  void Error(const Value& v, const std::string& msg) {
    problems_->push_back(MakeError(v.file, v.line, v.name, msg));
  }
  void Warning(const Value& v, const std::string& msg) {
    problems_->push_back(MakeWarning(v.file, v.line, v.name, msg));
  }

  void String(const std::string& key, std::string* out) {
    if (const Value* v = Find(key)) *out = internal::Trim(v->value);
  }

  // Returns true if the key was given (and valid).
  bool Int(const std::string& key, int64_t lo, int64_t hi, int64_t* out) {
    const Value* v = Find(key);
    if (!v) return false;
    std::string s = internal::Trim(v->value);
    int64_t n = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || ptr != s.data() + s.size()) {
      Error(*v, "expected an integer, got '" + s + "'");
      return false;
    }
    if (n < lo || n > hi) {
      Error(*v,
            "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", got " + s);
      return false;
    }
    *out = n;
    return true;
  }

  // `lo` 0 means "any free port" is allowed: the daemon binds, then advertises what it got.
  void Port(const std::string& key, int* out, int lo = 1) {
    int64_t n = 0;
    if (Int(key, lo, 65535, &n)) *out = static_cast<int>(n);
  }

  bool Bool(const std::string& key, bool* out) {
    const Value* v = Find(key);
    if (!v) return false;
    std::string s = internal::Trim(v->value);
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    if (s == "1" || s == "true" || s == "yes" || s == "on") {
      *out = true;
    } else if (s == "0" || s == "false" || s == "no" || s == "off") {
      *out = false;
    } else {
      Error(*v, "expected true or false (1/0, yes/no, on/off), got '" + v->value + "'");
      return false;
    }
    return true;
  }

  void Url(const std::string& key, std::string* out) {
    const Value* v = Find(key);
    if (!v) return;
    std::string u = internal::NormalizeUrl(v->value);
    if (!internal::IsValidUrl(u)) {
      Error(*v, "expected http(s)://host:port, got '" + u + "'");
      return;
    }
    *out = u;
  }

  void UrlList(const std::string& key, std::vector<std::string>* out) {
    const Value* v = Find(key);
    if (!v) return;
    out->clear();
    for (auto& item : internal::SplitList(v->value)) {
      std::string u = internal::NormalizeUrl(item);
      if (!internal::IsValidUrl(u)) {
        Error(*v, "expected comma-separated http(s)://host:port URLs, got '" + u + "'");
        continue;
      }
      out->push_back(u);
    }
  }

  // A fraction strictly between 0 and 1 (watermarks). Returns true if given and valid.
  bool Fraction(const std::string& key, double* out) {
    const Value* v = Find(key);
    if (!v) return false;
    std::string s = internal::Trim(v->value);
    char* end = nullptr;
    errno = 0;
    double d = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || errno != 0 || !std::isfinite(d)) {
      Error(*v, "expected a fraction such as 0.8, got '" + s + "'");
      return false;
    }
    if (d <= 0 || d >= 1) {
      Error(*v, "must be between 0 and 1 (exclusive), got " + s);
      return false;
    }
    *out = d;
    return true;
  }

  void Seconds(const std::string& key, std::chrono::seconds* out) {
    int64_t n = 0;
    if (Int(key, 1, 7 * 86'400, &n)) *out = std::chrono::seconds(n);
  }

  void Millis(const std::string& key, std::chrono::milliseconds* out) {
    int64_t n = 0;
    if (Int(key, 1, 86'400'000, &n)) *out = std::chrono::milliseconds(n);
  }

 private:
  std::vector<Problem>* problems_;
  std::vector<const Layer*> layers_;
};

Layer FromMap(const std::map<std::string, std::string>& m, const std::string& origin,
              bool report_unknown, std::vector<Problem>* problems) {
  Layer layer;
  for (const auto& [k, v] : m) {
    if (!internal::IsKnownKey(k)) {
      // Flags are ours to define, so an unknown one is a bug; the environment holds anything.
      if (report_unknown) {
        problems->push_back(
            MakeError(origin, 0, k, "unknown setting" + internal::DidYouMean(k, KnownKeys())));
      }
      continue;
    }
    layer[k] = Value{v, origin, 0, k};
  }
  return layer;
}

void ResolveTimers(Resolver& r, Settings* s) {
  if (const Value* v = r.Find("RINGRIFT_TIMER_PROFILE")) {
    std::string name = internal::Trim(v->value);
    if (auto t = TimerProfile(name)) {
      s->timer_profile = name;
      s->timers = *t;
    } else {
      r.Error(*v, "unknown timer profile '" + name + "' (expected default, etcd or fast)");
    }
  }
  Timers& t = s->timers;
  r.Millis("RINGRIFT_PROBE_INTERVAL_MS", &t.probe_interval);
  r.Millis("RINGRIFT_PROBE_TIMEOUT_MS", &t.probe_timeout);
  r.Millis("RINGRIFT_SUSPICION_MIN_MS", &t.suspicion_min);
  r.Millis("RINGRIFT_SUSPICION_MAX_MS", &t.suspicion_max);
  r.Millis("RINGRIFT_DEAD_REAP_TTL_MS", &t.dead_reap_ttl);
  r.Millis("RINGRIFT_HEARTBEAT_MS", &t.heartbeat_interval);
  r.Millis("RINGRIFT_ELECTION_TIMEOUT_MS", &t.election_timeout);

  // Blame the override that broke the relation, or the profile if neither was overridden.
  auto blame = [&](const char* a, const char* b) -> Value {
    if (const Value* v = r.Find(a)) return *v;
    if (const Value* v = r.Find(b)) return *v;
    if (const Value* v = r.Find("RINGRIFT_TIMER_PROFILE")) return *v;
    return Value{"", "", 0, "timers"};
  };
  if (t.heartbeat_interval >= t.election_timeout) {
    r.Error(blame("RINGRIFT_HEARTBEAT_MS", "RINGRIFT_ELECTION_TIMEOUT_MS"),
            "heartbeat interval must be shorter than the election timeout");
  }
  if (t.suspicion_min > t.suspicion_max) {
    r.Error(blame("RINGRIFT_SUSPICION_MIN_MS", "RINGRIFT_SUSPICION_MAX_MS"),
            "suspicion_min must not exceed suspicion_max");
  }
  if (t.probe_timeout >= t.probe_interval) {
    r.Warning(blame("RINGRIFT_PROBE_TIMEOUT_MS", "RINGRIFT_PROBE_INTERVAL_MS"),
              "probe timeout is not shorter than the probe interval; probes will overlap");
  }
}

// sync/cleanup values with an environment override; the rest came from the YAML as is.
void ResolveDataPlane(Resolver& r, Settings* s) {
  r.Seconds("RINGRIFT_SYNC_INTERVAL_S", &s->sync.interval);
  r.Seconds("RINGRIFT_QUIET_PERIOD_S", &s->sync.quiet_period);
  if (const Value* v = r.Find("RINGRIFT_SYNC_CPU_PRIORITY")) {
    if (auto p = ParseCpuPriority(v->value)) {
      s->sync.cpu_priority = *p;
    } else {
      r.Error(*v, "expected idle, low or normal, got '" + v->value + "'");
    }
  }
  const bool high = r.Fraction("RINGRIFT_CLEANUP_HIGH_WATERMARK", &s->cleanup.high_watermark);
  const bool low = r.Fraction("RINGRIFT_CLEANUP_LOW_WATERMARK", &s->cleanup.low_watermark);
  if ((high || low) && s->cleanup.low_watermark >= s->cleanup.high_watermark) {
    // Blame the value that was given (the low one if both were).
    const Value* v =
        r.Find(low ? "RINGRIFT_CLEANUP_LOW_WATERMARK" : "RINGRIFT_CLEANUP_HIGH_WATERMARK");
    r.Error(*v, "the low watermark (" + std::to_string(s->cleanup.low_watermark) +
                    ") must be below the high watermark (" +
                    std::to_string(s->cleanup.high_watermark) +
                    "): cleanup starts above high "
                    "and stops at low");
  }
}

// RINGRIFT_CLUSTER_AUTH_TOKEN, else the token file (which must be private to its owner).
void ResolveToken(Resolver& r, Settings* s) {
  r.String("RINGRIFT_CLUSTER_AUTH_TOKEN", &s->auth_token);
  r.String("RINGRIFT_CLUSTER_AUTH_TOKEN_FILE", &s->auth_token_file);
  const Value* file = r.Find("RINGRIFT_CLUSTER_AUTH_TOKEN_FILE");
  if (s->auth_token.empty() && file) {
    struct stat st {};
    std::ifstream in(s->auth_token_file);
    if (!in || ::stat(s->auth_token_file.c_str(), &st) != 0) {
      r.Error(*file, "cannot read token file '" + s->auth_token_file + "'");
    } else if ((st.st_mode & 077) != 0) {
      std::ostringstream mode;
      mode << std::oct << (st.st_mode & 0777);
      r.Error(*file, "token file '" + s->auth_token_file +
                         "' is accessible by group or others "
                         "(mode 0" +
                         mode.str() + "); run chmod 600 " + s->auth_token_file);
    } else {
      std::stringstream buf;
      buf << in.rdbuf();
      s->auth_token = internal::Trim(buf.str());
      if (s->auth_token.empty()) r.Error(*file, "token file '" + s->auth_token_file + "' is empty");
    }
  }
  if (r.Bool("RINGRIFT_REQUIRE_AUTH", &s->require_auth) && s->require_auth &&
      s->auth_token.empty()) {
    r.Error(*r.Find("RINGRIFT_REQUIRE_AUTH"),
            "auth is required but no token is set (RINGRIFT_CLUSTER_AUTH_TOKEN or "
            "RINGRIFT_CLUSTER_AUTH_TOKEN_FILE)");
  }
}

void ResolveVoters(Resolver& r, Settings* s) {
  const Value* v = r.Find("RINGRIFT_P2P_VOTERS");
  Value origin{"", s->hosts_file, 0, "p2p_voter"};
  if (v) {
    origin = *v;
    s->voters = internal::SplitList(v->value);
  } else {
    for (const auto& h : s->hosts) {
      if (h.p2p_voter) s->voters.push_back(h.id);
    }
  }
  std::set<std::string> seen;
  for (const auto& id : s->voters) {
    if (!internal::IsValidId(id)) {
      r.Error(origin, "invalid voter id '" + id + "'");
    } else if (!seen.insert(id).second) {
      r.Error(origin, "voter '" + id + "' is listed twice");
    } else if (!s->hosts.empty() && !s->FindHost(id)) {
      r.Warning(origin, "voter '" + id + "' is not in the hosts file");
    }
  }
  if (!s->voters.empty() && s->voters.size() % 2 == 0) {
    r.Warning(origin, std::to_string(s->voters.size()) + " voters tolerate no more failures than " +
                          std::to_string(s->voters.size() - 1) + "; use an odd count");
  }

  const Value* leader = r.Find("RINGRIFT_PREFERRED_LEADER");
  r.String("RINGRIFT_PREFERRED_LEADER", &s->preferred_leader);
  const Value* mode = r.Find("RINGRIFT_LEADER_MODE");
  r.String("RINGRIFT_LEADER_MODE", &s->leader_mode);
  if (mode && s->leader_mode != "elected" && s->leader_mode != "static") {
    r.Error(*mode, "expected elected or static, got '" + s->leader_mode + "'");
  }
  bool leader_is_voter =
      std::find(s->voters.begin(), s->voters.end(), s->preferred_leader) != s->voters.end();
  if (leader && !internal::IsValidId(s->preferred_leader)) {
    r.Error(*leader, "invalid node id '" + s->preferred_leader + "'");
  } else if (leader && !s->voters.empty() && !leader_is_voter) {
    // In static mode only the preferred leader campaigns, so it must be able to win.
    if (s->leader_mode == "static") {
      r.Error(*leader, "leader_mode static needs the preferred leader among the voters");
    } else {
      r.Warning(*leader, "preferred leader '" + s->preferred_leader + "' is not a voter");
    }
  }
  if (s->leader_mode == "static" && s->preferred_leader.empty()) {
    r.Error(mode ? *mode : origin, "leader_mode static needs preferred_leader");
  }
}

}  // namespace

Result<Settings> Load(const Sources& src, std::vector<Problem>* problems) {
  std::vector<Problem> found;
  Settings s;
  const Layer flags = FromMap(src.flags, "flags", true, &found);
  const Layer env = FromMap(src.env, "environment", false, &found);
  Layer conf;
  std::optional<std::string> conf_path = src.node_conf_path;
  if (!conf_path && src.use_default_paths && FileExists(internal::kDefaultNodeConf)) {
    conf_path = internal::kDefaultNodeConf;
  }
  if (conf_path) conf = internal::ParseNodeConf(*conf_path, &found);

  Resolver r(&found);
  r.AddLayer(&flags);
  r.AddLayer(&env);
  r.AddLayer(&conf);

  r.String("RINGRIFT_DIR", &s.ringrift_dir);
  std::optional<std::string> hosts_path = src.hosts_yaml_path;
  if (!hosts_path) {
    if (const Value* v = r.Find("RINGRIFT_HOSTS_FILE")) hosts_path = internal::Trim(v->value);
  }
  if (!hosts_path && src.use_default_paths) {
    std::string def = s.ringrift_dir + "/config/distributed_hosts.yaml";
    if (FileExists(def)) hosts_path = def;
  }
  internal::HostsFile hf;
  if (hosts_path) {
    hf = internal::ParseHostsYaml(*hosts_path, &found);
    s.hosts_file = *hosts_path;
    s.hosts = std::move(hf.hosts);
    s.file_classes = std::move(hf.file_classes);
    s.sync = hf.sync;
    s.cleanup = hf.cleanup;
    s.jobs = std::move(hf.jobs);
    s.improvement = hf.improvement;
    s.pipeline = std::move(hf.pipeline);
  }
  r.AddLayer(&hf.values);

  if (const Value* v = r.Find("NODE_ID")) {
    s.node_id = internal::Trim(v->value);
    if (!internal::IsValidId(s.node_id)) {
      r.Error(*v, "invalid node id '" + s.node_id + "' (use [A-Za-z0-9._-], 1-64 characters)");
    }
  } else if (src.require_node_id) {
    found.push_back(MakeError("", 0, "NODE_ID",
                              "not set (set NODE_ID in node.conf or the environment, or pass "
                              "--node-id)"));
  }
  const Host* self = s.FindHost(s.node_id);
  r.Port("P2P_PORT", &s.port, /*lo=*/0);
  r.String("BIND_HOST", &s.bind_host);
  r.Url("ADVERTISE_URL", &s.advertise_url);
  if (s.advertise_url.empty()) {
    s.advertise_url = internal::HttpUrl(IsLoopback(s.bind_host) ? "127.0.0.1" : Hostname(), s.port);
  }
  r.Url("COORDINATOR_URL", &s.coordinator_url);
  r.UrlList("EXTRA_PEERS", &s.extra_peers);
  if (self) s.ssh_port = self->ssh_port;  // the original's setup script did the same
  r.Port("SSH_PORT", &s.ssh_port);
  r.String("RINGRIFT_LOG_FILE", &s.log_file);
  if (self) s.outbound_only = self->nat_blocked;
  r.Bool("RINGRIFT_OUTBOUND_ONLY", &s.outbound_only);
  ResolveTimers(r, &s);
  ResolveDataPlane(r, &s);
  ResolveToken(r, &s);
  ResolveVoters(r, &s);
  internal::ResolveWatchdog([&r](const std::string& k) { return r.Find(k); }, &found,
                            &s.watchdog);

  const bool failed = HasErrors(found);
  size_t errors = std::count_if(found.begin(), found.end(), [](const Problem& p) {
    return p.severity == Problem::Severity::kError;
  });
  std::string first;
  for (const auto& p : found) {
    if (p.severity == Problem::Severity::kError) {
      first = p.ToString();
      break;
    }
  }
  problems->insert(problems->end(), found.begin(), found.end());
  if (failed) {
    return InvalidArgument(std::to_string(errors) + " configuration error(s); first: " + first);
  }
  return s;
}

}  // namespace rift::settings
