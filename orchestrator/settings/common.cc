#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "orchestrator/settings/internal.h"
#include "orchestrator/settings/settings.h"

namespace rift::settings {

const std::vector<std::string>& KnownKeys() {
  static const std::vector<std::string> kKeys = {
      "NODE_ID",
      "P2P_PORT",
      "BIND_HOST",
      "ADVERTISE_URL",
      "COORDINATOR_URL",
      "EXTRA_PEERS",
      "RINGRIFT_DIR",
      "RINGRIFT_P2P_VOTERS",
      "RINGRIFT_PREFERRED_LEADER",
      "RINGRIFT_LEADER_MODE",
      "RINGRIFT_CLUSTER_AUTH_TOKEN",
      "RINGRIFT_CLUSTER_AUTH_TOKEN_FILE",
      "RINGRIFT_REQUIRE_AUTH",
      "SSH_PORT",
      "RINGRIFT_HOSTS_FILE",
      "RINGRIFT_TIMER_PROFILE",
      "RINGRIFT_LOG_FILE",
      "RINGRIFT_OUTBOUND_ONLY",
      "RINGRIFT_PROBE_INTERVAL_MS",
      "RINGRIFT_PROBE_TIMEOUT_MS",
      "RINGRIFT_SUSPICION_MIN_MS",
      "RINGRIFT_SUSPICION_MAX_MS",
      "RINGRIFT_DEAD_REAP_TTL_MS",
      "RINGRIFT_HEARTBEAT_MS",
      "RINGRIFT_ELECTION_TIMEOUT_MS",
      "RINGRIFT_SYNC_INTERVAL_S",
      "RINGRIFT_QUIET_PERIOD_S",
      "RINGRIFT_SYNC_CPU_PRIORITY",
      "RINGRIFT_CLEANUP_HIGH_WATERMARK",
      "RINGRIFT_CLEANUP_LOW_WATERMARK",
  };
  // ringrift-resilience's own keys (watchdog.cc).
  static const std::vector<std::string> kAll = [] {
    std::vector<std::string> all = kKeys;
    const auto& watchdog = internal::WatchdogKeys();
    all.insert(all.end(), watchdog.begin(), watchdog.end());
    return all;
  }();
  return kAll;
}

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (const auto& key : KnownKeys()) {
    if (const char* v = std::getenv(key.c_str())) env[key] = v;
  }
  return env;
}

bool HasErrors(const std::vector<Problem>& problems) {
  return std::any_of(problems.begin(), problems.end(),
                     [](const Problem& p) { return p.severity == Problem::Severity::kError; });
}

int PrintProblems(const std::vector<Problem>& problems) {
  int errors = 0;
  for (const auto& p : problems) {
    std::fprintf(stderr, "%s\n", p.ToString().c_str());
    errors += p.severity == Problem::Severity::kError;
  }
  return errors;
}

std::string Problem::ToString() const {
  std::string out;
  if (!file.empty()) {
    out += file;
    if (line > 0) out += ":" + std::to_string(line);
    out += ": ";
  }
  if (!key.empty()) out += key + ": ";
  if (severity == Severity::kWarning) out += "warning: ";
  out += message;
  return out;
}

std::optional<Timers> TimerProfile(const std::string& name) {
  using std::chrono::milliseconds;
  if (name == "default") return Timers{};
  Timers t;
  if (name == "etcd") {
    t.heartbeat_interval = milliseconds(100);
    t.election_timeout = milliseconds(1000);
    t.probe_interval = milliseconds(500);
    t.probe_timeout = milliseconds(250);
    t.suspicion_min = milliseconds(1500);
    t.suspicion_max = milliseconds(6000);
    return t;
  }
  if (name == "fast") {
    t.heartbeat_interval = milliseconds(50);
    t.election_timeout = milliseconds(250);
    t.probe_interval = milliseconds(200);
    t.probe_timeout = milliseconds(100);
    t.suspicion_min = milliseconds(600);
    t.suspicion_max = milliseconds(3000);
    return t;
  }
  return std::nullopt;
}

const Host* Settings::FindHost(std::string_view id) const {
  for (const auto& h : hosts) {
    if (h.id == id) return &h;
  }
  return nullptr;
}

std::vector<std::string> Settings::Seeds() const {
  std::vector<std::string> out;
  const std::string self = internal::NormalizeUrl(advertise_url);
  auto add = [&](const std::string& url) {
    if (url.empty()) return;
    std::string u = internal::NormalizeUrl(url);
    if (u == self) return;
    if (std::find(out.begin(), out.end(), u) != out.end()) return;
    out.push_back(std::move(u));
  };
  add(coordinator_url);
  for (const auto& p : extra_peers) add(p);
  for (const auto& h : hosts) {
    if (h.id == node_id) continue;  // our own entry may name another interface of this machine
    if (!h.p2p_url.empty()) {
      add(h.p2p_url);
    } else if (!h.ssh_host.empty()) {
      add(internal::HttpUrl(h.ssh_host, internal::kDefaultP2pPort));
    }
  }
  return out;
}

