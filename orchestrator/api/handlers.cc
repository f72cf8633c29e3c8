#include "orchestrator/api/handlers.h"

#include <cctype>
#include <charconv>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

#include "orchestrator/api/errors.h"
#include "orchestrator/api/metrics.h"
#include "orchestrator/protocol/codec.h"

namespace rift::api {
namespace {

using nlohmann::json;

HttpResponse Json(int status, const json& j) {
  return JsonResponse(status, j.dump(-1, ' ', false, json::error_handler_t::replace));
}

json NullableString(const std::optional<std::string>& s) { return s ? json(*s) : json(nullptr); }

json DataJson(const DataStats& d) {
  return {{"files", d.files},
          {"sealed_files", d.sealed_files},
          {"sealed_bytes", d.sealed_bytes},
          {"transfers_active", d.transfers_active},
          {"transfers_queued", d.transfers_queued},
          {"transfers_failed", d.transfers_failed},
          {"bytes_received", d.bytes_received}};
}

json JobsJson(const std::vector<RunningJob>& jobs) {
  json out = json::array();
  for (const auto& j : jobs) {
    out.push_back({{"id", j.id}, {"kind", j.kind}, {"pid", j.pid}, {"started_ms", j.started_ms}});
  }
  return out;
}

bool IsHealthyState(const PublishedState& s) { return IsHealthy(s.system); }

HttpResponse Health(NodeApi* node, const HttpRequest&) {
  auto s = node->State();
  const auto& c = s->core;
  return Json(200, {{"healthy", IsHealthyState(*s)},
                    {"node_id", c.node_id},
                    {"role", c.role},
                    {"disk_percent", s->system.disk_percent},
                    {"memory_percent", s->system.memory_percent},
                    {"cpu_percent", s->system.cpu_percent},
                    {"selfplay_jobs", s->system.selfplay_jobs},
                    {"training_jobs", s->system.training_jobs},
                    {"term", c.term},
                    {"leader_id", NullableString(c.leader_id)}});
}

HttpResponse StatusRoute(NodeApi* node, const HttpRequest&) {
  auto s = node->State();
  const auto& c = s->core;
  json members = json::array();
  for (const auto& m : c.members) {
    members.push_back({{"node_id", m.node_id},
                       {"url", m.url},
                       {"state", m.state},
                       {"incarnation", m.incarnation},
                       {"voter", m.voter},
                       {"outbound_only", m.outbound_only},
                       {"last_seen_ms", m.last_seen_ms}});
  }
  json conflicts = json::array();
  for (const auto& k : c.conflicts) {
    conflicts.push_back({{"node_id", k.node_id}, {"other_url", k.other_url}, {"detail", k.detail}});
  }
  return Json(200, {{"node_id", c.node_id},
                    {"url", c.url},
                    {"role", c.role},
                    {"term", c.term},
                    {"leader_id", NullableString(c.leader_id)},
                    {"leader_url", c.leader_url.empty() ? json(nullptr) : json(c.leader_url)},
                    {"quorum", c.quorum},
                    {"lease", c.lease},
                    {"voter", c.voter},
                    {"incarnation", c.incarnation},
                    {"healthy", IsHealthyState(*s)},
                    {"members", std::move(members)},
                    {"conflicts", std::move(conflicts)},
                    {"data", DataJson(s->data)},
                    {"jobs", JobsJson(s->jobs)}});
}

HttpResponse Metrics(NodeApi* node, const Router* router, const HttpRequest&) {
  HttpResponse r;
  r.content_type = kMetricsContentType;
  r.body = RenderMetrics(*node->State(), *router);
  return r;
}

HttpResponse PeerMessages(NodeApi* node, const HttpRequest& req) {
  auto batch = protocol::DecodeBatch(req.body);
  if (!batch.ok()) return ErrorResponse(InvalidArgument(batch.status().message()));
  if (batch->size() > kMaxBatch) {
    return ErrorResponse(ResourceExhausted("batch of " + std::to_string(batch->size()) +
                                           " envelopes exceeds " + std::to_string(kMaxBatch)));
  }
  HttpResponse r;
  r.body = protocol::EncodeBatch(node->Deliver(std::move(batch).value()));
  return r;
}

Result<uint64_t> ParseTerm(std::string_view text) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    return InvalidArgument("X-RingRift-Term: expected an unsigned integer");
  }
  return v;
}

// The leader term a request carries, if any: header first, then a JSON body's "term".
Result<std::optional<uint64_t>> RequestTerm(const HttpRequest& req) {
  if (auto h = req.Header("X-RingRift-Term"); !h.empty()) {
    RIFT_ASSIGN_OR_RETURN(uint64_t t, ParseTerm(h));
    return std::optional<uint64_t>(t);
  }
  if (req.body.empty()) return std::optional<uint64_t>();
  json j = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument("malformed JSON body");
  if (!j.is_object()) return InvalidArgument("body: expected a JSON object");
  if (!j.contains("term")) return std::optional<uint64_t>();
  if (!j["term"].is_number_unsigned()) return InvalidArgument("term: expected unsigned integer");
  return std::optional<uint64_t>(j["term"].get<uint64_t>());
}

