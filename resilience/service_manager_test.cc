// Service-manager detection and the exact restart commands, through a fake runner.
#include "resilience/service_manager.h"

#include <gtest/gtest.h>

#include <set>

namespace rift::resilience {
namespace {

using Argv = std::vector<std::string>;

class FakeRunner : public CommandRunner {
 public:
  std::map<Argv, Outcome> answers;
  std::vector<Argv> calls;
  Outcome Run(const Argv& argv, Duration) override {
    calls.push_back(argv);
    auto it = answers.find(argv);
    return it != answers.end() ? it->second : Outcome{1, "unit not found"};
  }
};

const Argv kShowUnit = {"systemctl", "show", "--property=LoadState", "--value", "ringrift-p2p"};

HostFacts Facts(std::set<std::string> paths, bool macos = false, uid_t uid = 501) {
  HostFacts f;
  f.exists = [paths](const std::string& p) { return paths.count(p) > 0; };
  f.home = "/Users/op";
  f.uid = uid;
  f.macos = macos;
  return f;
}

TEST(ServiceManagerTest, SystemdWithTheUnitLoadedRestartsThroughSystemctl) {
  FakeRunner runner;
  runner.answers[kShowUnit] = {0, "loaded\n"};
  auto m = ResolveServiceManager("auto", runner, Facts({"/run/systemd/system"}));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->kind, ManagerKind::kSystemd);
  EXPECT_EQ(runner.calls, std::vector<Argv>{kShowUnit});
  EXPECT_EQ(RestartCommand(*m), (Argv{"systemctl", "restart", "ringrift-p2p"}));
}

TEST(ServiceManagerTest, SystemdWithoutTheUnitMeansDirectSpawn) {
  FakeRunner runner;
  runner.answers[kShowUnit] = {0, "not-found\n"};
  auto m = ResolveServiceManager("auto", runner, Facts({"/run/systemd/system"}));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->kind, ManagerKind::kNone);
  EXPECT_TRUE(RestartCommand(*m).empty());
  // Without systemd as init, systemctl is not even asked.
  FakeRunner quiet;
  auto none = ResolveServiceManager("auto", quiet, Facts({}));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->kind, ManagerKind::kNone);
  EXPECT_TRUE(quiet.calls.empty());
}

TEST(ServiceManagerTest, LaunchAgentKickstartsInTheUsersGuiDomain) {
  FakeRunner runner;
  auto m = ResolveServiceManager(
      "auto", runner, Facts({"/Users/op/Library/LaunchAgents/com.ringrift.p2p.plist"}, true));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->kind, ManagerKind::kLaunchd);
  EXPECT_EQ(RestartCommand(*m),
            (Argv{"launchctl", "kickstart", "-k", "gui/501/com.ringrift.p2p"}));
  EXPECT_TRUE(runner.calls.empty());
}

TEST(ServiceManagerTest, LaunchDaemonKickstartsInTheSystemDomain) {
  FakeRunner runner;
  auto m = ResolveServiceManager(
      "auto", runner, Facts({"/Library/LaunchDaemons/com.ringrift.p2p.plist"}, true, 0));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(RestartCommand(*m), (Argv{"launchctl", "kickstart", "-k", "system/com.ringrift.p2p"}));
}

TEST(ServiceManagerTest, ForcedChoicesSkipDetection) {
  FakeRunner runner;
  auto sd = ResolveServiceManager("systemd", runner, Facts({}));
  ASSERT_TRUE(sd.ok());
  EXPECT_EQ(RestartCommand(*sd), (Argv{"systemctl", "restart", "ringrift-p2p"}));
  auto user = ResolveServiceManager("launchd", runner, Facts({}, false, 1000));
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(user->launchd_domain, "gui/1000");
  auto root = ResolveServiceManager("launchd", runner, Facts({}, false, 0));
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->launchd_domain, "system");
  auto none = ResolveServiceManager("none", runner, Facts({"/run/systemd/system"}));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->kind, ManagerKind::kNone);
  EXPECT_TRUE(runner.calls.empty());
  EXPECT_EQ(ResolveServiceManager("upstart", runner, Facts({})).status().code(),
            Code::kInvalidArgument);
}

TEST(CommandRunnerTest, RunsCapturesOutputAndExitCode) {
  auto runner = MakeCommandRunner();
  auto ok = runner->Run({"/bin/sh", "-c", "echo out; echo err >&2; exit 3"}, seconds(10));
  EXPECT_EQ(ok.exit_code, 3);
  EXPECT_NE(ok.output.find("out"), std::string::npos);
  EXPECT_NE(ok.output.find("err"), std::string::npos);
  auto missing = runner->Run({"/nonexistent/systemctl"}, seconds(10));
  EXPECT_EQ(missing.exit_code, 127);
  auto slow = runner->Run({"/bin/sh", "-c", "sleep 30"}, milliseconds(200));
  EXPECT_EQ(slow.exit_code, -1);
  EXPECT_NE(slow.output.find("timed out"), std::string::npos);
}

}  // namespace
}  // namespace rift::resilience
