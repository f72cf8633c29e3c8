// CheckDeployment: checks that need the machine (files, sockets) or that apply to a Settings
// built by hand, for --check-config and `riftctl config check`.
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <sstream>

#include "orchestrator/settings/internal.h"
#include "orchestrator/settings/settings.h"

namespace rift::settings {
namespace {

using internal::MakeError;
using internal::MakeWarning;

// Load words its findings the same way but may point at a file line or a YAML key name.
bool SameProblem(const Problem& a, const Problem& b) {
  return a.severity == b.severity && a.message == b.message;
}

// Binds (and releases) host:port. Returns "" if free, else why not.
std::string TryBind(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const std::string service = std::to_string(port);
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) return std::string("cannot resolve bind host: ") + gai_strerror(rc);
  std::string why;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    // SO_REUSEADDR as the daemon sets it: TIME_WAIT leftovers are not "in use", listeners are.
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    int b = bind(fd, ai->ai_addr, ai->ai_addrlen);
    int err = errno;
    close(fd);
    if (b == 0) {
      freeaddrinfo(res);
      return "";
    }
    why = err == EADDRINUSE ? "in use (is another ringrift-p2p running?)" : std::strerror(err);
  }
  freeaddrinfo(res);
  return why;
}

std::string UrlHost(const std::string& url) {
  size_t start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  std::string auth = url.substr(start, url.find('/', start) - start);
  if (!auth.empty() && auth[0] == '[') return auth.substr(1, auth.find(']') - 1);
  return auth.substr(0, auth.find(':'));
}

bool IsLoopbackHost(const std::string& h) {
  return h == "localhost" || h == "::1" || h.rfind("127.", 0) == 0;
}

void CheckTokenFile(const Settings& s, std::vector<Problem>* out) {
  if (s.auth_token_file.empty()) return;
  const std::string key = "RINGRIFT_CLUSTER_AUTH_TOKEN_FILE";
  struct stat st {};
  if (::stat(s.auth_token_file.c_str(), &st) != 0 || access(s.auth_token_file.c_str(), R_OK)) {
    out->push_back(MakeError("", 0, key, "cannot read token file '" + s.auth_token_file + "'"));
    return;
  }
  if ((st.st_mode & 077) != 0) {
    std::ostringstream mode;
    mode << std::oct << (st.st_mode & 0777);
    out->push_back(MakeError("", 0, key,
                             "token file '" + s.auth_token_file +
                                 "' is accessible by group or others (mode 0" + mode.str() +
                                 "); run chmod 600 " + s.auth_token_file));
  }
}

void CheckIds(const Settings& s, std::vector<Problem>* out) {
  std::map<std::string, std::string> by_url;  // p2p url -> host id
  std::set<std::string> ids;
  for (const auto& h : s.hosts) {
    if (!ids.insert(h.id).second) {
      out->push_back(MakeError(s.hosts_file, h.line, "hosts." + h.id, "duplicate host id"));
    }
    std::string url = internal::NormalizeUrl(
        h.p2p_url.empty() && !h.ssh_host.empty() ? internal::HttpUrl(h.ssh_host, 8770) : h.p2p_url);
    if (url.empty()) continue;
    auto [it, fresh] = by_url.emplace(url, h.id);
    if (!fresh && it->second != h.id) {
      // One daemon under two ids splits its votes and its membership record.
      out->push_back(MakeError(s.hosts_file, h.line, "hosts." + h.id,
                               "same address " + url + " as host '" + it->second + "'"));
    }
  }
  std::set<std::string> voters;
  for (const auto& v : s.voters) {
    if (!voters.insert(v).second) {
      out->push_back(MakeError("", 0, "RINGRIFT_P2P_VOTERS", "voter '" + v + "' is listed twice"));
    }
  }
  if (!voters.empty() && voters.size() % 2 == 0) {
    out->push_back(MakeWarning("", 0, "RINGRIFT_P2P_VOTERS",
                               std::to_string(voters.size()) +
                                   " voters tolerate no more "
                                   "failures than " +
                                   std::to_string(voters.size() - 1) + "; use an odd count"));
  }
  if (!s.hosts.empty() && !s.FindHost(s.node_id)) {
    out->push_back(MakeWarning(s.hosts_file, 0, "NODE_ID",
                               "this node ('" + s.node_id + "') is not in the hosts file"));
  }
}

}  // namespace

void CheckDeployment(const Settings& s, std::vector<Problem>* problems) {
  std::vector<Problem> found;
  CheckTokenFile(s, &found);
  CheckIds(s, &found);
  if (s.port == 0) {
    found.push_back(MakeWarning("", 0, "P2P_PORT",
                                "0 picks a free port at every start: seeds that name this node "
                                "by a fixed port will not find it (fine for tests and demos)"));
  } else if (std::string why = TryBind(s.bind_host, s.port); !why.empty()) {
    found.push_back(
        MakeError("", 0, "P2P_PORT",
                  "cannot bind " + s.bind_host + ":" + std::to_string(s.port) + ": " + why));
  }
  if (IsLoopbackHost(UrlHost(s.advertise_url))) {
    for (const auto& seed : s.Seeds()) {
      if (!IsLoopbackHost(UrlHost(seed))) {
        found.push_back(MakeWarning("", 0, "ADVERTISE_URL",
                                    "advertises a loopback address (" + s.advertise_url +
                                        ") but has remote peers: they cannot reach this node"));
        break;
      }
    }
  }
  if (s.auth_token.empty()) {
    found.push_back(MakeWarning("", 0, "RINGRIFT_CLUSTER_AUTH_TOKEN",
                                "no cluster token: every endpoint is unauthenticated"));
  }
  // Load may already have reported some of these; report each once.
  for (auto& p : found) {
    bool dup = std::any_of(problems->begin(), problems->end(),
                           [&](const Problem& q) { return SameProblem(p, q); });
    if (!dup) problems->push_back(std::move(p));
  }
}

}  // namespace rift::settings