HttpResponse NotLeaderResponse(const PublishedState& s) {
  const auto& c = s.core;
  std::string msg = "this node (" + c.node_id + ") is not the leader";
  if (c.leader_id) msg += "; the leader is " + *c.leader_id;
  return ErrorResponse(
      NotLeader(msg),
      {{"leader_id", c.leader_id},
       {"leader_url", c.leader_url.empty() ? std::nullopt : std::optional(c.leader_url)}});
}

HttpResponse LeaderPing(NodeApi* node, const HttpRequest&) {
  auto s = node->State();
  return Json(200, {{"node_id", s->core.node_id}, {"term", s->core.term}});
}

HttpResponse FencedEcho(NodeApi* node, const HttpRequest& req) {
  std::string h = req.Header("X-RingRift-Term");
  if (h.empty()) return ErrorResponse(InvalidArgument("X-RingRift-Term header is required"));
  auto term = ParseTerm(h);
  if (!term.ok()) return ErrorResponse(term.status());
  if (Status st = node->CheckTerm(*term); !st.ok()) return ErrorResponse(st);
  auto s = node->State();
  return Json(200, {{"node_id", s->core.node_id}, {"term", *term}, {"echo", req.body}});
}

bool IsNodeId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (unsigned char c : id) {
    if (!std::isalnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

// http(s)://host[:port] with an optional trailing '/', nothing else (no path, no spaces).
std::optional<std::string> NormalisedBaseUrl(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  size_t scheme = url.rfind("http://", 0) == 0 ? 7 : url.rfind("https://", 0) == 0 ? 8 : 0;
  if (scheme == 0 || url.size() == scheme || url.size() > 512) return std::nullopt;
  std::string_view rest(url.c_str() + scheme);
  if (rest.find_first_of("/?#@ \t\r\n") != std::string_view::npos) return std::nullopt;
  size_t colon = rest.rfind(':');
  size_t bracket = rest.rfind(']');
  if (colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket)) {
    std::string_view port = rest.substr(colon + 1);
    int p = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || p < 1 ||
        p > 65535 || colon == 0) {
      return std::nullopt;
    }
  }
  return url;
}

HttpResponse RegisterRoute(NodeApi* node, const HttpRequest& req) {
  json j = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return ErrorResponse(InvalidArgument("body: expected a JSON object {node_id, url, ssh_port?}"));
  }
  Registration r;
  if (!j.contains("node_id") || !j["node_id"].is_string() ||
      !IsNodeId(r.node_id = j["node_id"].get<std::string>())) {
    return ErrorResponse(InvalidArgument("node_id: expected a node id ([A-Za-z0-9._-], 1-64)"));
  }
  std::optional<std::string> url;
  if (j.contains("url") && j["url"].is_string()) url = NormalisedBaseUrl(j["url"]);
  if (!url) return ErrorResponse(InvalidArgument("url: expected http(s)://host:port"));
  r.url = *url;
  if (j.contains("ssh_port") && !j["ssh_port"].is_null()) {
    const json& p = j["ssh_port"];
    if (!p.is_number_integer() || p.get<int64_t>() < 1 || p.get<int64_t>() > 65535) {
      return ErrorResponse(InvalidArgument("ssh_port: expected an integer between 1 and 65535"));
    }
    r.ssh_port = p.get<int>();
  }
  auto added = node->Register(r);
  if (!added.ok()) return ErrorResponse(added.status());
  return Json(200, {{"node_id", r.node_id},
                    {"url", r.url},
                    {"ssh_port", r.ssh_port > 0 ? json(r.ssh_port) : json(nullptr)},
                    {"new_seed", *added},
                    {"registered_with", node->State()->core.node_id}});
}

}  // namespace

bool IsHealthy(const SystemStats& s) { return s.disk_percent < 90.0 && s.memory_percent < 95.0; }

Handler LeaderOnly(NodeApi* node, Handler handler) {
  return [node, handler = std::move(handler)](const HttpRequest& req) {
    auto term = RequestTerm(req);
    if (!term.ok()) return ErrorResponse(term.status());
    if (*term) {
      if (Status st = node->CheckTerm(**term); !st.ok()) return ErrorResponse(st);
    }
    if (!node->HasLease()) return NotLeaderResponse(*node->State());
    return handler(req);
  };
}

void RegisterRoutes(Router* router, NodeApi* node) {
  router->Add(
      "GET", "/health", [node](const HttpRequest& r) { return Health(node, r); }, Access::kPublic);
  router->Add("GET", "/status", [node](const HttpRequest& r) { return StatusRoute(node, r); });
  router->Add("GET", "/metrics",
              [node, router](const HttpRequest& r) { return Metrics(node, router, r); });
  for (const char* path : {"/gossip", "/election", "/heartbeat"}) {
    router->Add("POST", path, [node](const HttpRequest& r) { return PeerMessages(node, r); });
  }
  router->Add("POST", "/leader/ping",
              LeaderOnly(node, [node](const HttpRequest& r) { return LeaderPing(node, r); }));
  router->Add("POST", "/fenced/echo", [node](const HttpRequest& r) { return FencedEcho(node, r); });
  router->Add("POST", "/register", [node](const HttpRequest& r) { return RegisterRoute(node, r); });
}

}  // namespace rift::api
