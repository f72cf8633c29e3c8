// The real daemon over HTTP: health and leadership of a single voter, auth on every
// authenticated route, bad input, leader-only and fencing refusals, metrics, shutdown, config
// checking. Every wait is bounded.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/harness/cluster.h"

namespace rift::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kToken[] = "integration-token-0123456789";

DaemonOptions Options(const std::string& id, const std::string& voters,
                      const std::string& seed = "") {
  DaemonOptions o;
  o.node_id = id;
  o.env = {{"RINGRIFT_CLUSTER_AUTH_TOKEN", kToken},
           {"RINGRIFT_P2P_VOTERS", voters},
           {"RINGRIFT_TIMER_PROFILE", "fast"}};
  if (!seed.empty()) o.env["COORDINATOR_URL"] = seed;
  return o;
}

std::string ErrorCode(const HttpResult& r) {
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.contains("error")) return "<no error shape: " + r.body + ">";
  return j["error"]["code"].get<std::string>();
}

// One single-voter daemon shared by the tests of this suite (starting one costs ~100 ms, but
// the tests only read from it).
class DaemonTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("rift-daemon-test");
    daemon_ = new Daemon(RIFT_P2P_BINARY_PATH, Options("solo", "solo"), dir_->path() + "/solo");
    std::string error;
    ASSERT_TRUE(daemon_->Start(&error)) << error;
    ASSERT_TRUE(WaitFor(
        [] {
          auto s = daemon_->Status(kToken);
          return s && s->role == "leader";
        },
        seconds(10)))
        << daemon_->LogTail();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    delete dir_;
  }
  HttpResult Req(const std::string& method, const std::string& path, const std::string& token,
                 const std::string& body = "",
                 const std::map<std::string, std::string>& headers = {}) {
    return HttpRequest(method, daemon_->url(), path, token, body, headers);
  }

  static TempDir* dir_;
  static Daemon* daemon_;
};
TempDir* DaemonTest::dir_ = nullptr;
Daemon* DaemonTest::daemon_ = nullptr;

TEST_F(DaemonTest, SingleVoterLeadsAndHealthAnswersWithoutAToken) {
  auto r = Req("GET", "/health", "");
  ASSERT_EQ(r.status, 200) << r.error;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["node_id"], "solo");
  EXPECT_EQ(j["role"], "leader");
  EXPECT_EQ(j["leader_id"], "solo");
  EXPECT_GE(j["term"].get<uint64_t>(), 1u);
  for (const char* k : {"healthy", "disk_percent", "memory_percent", "cpu_percent", "selfplay_jobs",
                        "training_jobs"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  auto s = daemon_->Status(kToken);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->quorum);
  EXPECT_EQ(s->leader_url, daemon_->url());
  std::ifstream port_file(daemon_->dir() + "/state/p2p.port");
  int port = 0;
  port_file >> port;
  EXPECT_EQ(port, daemon_->port());
}

TEST_F(DaemonTest, EveryAuthenticatedRouteRefusesMissingAndWrongTokens) {
  const std::pair<const char*, const char*> routes[] = {
      {"GET", "/status"},      {"GET", "/metrics"},    {"POST", "/gossip"},
      {"POST", "/election"},   {"POST", "/heartbeat"}, {"POST", "/leader/ping"},
      {"POST", "/fenced/echo"}};
  for (const auto& [method, path] : routes) {
    for (const std::string token : {"", "wrong-token", "integration-token-012345678"}) {
      auto r = Req(method, path, token, "{}");
      EXPECT_EQ(r.status, 401) << method << " " << path << " token '" << token << "'";
      EXPECT_EQ(ErrorCode(r), "UNAUTHENTICATED") << path;
    }
    auto r = HttpRequest(method, daemon_->url(), path, "", "{}",
                         {{"X-RingRift-Auth", "nope"}, {"REMOTE_ADDR", "127.0.0.1"}});
    EXPECT_EQ(r.status, 401) << path;
  }
  EXPECT_EQ(Req("GET", "/status", "", "", {{"X-RingRift-Auth", kToken}}).status, 200);
}

TEST_F(DaemonTest, MalformedJsonIsA400WithAClearMessage) {
  auto r = Req("POST", "/gossip", kToken, "{\"messages\": [ {\"type\": ");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorCode(r), "INVALID_ARGUMENT");
  EXPECT_FALSE(json::parse(r.body)["error"]["message"].get<std::string>().empty());
  r = Req("POST", "/leader/ping", kToken, "{oops");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("malformed JSON"), std::string::npos) << r.body;
}

TEST_F(DaemonTest, OversizedBodyIs413) {
  auto r = Req("POST", "/gossip", kToken, std::string(2 << 20, 'x'));
  EXPECT_EQ(r.status, 413) << r.error;
  EXPECT_EQ(ErrorCode(r), "PAYLOAD_TOO_LARGE");
}

TEST_F(DaemonTest, UnknownRouteIs404AndWrongMethodIs405) {
  auto r = Req("GET", "/no/such/route", kToken);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(ErrorCode(r), "NOT_FOUND");
  r = Req("POST", "/status", kToken, "{}");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(ErrorCode(r), "METHOD_NOT_ALLOWED");
}

