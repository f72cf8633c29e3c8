// ApiClient against tiny in-process servers: failover, leader following, error shapes.
#include "orchestrator/net/api_client.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cli/test_server.h"

namespace rift::net {
namespace {

using cli::testing::ClosedAddr;
using cli::testing::FakeDaemon;
using json = nlohmann::json;

TEST(NormalizeAddrTest, AcceptsUrlsAndHostPorts) {
  EXPECT_EQ(*NormalizeAddr("http://a:1/"), "http://a:1");
  EXPECT_EQ(*NormalizeAddr("a:1"), "http://a:1");
  EXPECT_EQ(*NormalizeAddr("node5"), "http://node5:8770");
  EXPECT_EQ(*NormalizeAddr("[::1]"), "http://[::1]:8770");
  EXPECT_EQ(*NormalizeAddr("https://a:1"), "https://a:1");
  EXPECT_FALSE(NormalizeAddr("ftp://a:1").ok());
  EXPECT_FALSE(NormalizeAddr("http://a:1/api").ok());
  EXPECT_FALSE(NormalizeAddr("").ok());
}

TEST(ApiClientTest, FailsOverOnConnectionErrorsAndSendsTheToken) {
  FakeDaemon live;
  live.ServeJson("/health", 200, {{"healthy", true}});
  live.Start();
  std::string dead = ClosedAddr();
  ApiClient client({dead, live.url()}, "tok");
  for (Result<ApiResponse> r : {client.Get("/health"), client.Post("/health", "{}")}) {
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->addr_used, live.url());
  }
  EXPECT_EQ(live.last_auth(), "Bearer tok");
}

TEST(ApiClientTest, HttpErrorsAreResponsesNotFailures) {
  FakeDaemon first, second;
  first.ServeJson("/status", 503, {{"error", {{"code", "UNAVAILABLE"}, {"message", "busy"}}}});
  first.Start();
  second.Start();
  ApiClient client({first.url(), second.url()}, "");
  Result<ApiResponse> r = client.Get("/status");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(ParseApiError(*r).code, "UNAVAILABLE");
  EXPECT_EQ(ParseApiError(*r).message, "busy");
  EXPECT_EQ(second.hits(), 0);
}

TEST(ApiClientTest, ErrorsWithoutTheJsonShapeStillDescribeThemselves) {
  EXPECT_EQ(ParseApiError({404, "", "x"}).code, "HTTP_404");
  EXPECT_EQ(ParseApiError({500, "oops\n", "x"}).message, "oops");
}

TEST(ApiClientTest, LeaderOnlyRequestsFollowA421Once) {
  FakeDaemon leader, follower;
  leader.ServeJson("/jobs/start", 200, {{"started", true}});
  leader.Start();
  follower.ServeJson("/jobs/start", 421,
                     {{"error", {{"code", "NOT_LEADER"}, {"message", "ask n1"}}},
                      {"leader_id", "n1"},
                      {"leader_url", leader.url()}});
  follower.Start();
  ApiClient client({follower.url()}, "tok");
  Result<ApiResponse> plain = client.Post("/jobs/start", "{}");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->status, 421);
  EXPECT_EQ(ParseApiError(*plain).code, "NOT_LEADER");
  Result<ApiResponse> followed = client.PostToLeader("/jobs/start", "{}");
  ASSERT_TRUE(followed.ok()) << followed.status().ToString();
  EXPECT_EQ(followed->status, 200);
  EXPECT_EQ(followed->addr_used, leader.url());
  EXPECT_EQ(leader.last_auth(), "Bearer tok");
}

TEST(ApiClientTest, A421WithoutLeaderIsReturnedAsIs) {
  FakeDaemon follower;
  follower.ServeJson("/x", 421,
                     {{"error", {{"code", "NOT_LEADER"}, {"message", "no leader"}}},
                      {"leader_id", nullptr},
                      {"leader_url", nullptr}});
  follower.Start();
  ApiClient client({follower.url()}, "");
  Result<ApiResponse> r = client.GetFromLeader("/x");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 421);
  EXPECT_EQ(follower.hits(), 1);
}

TEST(ApiClientTest, UnreachableIsUnavailable) {
  ApiClient client({ClosedAddr()}, "",
                   {std::chrono::milliseconds(200), std::chrono::milliseconds(500)});
  Result<ApiResponse> r = client.Get("/health");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace rift::net
