#include "orchestrator/api/router.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "orchestrator/api/errors.h"
#include "orchestrator/api/fake_node_api_for_test.h"
#include "orchestrator/api/handlers.h"
#include "orchestrator/api/metrics.h"
#include "orchestrator/protocol/codec.h"

namespace rift::api {
namespace {

using nlohmann::json;

constexpr char kToken[] = "s3cret-token";

class RouterTest : public ::testing::Test {
 protected:
  RouterTest() : router_(kToken) { RegisterRoutes(&router_, &node_); }

  HttpResponse Call(std::string method, std::string path, std::string body = "",
                    Headers headers = {{"Authorization", std::string("Bearer ") + kToken}}) {
    HttpRequest r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.body = std::move(body);
    r.headers = std::move(headers);
    r.remote_addr = "127.0.0.1";
    return router_.Handle(r);
  }
  static std::string ErrorCode(const HttpResponse& r) {
    return json::parse(r.body)["error"]["code"].get<std::string>();
  }
  std::string Batch() {
    protocol::Envelope e;
    e.from_id = "n2";
    e.from_url = "http://10.0.0.2:8770";
    e.to_id = "n1";
    e.body = protocol::Ping{5, "", {}};
    return protocol::EncodeBatch({e});
  }

  FakeNodeApi node_;
  Router router_;
};

struct RouteCase {
  const char* method;
  const char* path;
};
const RouteCase kTokenRoutes[] = {{"GET", "/status"},      {"GET", "/metrics"},
                                  {"POST", "/gossip"},     {"POST", "/election"},
                                  {"POST", "/heartbeat"},  {"POST", "/leader/ping"},
                                  {"POST", "/fenced/echo"}, {"POST", "/register"}};

TEST_F(RouterTest, HealthIsPublicAndCarriesTheOriginalFieldsPlusTermAndLeader) {
  auto r = Call("GET", "/health", "", {});
  ASSERT_EQ(r.status, 200);
  auto j = json::parse(r.body);
  for (const char* key : {"healthy", "node_id", "role", "disk_percent", "memory_percent",
                          "cpu_percent", "selfplay_jobs", "training_jobs", "term", "leader_id"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["healthy"], true);
  EXPECT_EQ(j["term"], 3);
  EXPECT_EQ(j["leader_id"], "n2");
}

TEST_F(RouterTest, HealthTurnsUnhealthyAtTheOriginalThresholds) {
  node_.state->system.disk_percent = 90;
  EXPECT_EQ(json::parse(Call("GET", "/health", "", {}).body)["healthy"], false);
  node_.state->system.disk_percent = 50;
  node_.state->system.memory_percent = 95;
  EXPECT_EQ(json::parse(Call("GET", "/health", "", {}).body)["healthy"], false);
}

TEST_F(RouterTest, EveryTokenRouteRefusesMissingAndWrongTokens) {
  for (const auto& rc : kTokenRoutes) {
    for (const Headers& h :
         {Headers{}, Headers{{"Authorization", "Bearer wrong"}},
          Headers{{"X-RingRift-Auth", "s3cret-toke"}}, Headers{{"Authorization", kToken}}}) {
      auto r = Call(rc.method, rc.path, "", h);
      EXPECT_EQ(r.status, 401) << rc.path;
      EXPECT_EQ(ErrorCode(r), "UNAUTHENTICATED") << rc.path;
    }
  }
}

TEST_F(RouterTest, AcceptsBearerAndRingRiftAuthHeaders) {
  EXPECT_EQ(Call("GET", "/status").status, 200);
  EXPECT_EQ(Call("GET", "/status", "", {{"x-ringrift-auth", kToken}}).status, 200);
}

TEST_F(RouterTest, NoTokenConfiguredMeansOpen) {
  Router open("");
  RegisterRoutes(&open, &node_);
  HttpRequest r;
  r.method = "GET";
  r.path = "/status";
  EXPECT_EQ(open.Handle(r).status, 200);
}

TEST_F(RouterTest, StatusListsMembersAndNullLeaderWhenNone) {
  auto j = json::parse(Call("GET", "/status").body);
  EXPECT_EQ(j["role"], "follower");
  ASSERT_EQ(j["members"].size(), 1u);
  EXPECT_EQ(j["members"][0]["state"], "alive");
  EXPECT_EQ(j["members"][0]["last_seen_ms"], 12);
  node_.state->core.leader_id.reset();
  node_.state->core.leader_url.clear();
  j = json::parse(Call("GET", "/status").body);
  EXPECT_TRUE(j["leader_id"].is_null());
  EXPECT_TRUE(j["leader_url"].is_null());
}

TEST_F(RouterTest, UnknownRouteIs404AndWrongMethodIs405WithAllow) {
  auto r = Call("GET", "/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorCode(r), "NOT_FOUND");
  r = Call("DELETE", "/status");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.headers["Allow"], "GET");
  EXPECT_EQ(ErrorCode(r), "METHOD_NOT_ALLOWED");
}

TEST_F(RouterTest, MalformedBatchIs400WithTheProblem) {
  auto r = Call("POST", "/gossip", "{\"messages\": [");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorCode(r), "INVALID_ARGUMENT");
  EXPECT_FALSE(json::parse(r.body)["error"]["message"].get<std::string>().empty());
}

TEST_F(RouterTest, PeerBatchIsDeliveredAndRepliesComeBack) {
  auto r = Call("POST", "/gossip", Batch());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(node_.delivered, 1u);
  auto replies = protocol::DecodeBatch(r.body);
  ASSERT_TRUE(replies.ok());
  ASSERT_EQ(replies->size(), 1u);
  EXPECT_EQ((*replies)[0].to_id, "n2");
}

TEST_F(RouterTest, LeaderOnlyOnAFollowerIs421NamingTheLeader) {
  auto r = Call("POST", "/leader/ping");
  EXPECT_EQ(r.status, 421);
  auto j = json::parse(r.body);
  EXPECT_EQ(j["error"]["code"], "NOT_LEADER");
  EXPECT_EQ(j["leader_id"], "n2");
  EXPECT_EQ(j["leader_url"], "http://10.0.0.2:8770");
  node_.lease = true;
  r = Call("POST", "/leader/ping");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["term"], 3);
}

TEST_F(RouterTest, StaleTermIsRefusedWith409FromHeaderOrBody) {
  node_.lease = true;
  auto r =
      Call("POST", "/leader/ping", "", {{"X-RingRift-Auth", kToken}, {"X-RingRift-Term", "2"}});
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(ErrorCode(r), "STALE_TERM");
  r = Call("POST", "/leader/ping", R"({"term": 1})");
  EXPECT_EQ(r.status, 409);
  r = Call("POST", "/leader/ping", R"({"term": "x"})");
  EXPECT_EQ(r.status, 400);
  r = Call("POST", "/leader/ping", "{not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Call("POST", "/leader/ping", R"({"term": 3})").status, 200);
}

TEST_F(RouterTest, FencedEchoNeedsACurrentTerm) {
  EXPECT_EQ(Call("POST", "/fenced/echo", "hi").status, 400);
  Headers h{{"X-RingRift-Auth", kToken}, {"X-RingRift-Term", "1"}};
  EXPECT_EQ(Call("POST", "/fenced/echo", "hi", h).status, 409);
  h["X-RingRift-Term"] = "3";
  auto r = Call("POST", "/fenced/echo", "hi", h);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["echo"], "hi");
  h["X-RingRift-Term"] = "-1";
  EXPECT_EQ(Call("POST", "/fenced/echo", "hi", h).status, 400);
}

TEST_F(RouterTest, ThrowingHandlerBecomesA500WithoutItsText) {
  router_.Add("GET", "/boom", [](const HttpRequest&) -> HttpResponse {
    throw std::runtime_error("secret detail");
  });
  auto r = Call("GET", "/boom");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(ErrorCode(r), "INTERNAL");
  EXPECT_EQ(r.body.find("secret detail"), std::string::npos);
}

TEST_F(RouterTest, MetricsCountRequestsByRoutePatternNotRawPath) {
  Call("GET", "/status");
  Call("GET", "/no/such/a");
  Call("GET", "/no/such/b");
  auto counts = router_.RequestCounts();
  EXPECT_EQ((counts[{"/status", 200}]), 1u);
  EXPECT_EQ((counts[{"unmatched", 404}]), 2u);
  auto r = Call("GET", "/metrics");
  EXPECT_EQ(r.content_type.rfind("text/plain; version=0.0.4", 0), 0u);
  EXPECT_NE(r.body.find("ringrift_http_requests_total{route=\"/status\",code=\"200\"} 1"),
            std::string::npos);
  EXPECT_NE(r.body.find("ringrift_members{state=\"alive\"} 1"), std::string::npos);
  EXPECT_NE(r.body.find("ringrift_term 3"), std::string::npos);
}

TEST_F(RouterTest, MetricsPassPromtool) {
  const char* promtool = "/usr/bin/promtool";
  if (!std::filesystem::exists(promtool)) GTEST_SKIP() << "promtool not installed; skipping";
  Call("GET", "/status");
  auto path = std::filesystem::temp_directory_path() /
              ("rift-metrics-" + std::to_string(::getpid()) + ".txt");
  std::ofstream(path) << Call("GET", "/metrics").body;
  std::string cmd = std::string(promtool) + " check metrics < " + path.string() + " 2>&1";
  int rc = std::system(cmd.c_str());
  std::filesystem::remove(path);
  EXPECT_EQ(rc, 0) << "promtool check metrics failed";
}

TEST_F(RouterTest, RegisterHandsTheNormalisedUrlToTheNode) {
  HttpResponse r = Call("POST", "/register",
                        R"({"node_id":"w7","url":"http://10.0.0.7:8770/","ssh_port":2222})");
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  EXPECT_EQ(j["url"], "http://10.0.0.7:8770");
  EXPECT_EQ(j["new_seed"], true);
  ASSERT_EQ(node_.registrations.size(), 1u);
  EXPECT_EQ(node_.registrations[0].node_id, "w7");
  EXPECT_EQ(node_.registrations[0].url, "http://10.0.0.7:8770");
  EXPECT_EQ(node_.registrations[0].ssh_port, 2222);
  // ssh_port is optional; a second registration is not a new seed here.
  r = Call("POST", "/register", R"({"node_id":"w8","url":"https://[fd00::8]:8770"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["new_seed"], false);
  EXPECT_EQ(node_.registrations[1].ssh_port, 0);
}

TEST_F(RouterTest, RegisterRefusesBadInputWithTheFieldNamed) {
  struct Case {
    const char* body;
    const char* field;
  } cases[] = {
      {"not json", "body"},
      {"[1]", "body"},
      {R"({"url":"http://10.0.0.7:8770"})", "node_id"},
      {R"({"node_id":"bad id","url":"http://10.0.0.7:8770"})", "node_id"},
      {R"({"node_id":"w7"})", "url"},
      {R"({"node_id":"w7","url":"ftp://10.0.0.7:21"})", "url"},
      {R"({"node_id":"w7","url":"http://10.0.0.7:99999"})", "url"},
      {R"({"node_id":"w7","url":"http://10.0.0.7:8770/x"})", "url"},
      {R"({"node_id":"w7","url":"http://10.0.0.7:8770","ssh_port":0})", "ssh_port"},
      {R"({"node_id":"w7","url":"http://10.0.0.7:8770","ssh_port":"22"})", "ssh_port"},
  };
  for (const auto& c : cases) {
    HttpResponse r = Call("POST", "/register", c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_EQ(ErrorCode(r), "INVALID_ARGUMENT") << c.body;
    EXPECT_NE(json::parse(r.body)["error"]["message"].get<std::string>().find(c.field),
              std::string::npos)
        << c.body << " -> " << r.body;
  }
  EXPECT_TRUE(node_.registrations.empty());
  // What the node refuses comes back as the node's error; no token -> 401.
  node_.state->core.url = "http://10.0.0.1:8770";
  HttpResponse own =
      Call("POST", "/register", R"({"node_id":"n1","url":"http://10.0.0.1:8770"})");
  EXPECT_EQ(own.status, 400);
  EXPECT_EQ(Call("POST", "/register", R"({"node_id":"w7","url":"http://10.0.0.7:8770"})", {})
                .status,
            401);
}

TEST(RouterPatternTest, BraceSegmentsCaptureValuesAndExactPathsWin) {
  Router router("");
  auto echo = [](const std::string& tag) {
    return [tag](const HttpRequest& r) {
      std::string body = tag;
      for (const auto& [k, v] : r.path_params) body += " " + k + "=" + v;
      HttpResponse out;
      out.body = body;
      return out;
    };
  };
  router.Add("GET", "/jobs/{id}", echo("job"));
  router.Add("GET", "/jobs/{id}/log", echo("log"));
  router.Add("POST", "/jobs/{id}/log", echo("post"));
  router.Add("GET", "/jobs/special", echo("exact"));
  router.Add("GET", "/a/{x}/b/{y}", echo("two"));
  auto call = [&](const std::string& method, const std::string& path) {
    HttpRequest r;
    r.method = method;
    r.path = path;
    return router.Handle(r);
  };
  EXPECT_EQ(call("GET", "/jobs/n1-7").body, "job id=n1-7");
  EXPECT_EQ(call("GET", "/jobs/n1-7/log").body, "log id=n1-7");
  EXPECT_EQ(call("POST", "/jobs/n1-7/log").body, "post id=n1-7");
  EXPECT_EQ(call("GET", "/jobs/special").body, "exact");
  EXPECT_EQ(call("GET", "/a/1/b/2").body, "two x=1 y=2");
  EXPECT_EQ(call("GET", "/jobs").status, 404);
  EXPECT_EQ(call("GET", "/jobs/").status, 404);  // an empty segment never matches
  EXPECT_EQ(call("GET", "/jobs//log").status, 404);
  EXPECT_EQ(call("GET", "/jobs/1/log/more").status, 404);
  auto wrong = call("DELETE", "/jobs/n1-7/log");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.headers["Allow"], "GET, POST");
  auto counts = router.RequestCounts();
  EXPECT_EQ((counts[{"/jobs/{id}/log", 200}]), 2u);
  EXPECT_EQ((counts[{"/jobs/{id}/log", 405}]), 1u);
  EXPECT_EQ((counts[{"/jobs/{id}", 200}]), 1u);
  EXPECT_EQ(counts.count({"/jobs/n1-7", 200}), 0u);
}

TEST(RouterPatternTest, PatternRoutesNeedTheTokenLikeAnyOther) {
  Router router("tok");
  router.Add("GET", "/jobs/{id}", [](const HttpRequest&) { return JsonResponse(200, "{}"); });
  HttpRequest r;
  r.method = "GET";
  r.path = "/jobs/x";
  EXPECT_EQ(router.Handle(r).status, 401);
  r.headers["Authorization"] = "Bearer tok";
  EXPECT_EQ(router.Handle(r).status, 200);
}

TEST(ErrorsTest, CodesMapToHttpInOnePlace) {
  struct Case {
    Code code;
    int http;
  } cases[] = {{Code::kInvalidArgument, 400},  {Code::kUnauthenticated, 401},
               {Code::kPermissionDenied, 403}, {Code::kNotFound, 404},
               {Code::kStaleTerm, 409},        {Code::kFailedPrecondition, 412},
               {Code::kNotLeader, 421},        {Code::kResourceExhausted, 429},
               {Code::kUnavailable, 503},      {Code::kInternal, 500}};
  for (const auto& c : cases) EXPECT_EQ(HttpStatusFor(c.code), c.http) << CodeName(c.code);
}

TEST(ErrorsTest, ExtrasRenderAsTopLevelFieldsAndNulls) {
  auto r = ErrorResponse(NotLeader("no"), {{"leader_id", std::nullopt}, {"leader_url", "u"}});
  auto j = json::parse(r.body);
  EXPECT_TRUE(j["leader_id"].is_null());
  EXPECT_EQ(j["leader_url"], "u");
  EXPECT_EQ(j["error"]["message"], "no");
}

TEST(TokenTest, ComparesWholeTokens) {
  EXPECT_TRUE(TokenEquals("abc", "abc"));
  EXPECT_FALSE(TokenEquals("abc", "ab"));
  EXPECT_FALSE(TokenEquals("abc", "abcd"));
  EXPECT_FALSE(TokenEquals("abc", "abd"));
  EXPECT_FALSE(TokenEquals("", ""));
}

}  // namespace
}  // namespace rift::api
