// riftctl in-process against a tiny httplib server standing in for the daemon.
#include "cli/riftctl.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/output.h"
#include "cli/test_server.h"

namespace rift::cli {
namespace {

using json = nlohmann::json;
using testing::ClosedAddr;
using testing::FakeDaemon;

json SampleStatus() {
  return json{{"node_id", "n2"},
              {"role", "follower"},
              {"term", 7},
              {"leader_id", "n1"},
              {"leader_url", "http://10.0.0.1:8770"},
              {"quorum", true},
              {"voter", true},
              {"incarnation", 5},
              {"members",
               {{{"node_id", "n1"},
                 {"url", "http://10.0.0.1:8770"},
                 {"state", "alive"},
                 {"incarnation", 3},
                 {"voter", true},
                 {"last_seen_ms", 400}},
                {{"node_id", "n2"},
                 {"url", "http://10.0.0.2:8770"},
                 {"state", "alive"},
                 {"incarnation", 5},
                 {"voter", true},
                 {"last_seen_ms", 0}},
                {{"node_id", "worker-gpu-17"},
                 {"url", "http://192.168.100.17:8770"},
                 {"state", "suspect"},
                 {"incarnation", 123456},
                 {"voter", false},
                 {"last_seen_ms", 15000}}}},
              {"conflicts", json::array()}};
}

struct Outcome {
  int code = -1;
  std::string out;
  std::string err;
};

Outcome Riftctl(std::vector<std::string> args, Environment env = {}) {
  std::ostringstream out, err;
  Outcome r;
  r.code = RunRiftctl(std::move(args), out, err, std::move(env));
  r.out = out.str();
  r.err = err.str();
  return r;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) lines.push_back(l);
  return lines;
}

std::string WriteTokenFile(const std::string& name, const std::string& content, mode_t mode) {
  std::string path =
      ::testing::TempDir() + "/riftctl_test_" + std::to_string(::getpid()) + "_" + name;
  std::ofstream(path) << content;
  EXPECT_EQ(::chmod(path.c_str(), mode), 0);
  return path;
}

class RiftctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_.ServeJson("/status", 200, SampleStatus());
    daemon_.Start();
  }
  FakeDaemon daemon_;
};