TEST_F(DaemonTest, StaleTermIsRefusedWith409) {
  auto term = daemon_->Status(kToken)->term;
  auto r = Req("POST", "/fenced/echo", kToken, "x", {{"X-RingRift-Term", "0"}});
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(ErrorCode(r), "STALE_TERM");
  r = Req("POST", "/leader/ping", kToken, R"({"term": 0})");
  EXPECT_EQ(r.status, 409);
  r = Req("POST", "/fenced/echo", kToken, "x", {{"X-RingRift-Term", std::to_string(term)}});
  EXPECT_EQ(r.status, 200) << r.body;
  r = Req("POST", "/leader/ping", kToken, "{}");
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(DaemonTest, IdleConnectionsDoNotStarveHealth) {
  // 40 clients connect and send nothing, each pinning a server thread until its read timeout
  // (5 s). /health must still answer at once: the pool grows on demand.
  std::vector<int> idle;
  for (int i = 0; i < 40; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(daemon_->port()));
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    idle.push_back(fd);
  }
  auto r = HttpRequest("GET", daemon_->url(), "/health", "", "", {}, milliseconds(2000));
  EXPECT_EQ(r.status, 200) << r.error;
  for (int fd : idle) close(fd);
}

TEST_F(DaemonTest, MetricsPassPromtool) {
  Req("GET", "/status", kToken);
  auto r = Req("GET", "/metrics", kToken);
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("ringrift_leader 1"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("ringrift_http_requests_total{route=\"/status\",code=\"200\"}"),
            std::string::npos);
  if (!std::filesystem::exists("/usr/bin/promtool")) {
    GTEST_SKIP() << "promtool not installed: metrics format not checked";
  }
  std::string path = dir_->path() + "/metrics.txt";
  std::ofstream(path) << r.body;
  std::string out;
  int rc = RunCommand({"sh", "-c", "/usr/bin/promtool check metrics < " + path}, &out);
  EXPECT_EQ(rc, 0) << out;
}

TEST(DaemonClusterTest, LeaderOnlyRouteOnAFollowerIs421NamingTheLeader) {
  TempDir dir("rift-daemon-test");
  Daemon leader(RIFT_P2P_BINARY_PATH, Options("v1", "v1"), dir.path() + "/v1");
  std::string error;
  ASSERT_TRUE(leader.Start(&error)) << error;
  Daemon worker(RIFT_P2P_BINARY_PATH, Options("w1", "v1", leader.url()), dir.path() + "/w1");
  ASSERT_TRUE(worker.Start(&error)) << error;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto s = worker.Status(kToken);
        return s && s->leader_id == "v1";
      },
      seconds(15)))
      << worker.LogTail();
  auto r = HttpRequest("POST", worker.url(), "/leader/ping", kToken, "{}");
  EXPECT_EQ(r.status, 421);
  auto j = json::parse(r.body);
  EXPECT_EQ(j["error"]["code"], "NOT_LEADER");
  EXPECT_EQ(j["leader_id"], "v1");
  EXPECT_EQ(j["leader_url"], leader.url());
  EXPECT_EQ(HttpRequest("POST", leader.url(), "/leader/ping", kToken, "{}").status, 200);
}

TEST(DaemonLifecycleTest, SigtermStopsPromptlyAndRemovesThePortFile) {
  TempDir dir("rift-daemon-test");
  Daemon d(RIFT_P2P_BINARY_PATH, Options("n1", "n1"), dir.path() + "/n1");
  std::string error;
  ASSERT_TRUE(d.Start(&error)) << error;
  auto start = std::chrono::steady_clock::now();
  d.Kill(SIGTERM);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, seconds(5)) << d.LogTail();  // generous bound; ~1 s is the target
  EXPECT_FALSE(std::filesystem::exists(d.dir() + "/state/p2p.port"));
  EXPECT_NE(d.LogTail().find("stopped"), std::string::npos) << d.LogTail();
}

TEST(DaemonConfigTest, CheckConfigReportsEveryProblemAndExitsNonZero) {
  TempDir dir("rift-daemon-test");
  std::string out;
  int rc = RunCommand({"env", "-i", "NODE_ID=bad id!", "P2P_PORT=abc", "RINGRIFT_DIR=" + dir.path(),
                       RIFT_P2P_BINARY_PATH, "--check-config"},
                      &out);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find("P2P_PORT"), std::string::npos) << out;
  EXPECT_NE(out.find("NODE_ID"), std::string::npos) << out;
  rc = RunCommand({"env", "-i", "NODE_ID=good", "RINGRIFT_DIR=" + dir.path(), RIFT_P2P_BINARY_PATH,
                   "--check-config", "--port", "0"},
                  &out);
  EXPECT_EQ(rc, 0) << "port 0 (any free port) is allowed, with a warning: " << out;
  EXPECT_NE(out.find("P2P_PORT"), std::string::npos) << out;
  rc = RunCommand({"env", "-i", "NODE_ID=good", "P2P_PORT=abc", "RINGRIFT_DIR=" + dir.path(),
                   RIFT_P2P_BINARY_PATH},
                  &out);
  EXPECT_EQ(rc, 2) << "config errors at start exit 2: " << out;
}

TEST(DaemonConfigTest, RequireAuthRefusesToStartWithoutAToken) {
  TempDir dir("rift-daemon-test");
  std::string out;
  int rc = RunCommand({"env", "-i", "NODE_ID=n1", "RINGRIFT_DIR=" + dir.path(),
                       RIFT_P2P_BINARY_PATH, "--require-auth", "--port", "0"},
                      &out);
  EXPECT_EQ(rc, 2) << out;
}

}  // namespace
}  // namespace rift::testing
