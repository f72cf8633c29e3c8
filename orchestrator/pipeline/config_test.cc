#include "orchestrator/pipeline/config.h"

#include <gtest/gtest.h>

#include "orchestrator/pipeline/template.h"

namespace rift::pipeline {
namespace {

settings::Host MakeHost(const std::string& id, const std::string& role = "selfplay",
                        const std::string& status = "ready") {
  settings::Host h;
  h.id = id;
  h.ssh_host = id + ".example";
  h.ringrift_path = "/opt/" + id + "/";
  h.role = role;
  h.status = status;
  return h;
}

settings::Settings Base() {
  settings::Settings s;
  s.ringrift_dir = "/srv/coord";
  s.hosts = {MakeHost("a"), MakeHost("b", "selfplay,nn_training"),
             MakeHost("c", "all", "disabled")};
  return s;
}

ConfigInputs Inputs() {
  ConfigInputs in;
  in.local_bin_dir = "/usr/bin";
  in.home = "/home/op";
  return in;
}

TEST(ConfigTest, ReadyHostsDefaultsAndTheTrainingHost) {
  auto c = MakeConfig(Base(), Inputs());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->hosts.size(), 2u);
  EXPECT_EQ(c->hosts[0].ringrift_path, "/opt/a");
  EXPECT_EQ(c->hosts[0].bin_dir, "/opt/a/bin");
  EXPECT_EQ(c->hosts[0].selfplay_dir, "/opt/a/data/selfplay/pipeline/a");
  EXPECT_EQ(c->trainer.id, "b");
  EXPECT_EQ(c->local.ringrift_path, "/srv/coord");
  EXPECT_EQ(c->state_file, "/srv/coord/state/pipeline.json");
  EXPECT_EQ(c->known_hosts, "/home/op/.ssh/known_hosts");
  EXPECT_EQ(c->commands.at("promote"), DefaultCommands().at("promote"));
  EXPECT_EQ(c->games, 200);
}

TEST(ConfigTest, CoordinatorTrainsWhenNoHostHasTheRole) {
  settings::Settings s = Base();
  s.hosts[1].role = "selfplay";
  auto c = MakeConfig(s, Inputs());
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->trainer.local);
  EXPECT_EQ(c->trainer.bin_dir, "/usr/bin");
}

TEST(ConfigTest, OverridesWin) {
  settings::Settings s = Base();
  s.pipeline.commands["train"] = "train {data_dir} {candidate}";
  s.pipeline.training_host = "local";
  s.pipeline.state_file = "/x/state.json";
  ConfigInputs in = Inputs();
  in.games_override = 7;
  in.known_hosts_override = "/tmp/kh";
  auto c = MakeConfig(s, in);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->commands.at("train"), "train {data_dir} {candidate}");
  EXPECT_TRUE(c->trainer.local);
  EXPECT_EQ(c->games, 7);
  EXPECT_EQ(c->known_hosts, "/tmp/kh");
  EXPECT_EQ(c->state_file, "/x/state.json");
}

TEST(ConfigTest, EveryProblemIsReportedAtOnce) {
  settings::Settings s = Base();
  s.hosts_file = "hosts.yaml";
  s.hosts[0].ringrift_path = "relative/dir";
  s.hosts[1].ssh_host = "";
  s.pipeline.commands["selfplay"] = "x {candidate}";
  s.pipeline.training_host = "zz";
  auto c = MakeConfig(s, Inputs());
  ASSERT_FALSE(c.ok());
  const std::string& m = c.status().message();
  EXPECT_NE(m.find("hosts.a.ringrift_path: the pipeline needs an absolute path"), std::string::npos)
      << m;
  EXPECT_NE(m.find("hosts.b: a ready host needs ssh_host"), std::string::npos) << m;
  EXPECT_NE(m.find("pipeline.commands.selfplay: unknown placeholder {candidate}"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("training_host 'zz'"), std::string::npos) << m;
}

TEST(ConfigTest, NoReadyHostIsAnError) {
  settings::Settings s = Base();
  for (auto& h : s.hosts) h.status = "maintenance";
  auto c = MakeConfig(s, Inputs());
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("no host with status: ready"), std::string::npos);
}

TEST(ConfigTest, DefaultTemplatesOnlyUseTheirStepsPlaceholders) {
  for (const auto& [step, text] : DefaultCommands()) {
    auto st = CheckPlaceholders(step, text, AllowedPlaceholders(step));
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
}

}  // namespace
}  // namespace rift::pipeline