TEST_F(RiftctlTest, StatusTextShowsSummaryAndMarksLeader) {
  Outcome r = Riftctl({"--addr", daemon_.url(), "status"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("n2 (follower, voter) via " + daemon_.url()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("term     7"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("leader   n1  http://10.0.0.1:8770"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("quorum   yes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("3 (2 alive, 1 suspect, 0 dead)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("n1 (leader)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("15s ago"), std::string::npos) << r.out;
}

TEST_F(RiftctlTest, StatusTableColumnsAreAligned) {
  Outcome r = Riftctl({"--addr", daemon_.url(), "nodes", "list"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_EQ(lines[0].rfind("NODE", 0), 0u);
  size_t url_col = lines[0].find("URL");
  size_t state_col = lines[0].find("STATE");
  size_t voter_col = lines[0].find("VOTER");
  size_t inc_end = lines[0].find("INCARNATION") + std::string("INCARNATION").size();
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].find("http://"), url_col) << lines[i];
    EXPECT_TRUE(lines[i].compare(state_col, 5, "alive") == 0 ||
                lines[i].compare(state_col, 7, "suspect") == 0)
        << lines[i];
    EXPECT_TRUE(lines[i].compare(voter_col, 3, "yes") == 0 ||
                lines[i].compare(voter_col, 2, "no") == 0)
        << lines[i];
    EXPECT_NE(lines[i][inc_end - 1], ' ') << "incarnation right-aligned: " << lines[i];
    EXPECT_NE(lines[i].back(), ' ');
  }
}

TEST_F(RiftctlTest, StatusJsonPrintsTheServersJson) {
  Outcome r = Riftctl({"status", "-o", "json", "--addr", daemon_.url()});  // globals after the verb
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(json::parse(r.out), SampleStatus());
}

TEST_F(RiftctlTest, FailsOverFromADeadAddressToALiveOne) {
  Outcome r = Riftctl({"--addr", ClosedAddr(), "--addr", daemon_.url(), "leader"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_NE(r.out.find("leader  n1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("term    7"), std::string::npos) << r.out;
}

TEST_F(RiftctlTest, AddressesComeFromTheEnvironmentCommaSeparated) {
  Outcome r =
      Riftctl({"status", "-o", "json"}, {{"RINGRIFT_ADDR", ClosedAddr() + "," + daemon_.url()}});
  EXPECT_EQ(r.code, kExitOk) << r.err;
}

TEST(RiftctlUnreachableTest, AllAddressesDownExitsThreeNamingEach) {
  std::string a = ClosedAddr(), b = ClosedAddr();
  Outcome r = Riftctl({"--addr", a + "," + b, "status"});
  EXPECT_EQ(r.code, kExitUnreachable);
  EXPECT_NE(r.err.find("cannot reach the cluster"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(a + ": connection failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(b + ": connection failed"), std::string::npos) << r.err;
}

TEST(RiftctlRemoteErrorTest, UnauthorizedExitsOneWithTheServersMessage) {
  FakeDaemon d;
  d.ServeJson("/status", 401,
              {{"error", {{"code", "UNAUTHENTICATED"}, {"message", "missing or wrong token"}}}});
  d.Start();
  Outcome r = Riftctl({"--addr", d.url(), "status"});
  EXPECT_EQ(r.code, kExitRemote);
  EXPECT_NE(r.err.find("UNAUTHENTICATED: missing or wrong token (HTTP 401 from " + d.url()),
            std::string::npos)
      << r.err;
}

TEST(RiftctlRemoteErrorTest, HttpErrorsDoNotFailOver) {
  FakeDaemon bad, good;
  bad.ServeJson("/status", 500, {{"error", {{"code", "INTERNAL"}, {"message", "boom"}}}});
  good.ServeJson("/status", 200, SampleStatus());
  bad.Start();
  good.Start();
  Outcome r = Riftctl({"--addr", bad.url(), "--addr", good.url(), "status"});
  EXPECT_EQ(r.code, kExitRemote);
  EXPECT_EQ(good.hits(), 0);
}

TEST(RiftctlLeaderTest, NoLeaderKnownExitsOne) {
  FakeDaemon d;
  json s = SampleStatus();
  s["leader_id"] = nullptr;
  s["leader_url"] = nullptr;
  s["quorum"] = false;
  d.ServeJson("/status", 200, s);
  d.Start();
  Outcome r = Riftctl({"--addr", d.url(), "leader"});
  EXPECT_EQ(r.code, kExitRemote);
  EXPECT_NE(r.err.find("no leader known"), std::string::npos) << r.err;
  Outcome st = Riftctl({"--addr", d.url(), "status"});
  EXPECT_EQ(st.code, kExitOk);
  EXPECT_NE(st.out.find("leader   none known"), std::string::npos) << st.out;
}

TEST(RiftctlNodesTest, ListAddsTheAskedNodeWhenMissing) {
  FakeDaemon d;
  json s = SampleStatus();
  s["members"].erase(1);  // drop n2, the node answering
  d.ServeJson("/status", 200, s);
  d.Start();
  Outcome r = Riftctl({"--addr", d.url(), "-o", "json", "nodes", "list"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  json members = json::parse(r.out);
  ASSERT_EQ(members.size(), 3u);
  EXPECT_EQ(members[1]["node_id"], "n2");
  EXPECT_EQ(members[1]["url"], d.url());
}

TEST_F(RiftctlTest, UsageErrorsExitTwo) {
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {},
           {"frobnicate"},
           {"nodes"},
           {"status", "-o", "yaml"},
           {"status", "--timeout", "-1"},
           {"--addr", "ftp://host:1", "status"},
           {"--token", "a", "--token-file", "/nonexistent", "status"}}) {
    Outcome r = Riftctl(args);
    EXPECT_EQ(r.code, kExitUsage) << ::testing::PrintToString(args) << "\n" << r.err;
    EXPECT_FALSE(r.err.empty());
  }
  EXPECT_EQ(daemon_.hits(), 0);
  Outcome help = Riftctl({"--help"});
  EXPECT_EQ(help.code, kExitOk);
  EXPECT_NE(help.out.find("nodes"), std::string::npos);
}

TEST_F(RiftctlTest, SendsNoAuthorizationWithoutAToken) {
  ASSERT_EQ(Riftctl({"--addr", daemon_.url(), "status"}).code, kExitOk);
  EXPECT_EQ(daemon_.last_auth(), "");
}

TEST_F(RiftctlTest, TokenFromTheEnvironment) {
  Outcome r =
      Riftctl({"--addr", daemon_.url(), "status"}, {{"RINGRIFT_CLUSTER_AUTH_TOKEN", "s3cret"}});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(daemon_.last_auth(), "Bearer s3cret");
}

TEST_F(RiftctlTest, TokenFlagOverridesTheEnvironment) {
  Outcome r = Riftctl({"--addr", daemon_.url(), "--token", "flag", "status"},
                      {{"RINGRIFT_CLUSTER_AUTH_TOKEN", "env"}});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(daemon_.last_auth(), "Bearer flag");
}

TEST_F(RiftctlTest, TokenFromAFileGivenByFlagOrEnvironment) {
  std::string path = WriteTokenFile("ok", "from-file\n", 0600);
  ASSERT_EQ(Riftctl({"--addr", daemon_.url(), "--token-file", path, "status"}).code, kExitOk);
  EXPECT_EQ(daemon_.last_auth(), "Bearer from-file");
  std::string path2 = WriteTokenFile("ok2", "  env-file  \n", 0400);
  Outcome r =
      Riftctl({"--addr", daemon_.url(), "status"}, {{"RINGRIFT_CLUSTER_AUTH_TOKEN_FILE", path2}});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(daemon_.last_auth(), "Bearer env-file");
  ::unlink(path.c_str());
  ::unlink(path2.c_str());
}

TEST_F(RiftctlTest, RefusesAGroupOrWorldReadableTokenFile) {
  for (mode_t mode : {0640, 0604}) {
    std::string path = WriteTokenFile("open", "tok\n", mode);
    Outcome r = Riftctl({"--addr", daemon_.url(), "--token-file", path, "status"});
    EXPECT_EQ(r.code, kExitUsage);
    EXPECT_NE(r.err.find("readable by group or others"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("chmod 600 " + path), std::string::npos) << r.err;
    ::unlink(path.c_str());
  }
  EXPECT_EQ(daemon_.hits(), 0);
}

#ifdef RIFT_CLI_HAVE_SETTINGS
TEST(RiftctlConfigTest, ReportsEveryProblemWithFileLineAndKey) {
  std::string conf = WriteTokenFile("bad.conf", "NODE_ID=n1\nP2P_PORT=abc\nBOGUS=1\n", 0600);
  Outcome r =
      Riftctl({"config", "check", "--config", conf}, {{"RINGRIFT_DIR", ::testing::TempDir()}});
  EXPECT_EQ(r.code, kExitRemote);
  EXPECT_NE(r.out.find(conf + ":2: P2P_PORT: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(conf + ":3: BOGUS: "), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("config check failed"), std::string::npos) << r.err;
  Outcome j = Riftctl({"config", "check", "--config", conf, "-o", "json"},
                      {{"RINGRIFT_DIR", ::testing::TempDir()}});
  EXPECT_EQ(j.code, kExitRemote);
  json doc = json::parse(j.out);
  EXPECT_FALSE(doc["ok"].get<bool>());
  EXPECT_GE(doc["problems"].size(), 2u);
  ::unlink(conf.c_str());
}

TEST(RiftctlConfigTest, AValidConfigExitsZero) {
  std::string port = ClosedAddr().substr(std::string("http://127.0.0.1:").size());
  std::string conf = WriteTokenFile("ok.conf", "NODE_ID=n1\nP2P_PORT=" + port + "\n", 0600);
  Outcome r = Riftctl({"config", "check", "--config", conf},
                      {{"RINGRIFT_DIR", ::testing::TempDir()}, {"RINGRIFT_P2P_VOTERS", "n1"}});
  EXPECT_EQ(r.code, kExitOk) << r.out << r.err;
  EXPECT_NE(r.out.find("node    n1"), std::string::npos) << r.out;
  ::unlink(conf.c_str());
}
#endif

TEST(TableTest, PadsColumnsAndTrimsLines) {
  Table t({"A", "LONG HEADER", "N"});
  t.SetAlign(2, Table::Align::kRight);
  t.AddRow({"wide cell", "x", "7"});
  t.AddRow({"b", "", "1234"});
  std::ostringstream out;
  t.Print(out);
  EXPECT_EQ(out.str(),
            "A          LONG HEADER     N\n"
            "wide cell  x               7\n"
            "b                       1234\n");
}

TEST(FormatAgeTest, PicksAReadableUnit) {
  EXPECT_EQ(FormatAge(400), "0.4s ago");
  EXPECT_EQ(FormatAge(15'000), "15s ago");
  EXPECT_EQ(FormatAge(5 * 60'000), "5m ago");
  EXPECT_EQ(FormatAge(3 * 3'600'000), "3h ago");
  EXPECT_EQ(FormatAge(3 * 86'400'000LL), "3d ago");
}

}  // namespace
}  // namespace rift::cli
