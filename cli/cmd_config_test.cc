// riftctl config get: reading values of distributed_hosts.yaml the way the setup scripts do.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "cli/riftctl.h"

namespace rift::cli {
namespace {

using json = nlohmann::json;

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

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/cmd_config_test_" + std::to_string(::getpid()) + "_" + name;
}

constexpr char kHosts[] = R"(hosts:
  gpu-1:
    ssh_host: gpu-1.example.org
    ssh_port: 2222
    gpu: RTX 4090
    p2p_voter: true
    memory_gb: 64.5
    capabilities: [selfplay, training]
  gpu:
    ssh_port: 2200
  gpu.1:
    ssh_port: 2201
  cpu-1:
    ssh_host: cpu-1.example.org
    ssh_port:
p2p_voters: [gpu-1, cpu-1]
preferred_leader: gpu-1
sync:
  interval_s: 60
file_classes:
  - {name: tmp, prefixes: [tmp/], replication: 1}
  - {name: selfplay, prefixes: [selfplay/, games/], replication: 2}
)";

class ConfigGetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = TempPath("hosts.yaml");
    std::ofstream(path_) << kHosts;
  }
  void TearDown() override { ::unlink(path_.c_str()); }
  Outcome Get(const std::string& key, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"config", "get", key, "--hosts-file", path_};
    args.insert(args.end(), extra.begin(), extra.end());
    return Riftctl(args);
  }
  std::string path_;
};

TEST_F(ConfigGetTest, PrintsAScalarOfAHost) {
  Outcome r = Get("hosts.gpu-1.ssh_port");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "2222\n");
  EXPECT_EQ(r.err, "");
  EXPECT_EQ(Get("hosts.gpu-1.gpu").out, "RTX 4090\n");
  EXPECT_EQ(Get("preferred_leader").out, "gpu-1\n");
  EXPECT_EQ(Get("sync.interval_s").out, "60\n");
}

TEST_F(ConfigGetTest, UnsetKeyExitsOneWithNothingOnStdout) {
  for (const char* key : {"hosts.gpu-1.ssh_user", "hosts.nope.ssh_port", "nope", "sync.x.y",
                          "hosts.cpu-1.ssh_port" /* `ssh_port:` with no value */}) {
    Outcome r = Get(key);
    EXPECT_EQ(r.code, 1) << key;
    EXPECT_EQ(r.out, "") << key;
    EXPECT_NE(r.err.find(std::string(key) + " is not set in " + path_), std::string::npos) << r.err;
  }
}

TEST_F(ConfigGetTest, DefaultAppliesOnlyWhenUnset) {
  Outcome r = Get("hosts.cpu-1.ssh_port", {"--default", "22"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "22\n");
  r = Get("hosts.gpu-1.ssh_port", {"--default", "22"});
  EXPECT_EQ(r.out, "2222\n");
}

TEST_F(ConfigGetTest, NodeIdsWithDotsPreferTheLongestKey) {
  EXPECT_EQ(Get("hosts.gpu.1.ssh_port").out, "2201\n");
  EXPECT_EQ(Get("hosts.gpu.ssh_port").out, "2200\n");
}

TEST_F(ConfigGetTest, ListsAreCommaSeparatedAndListItemsAreFoundByIndexOrName) {
  EXPECT_EQ(Get("p2p_voters").out, "gpu-1,cpu-1\n");
  EXPECT_EQ(Get("hosts.gpu-1.capabilities").out, "selfplay,training\n");
  EXPECT_EQ(Get("file_classes.selfplay.replication").out, "2\n");
  EXPECT_EQ(Get("file_classes.1.prefixes").out, "selfplay/,games/\n");
  EXPECT_EQ(Get("file_classes.0.name").out, "tmp\n");
  EXPECT_EQ(Get("file_classes.7.name").code, 1);
  EXPECT_EQ(Get("p2p_voters.1").out, "cpu-1\n");
}

TEST_F(ConfigGetTest, MapsPrintAsYamlOrTypedJson) {
  Outcome r = Get("hosts.gpu-1");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("ssh_port: 2222"), std::string::npos) << r.out;
  r = Get("hosts.gpu-1", {"-o", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["ssh_port"], 2222);
  EXPECT_EQ(j["p2p_voter"], true);
  EXPECT_DOUBLE_EQ(j["memory_gb"].get<double>(), 64.5);
  EXPECT_EQ(j["gpu"], "RTX 4090");
  EXPECT_EQ(j["capabilities"], json::array({"selfplay", "training"}));
}

TEST(ConfigGet, FileErrorsAreUsageErrorsNamingTheFile) {
  std::string missing = TempPath("missing.yaml");
  Outcome r = Riftctl({"config", "get", "hosts.a.ssh_port", "--hosts-file", missing});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("cannot read " + missing), std::string::npos) << r.err;

  // A named file that is missing stays an error even with --default.
  r = Riftctl({"config", "get", "x", "--hosts-file", missing, "--default", "1"});
  EXPECT_EQ(r.code, 2);

  std::string bad = TempPath("bad.yaml");
  std::ofstream(bad) << "hosts:\n  a:\n    ssh_port: [1, 2\n";
  r = Riftctl({"config", "get", "hosts.a.ssh_port", "--hosts-file", bad});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(bad + ":"), std::string::npos) << r.err;
  ::unlink(bad.c_str());

  r = Riftctl({"config", "get", "hosts..ssh_port", "--hosts-file", bad});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("bad key"), std::string::npos) << r.err;
}

TEST(ConfigGet, DefaultFileComesFromTheEnvironment) {
  std::string dir = TempPath("dir");
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  // No config/distributed_hosts.yaml under RINGRIFT_DIR: nothing is set, and that is no error.
  Outcome r = Riftctl({"config", "get", "hosts.a.ssh_port"}, {{"RINGRIFT_DIR", dir}});
  EXPECT_EQ(r.code, 1);
  r = Riftctl({"config", "get", "hosts.a.ssh_port", "--default", "22"}, {{"RINGRIFT_DIR", dir}});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.out, "22\n");

  ASSERT_EQ(::mkdir((dir + "/config").c_str(), 0700), 0);
  std::string file = dir + "/config/distributed_hosts.yaml";
  std::ofstream(file) << "hosts:\n  a:\n    ssh_port: 2022\n";
  r = Riftctl({"config", "get", "hosts.a.ssh_port"}, {{"RINGRIFT_DIR", dir}});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out, "2022\n");

  // RINGRIFT_HOSTS_FILE names the file explicitly: it must exist.
  r = Riftctl({"config", "get", "hosts.a.ssh_port"},
              {{"RINGRIFT_DIR", dir}, {"RINGRIFT_HOSTS_FILE", dir + "/nope.yaml"}});
  EXPECT_EQ(r.code, 2);
  ::unlink(file.c_str());
  ::rmdir((dir + "/config").c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace rift::cli