namespace internal {

Problem MakeError(std::string file, int line, std::string key, std::string message) {
  return Problem{Problem::Severity::kError, std::move(file), line, std::move(key),
                 std::move(message)};
}

Problem MakeWarning(std::string file, int line, std::string key, std::string message) {
  return Problem{Problem::Severity::kWarning, std::move(file), line, std::move(key),
                 std::move(message)};
}

bool IsKnownKey(std::string_view key) {
  const auto& keys = KnownKeys();
  return std::find(keys.begin(), keys.end(), key) != keys.end();
}

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

bool IsValidUrl(std::string_view url) {
  std::string_view rest;
  if (url.substr(0, 7) == "http://") {
    rest = url.substr(7);
  } else if (url.substr(0, 8) == "https://") {
    rest = url.substr(8);
  } else {
    return false;
  }
  rest = rest.substr(0, rest.find('/'));                       // authority only
  if (rest.find('@') != std::string_view::npos) return false;  // no userinfo: tokens go in headers
  std::string_view host = rest;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return false;
      port = after.substr(1);
      if (port.empty()) return false;
    }
    if (!std::all_of(host.begin(), host.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
        })) {
      return false;
    }
  } else {
    size_t colon = rest.find(':');
    if (colon != std::string_view::npos) {
      host = rest.substr(0, colon);
      port = rest.substr(colon + 1);
      if (port.empty()) return false;
    }
    if (host.empty()) return false;
    if (!std::all_of(host.begin(), host.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
        })) {
      return false;
    }
  }
  if (!port.empty()) {
    int p = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || ptr != port.data() + port.size() || p < 1 || p > 65535) {
      return false;
    }
  }
  return true;
}

std::string NormalizeUrl(std::string_view url) {
  std::string u = Trim(url);
  while (!u.empty() && u.back() == '/') u.pop_back();
  return u;
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::vector<std::string> SplitList(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string_view::npos) comma = s.size();
    std::string item = Trim(s.substr(start, comma - start));
    if (!item.empty()) out.push_back(std::move(item));
    start = comma + 1;
  }
  return out;
}

namespace {
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (std::toupper(static_cast<unsigned char>(a[i - 1])) ==
                                          std::toupper(static_cast<unsigned char>(b[j - 1]))
                                      ? 0
                                      : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
}  // namespace

std::string DidYouMean(std::string_view key, const std::vector<std::string>& candidates) {
  // A third of the key's length catches typos and dropped prefixes without random matches.
  size_t best = std::max<size_t>(2, key.size() / 3) + 1;
  const std::string* match = nullptr;
  for (const auto& c : candidates) {
    size_t d = EditDistance(key, c);
    if (d < best) {
      best = d;
      match = &c;
    }
  }
  return match ? " (did you mean '" + *match + "'?)" : "";
}

std::string HttpUrl(const std::string& host, int port) {
  bool v6 = host.find(':') != std::string::npos && host.front() != '[';
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace internal
}  // namespace rift::settings

namespace rift::settings {

Result<std::vector<TemplatePiece>> SplitTemplate(std::string_view text) {
  std::vector<TemplatePiece> out;
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) out.push_back({false, std::move(literal)});
    literal.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '}') {
      if (i + 1 < text.size() && text[i + 1] == '}') {
        literal += '}';
        ++i;
        continue;
      }
      return InvalidArgument("stray '}' at position " + std::to_string(i) + " in '" +
                             std::string(text) + "' (write '}}' for a literal brace)");
    }
    if (c != '{') {
      literal += c;
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '{') {
      literal += '{';
      ++i;
      continue;
    }
    size_t end = text.find('}', i + 1);
    if (end == std::string_view::npos) {
      return InvalidArgument("unclosed '{' at position " + std::to_string(i) + " in '" +
                             std::string(text) + "'");
    }
    std::string_view name = text.substr(i + 1, end - i - 1);
    bool valid = !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.';
    });
    if (!valid) {
      return InvalidArgument("bad placeholder '{" + std::string(name) + "}' in '" +
                             std::string(text) + "' (names are [A-Za-z0-9_.]+)");
    }
    flush();
    out.push_back({true, std::string(name)});
    i = end;
  }
  flush();
  return out;
}

}  // namespace rift::settings
