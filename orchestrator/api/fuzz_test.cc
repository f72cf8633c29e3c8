// A short, bounded, seeded fuzz of the router and handlers: random methods, paths, headers and
// bodies (including mutated valid batches). Every answer must be a well-formed response; every
// error must carry the one JSON error shape.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <random>

#include "orchestrator/api/fake_node_api_for_test.h"
#include "orchestrator/api/handlers.h"
#include "orchestrator/api/router.h"
#include "orchestrator/protocol/codec.h"

namespace rift::api {
namespace {

using nlohmann::json;

std::string RandomBytes(std::mt19937_64& rng, size_t max_len) {
  std::string s(rng() % (max_len + 1), '\0');
  for (auto& c : s) c = static_cast<char>(rng() % 256);
  return s;
}

std::string Mutate(std::mt19937_64& rng, std::string s) {
  if (s.empty()) return s;
  int edits = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < edits; ++i) {
    size_t at = rng() % s.size();
    switch (rng() % 3) {
      case 0:
        s[at] = static_cast<char>(rng() % 256);
        break;
      case 1:
        s.erase(at, 1 + rng() % 8);
        break;
      default:
        s.insert(at, std::string(1 + rng() % 3, "{}[],:\"0-9e"[rng() % 11]));
        break;
    }
    if (s.empty()) break;
  }
  return s;
}

TEST(RouterFuzzTest, RandomRequestsNeverCrashAndErrorsKeepTheShape) {
  uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  FakeNodeApi node;
  Router router("tok");
  RegisterRoutes(&router, &node);

  protocol::Envelope e;
  e.from_id = "n2";
  e.body = protocol::VoteRequest{4, "n2", true, false};
  const std::string valid = protocol::EncodeBatch({e, e});
  const std::vector<std::string> paths = {
      "/health",      "/status",      "/metrics", "/gossip",  "/election",     "/heartbeat",
      "/leader/ping", "/fenced/echo", "/",        "/health/", "/../etc/passwd"};
  const std::vector<std::string> methods = {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  int iterations = 0;
  for (; iterations < 5000 && std::chrono::steady_clock::now() < deadline; ++iterations) {
    HttpRequest r;
    r.method = methods[rng() % methods.size()];
    r.path = rng() % 8 == 0 ? "/" + RandomBytes(rng, 20) : paths[rng() % paths.size()];
    if (rng() % 4 != 0)
      r.headers["Authorization"] = rng() % 5 ? "Bearer tok" : "Bearer " + RandomBytes(rng, 5);
    if (rng() % 3 == 0) {
      r.headers["X-RingRift-Term"] = rng() % 2 ? std::to_string(rng() % 6) : RandomBytes(rng, 6);
    }
    switch (rng() % 4) {
      case 0:
        r.body = RandomBytes(rng, 200);
        break;
      case 1:
        r.body = Mutate(rng, valid);
        break;
      case 2:
        r.body = valid;
        break;
      default:
        r.body = R"({"term":)" + std::to_string(rng() % 6) + "}";
        break;
    }
    node.lease = rng() % 2;
    HttpResponse resp = router.Handle(r);
    ASSERT_GE(resp.status, 200);
    ASSERT_LT(resp.status, 600);
    if (resp.content_type != "application/json") continue;
    json j = json::parse(resp.body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r.method << " " << r.path << " -> " << resp.body;
    if (resp.status >= 400) {
      ASSERT_TRUE(j.contains("error")) << resp.body;
      ASSERT_TRUE(j["error"]["code"].is_string()) << resp.body;
      ASSERT_TRUE(j["error"]["message"].is_string()) << resp.body;
    }
  }
  EXPECT_GT(iterations, 100);
}

}  // namespace
}  // namespace rift::api
