#include "orchestrator/improve/routes.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "orchestrator/api/errors.h"
#include "orchestrator/api/handlers.h"
#include "orchestrator/improve/cluster_io.h"

namespace rift::improve {
namespace {

using nlohmann::json;

api::HttpResponse Json(int status, const json& j) {
  return api::JsonResponse(status, j.dump(-1, ' ', false, json::error_handler_t::replace));
}

Result<json> BodyObject(const api::HttpRequest& req) {
  if (req.body.empty()) return json::object();
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return InvalidArgument("body: expected a JSON object");
  return j;
}

template <typename T>
Status ReadNumber(const json& body, const char* key, T lo, T hi, std::optional<T>* out) {
  if (!body.contains(key) || body[key].is_null()) return Status::Ok();
  const json& v = body[key];
  bool integral = std::is_integral_v<T>;
  if (!v.is_number() || (integral && !v.is_number_integer())) {
    return InvalidArgument(std::string(key) + ": expected " +
                           (integral ? "an integer" : "a number") + ", got " + v.dump());
  }
  T x = v.get<T>();
  if (x < lo || x > hi) {
    return InvalidArgument(std::string(key) + ": " + v.dump() + " is out of range [" +
                           json(lo).dump() + ", " + json(hi).dump() + "]");
  }
  *out = x;
  return Status::Ok();
}

bool IsBoard(const std::string& b) {
  auto x = b.find('x');
  if (x == std::string::npos || x == 0 || x + 1 >= b.size() || x > 2 || b.size() - x - 1 > 2) {
    return false;
  }
  for (size_t i = 0; i < b.size(); ++i) {
    if (i != x && (b[i] < '0' || b[i] > '9')) return false;
  }
  return true;
}

Result<StartOptions> ParseStart(const json& b) {
  static const std::set<std::string> kKeys = {"iterations", "games_per_iteration", "eval_games",
                                              "promote_win_rate", "board"};
  for (const auto& [k, v] : b.items()) {
    if (!kKeys.count(k)) {
      return InvalidArgument("unknown field '" + k +
                             "' (known: iterations, games_per_iteration, eval_games, "
                             "promote_win_rate, board)");
    }
  }
  StartOptions o;
  RIFT_RETURN_IF_ERROR(ReadNumber(b, "iterations", 1, 10000, &o.iterations));
  RIFT_RETURN_IF_ERROR(ReadNumber(b, "games_per_iteration", 1, 10'000'000, &o.games_per_iteration));
  RIFT_RETURN_IF_ERROR(ReadNumber(b, "eval_games", 1, 1'000'000, &o.eval_games));
  RIFT_RETURN_IF_ERROR(ReadNumber(b, "promote_win_rate", 0.0, 1.0, &o.promote_win_rate));
  if (b.contains("board") && !b["board"].is_null()) {
    if (!b["board"].is_string() || !IsBoard(b["board"].get<std::string>())) {
      return InvalidArgument("board: expected ROWSxCOLS such as \"6x7\", got " + b["board"].dump());
    }
    o.board = b["board"].get<std::string>();
  }
  return o;
}

api::HttpResponse StartRoute(const RouteContext& c, const api::HttpRequest& req) {
  auto body = BodyObject(req);
  if (!body.ok()) return api::ErrorResponse(body.status());
  auto opts = ParseStart(*body);
  if (!opts.ok()) return api::ErrorResponse(opts.status());
  auto id = c.service->StartLoop(*opts);
  if (!id.ok()) return api::ErrorResponse(id.status());
  return Json(201, {{"loop_id", *id}, {"status", json::parse(c.service->StatusJson())}});
}

api::HttpResponse StopRoute(const RouteContext& c, const api::HttpRequest&) {
  auto id = c.service->StopLoop();
  if (!id.ok()) return api::ErrorResponse(id.status());
  return Json(200, {{"stopped", !id->empty()}, {"loop_id", *id}});
}

api::HttpResponse GetState(const RouteContext& c, const api::HttpRequest&) {
  StoredState s = c.store->Load();
  json state = s.empty() ? json(nullptr) : json::parse(s.state, nullptr, false);
  return Json(200, {{"node_id", c.node->State()->core.node_id},
                    {"term", s.term},
                    {"seq", s.seq},
                    {"state", state}});
}

api::HttpResponse PutState(const RouteContext& c, const api::HttpRequest& req) {
  auto body = BodyObject(req);
  if (!body.ok()) return api::ErrorResponse(body.status());
  const json& b = *body;
  if (!b.contains("term") || !b["term"].is_number_unsigned() || !b.contains("seq") ||
      !b["seq"].is_number_unsigned() || !b.contains("state") || !b["state"].is_object()) {
    return api::ErrorResponse(
        InvalidArgument("expected {term: unsigned, seq: unsigned, state: object}"));
  }
  uint64_t term = b["term"].get<uint64_t>();
  if (auto h = req.Header("X-RingRift-Term"); !h.empty()) {
    uint64_t ht = 0;
    auto [p, ec] = std::from_chars(h.data(), h.data() + h.size(), ht);
    if (ec != std::errc() || p != h.data() + h.size() || ht != term) {
      return api::ErrorResponse(InvalidArgument("X-RingRift-Term must equal the body's term"));
    }
  }
  if (Status st = c.node->CheckTerm(term); !st.ok()) return api::ErrorResponse(st);
  StoredState s{term, b["seq"].get<uint64_t>(), b["state"].dump()};
  if (Status st = c.store->Store(s); !st.ok()) return api::ErrorResponse(st);
  return Json(200, {{"stored", true}, {"term", s.term}, {"seq", s.seq}});
}

api::HttpResponse Commands(const RouteContext& c, const api::HttpRequest& req) {
  auto body = BodyObject(req);
  if (!body.ok()) return api::ErrorResponse(body.status());
  const json& b = *body;
  if (!b.contains("node_id") || !b["node_id"].is_string() || !b.contains("capacity") ||
      !b["capacity"].is_object()) {
    return api::ErrorResponse(
        InvalidArgument("expected {node_id: string, capacity: object, jobs: array}"));
  }
  auto cap = internal::ParseCapacity(b["capacity"].dump());
  if (!cap.ok()) return api::ErrorResponse(cap.status());
  cap->node_id = b["node_id"].get<std::string>();
  std::string jobs = b.value("jobs", json::array()).dump();
  json out = json::array();
  for (auto& cmd : c.service->OnPoll(*cap, jobs)) {
    out.push_back({{"op", cmd.op}, {"body", json::parse(cmd.body, nullptr, false)}});
  }
  return Json(200, {{"term", c.node->State()->core.term}, {"commands", out}});
}

api::HttpResponse CapacityRoute(const RouteContext& c, const api::HttpRequest&) {
  return api::JsonResponse(200, internal::CapacityJson(c.capacity()));
}

}  // namespace

void RegisterImprovementRoutes(api::Router* router, const RouteContext& c) {
  router->Add("POST", "/improvement/start",
              api::LeaderOnly(c.node, [c](const api::HttpRequest& r) { return StartRoute(c, r); }));
  router->Add("GET", "/improvement/status", api::LeaderOnly(c.node, [c](const api::HttpRequest&) {
                return api::JsonResponse(200, c.service->StatusJson());
              }));
  router->Add("POST", "/improvement/stop",
              api::LeaderOnly(c.node, [c](const api::HttpRequest& r) { return StopRoute(c, r); }));
  router->Add("GET", "/improvement/state",
              [c](const api::HttpRequest& r) { return GetState(c, r); });
  router->Add("POST", "/improvement/state",
              [c](const api::HttpRequest& r) { return PutState(c, r); });
  router->Add("POST", "/leader/commands",
              api::LeaderOnly(c.node, [c](const api::HttpRequest& r) { return Commands(c, r); }));
  router->Add("GET", "/scheduler/capacity",
              [c](const api::HttpRequest& r) { return CapacityRoute(c, r); });
}

}  // namespace rift::improve
