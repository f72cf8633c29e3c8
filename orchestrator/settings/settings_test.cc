#include "orchestrator/settings/settings.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "orchestrator/settings/settings_fixture_for_test.h"

namespace rift::settings {
namespace {

namespace fs = std::filesystem;
using Severity = Problem::Severity;

class SettingsTest : public SettingsFixture {
 protected:
  std::vector<Problem> Errors() const { return Only(Severity::kError); }
  std::vector<Problem> Warnings() const { return Only(Severity::kWarning); }
  std::vector<Problem> Only(Severity s) const {
    std::vector<Problem> out;
    std::copy_if(problems_.begin(), problems_.end(), std::back_inserter(out),
                 [&](const Problem& p) { return p.severity == s; });
    return out;
  }
};

TEST_F(SettingsTest, DefaultsApplyWhenOnlyTheNodeIdIsGiven) {
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  EXPECT_EQ(s->node_id, "n1");
  EXPECT_EQ(s->port, 8770);
  EXPECT_EQ(s->bind_host, "0.0.0.0");
  EXPECT_EQ(s->ringrift_dir, ".");
  EXPECT_EQ(s->leader_mode, "elected");
  EXPECT_EQ(s->timer_profile, "default");
  EXPECT_EQ(s->timers.election_timeout, std::chrono::milliseconds(3000));
  EXPECT_TRUE(s->voters.empty());
  EXPECT_TRUE(s->hosts_file.empty());
  EXPECT_TRUE(problems_.empty()) << Dump();
}

TEST_F(SettingsTest, FlagsBeatEnvironmentBeatsNodeConfBeatsYaml) {
  Yaml("preferred_leader: from-yaml\n");
  Conf("RINGRIFT_PREFERRED_LEADER=from-conf\n");
  src_.env["RINGRIFT_PREFERRED_LEADER"] = "from-env";
  src_.flags["RINGRIFT_PREFERRED_LEADER"] = "from-flags";
  EXPECT_EQ(LoadIt()->preferred_leader, "from-flags");
  src_.flags.erase("RINGRIFT_PREFERRED_LEADER");
  EXPECT_EQ(LoadIt()->preferred_leader, "from-env");
  src_.env.clear();
  EXPECT_EQ(LoadIt()->preferred_leader, "from-conf");
  Conf("# nothing\n");
  EXPECT_EQ(LoadIt()->preferred_leader, "from-yaml");
}

TEST_F(SettingsTest, AnEmptyValueFallsThroughToTheNextSource) {
  Conf("P2P_PORT=9000\n");
  src_.env["P2P_PORT"] = "";
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  EXPECT_EQ(s->port, 9000);
}

TEST_F(SettingsTest, NodeConfAcceptsCommentsQuotesAndExport) {
  Conf(
      "# ringrift node\n"
      "\n"
      "NODE_ID=\"gpu-1\"\n"
      "export COORDINATOR_URL='http://coord:8770/'\n"
      "  RINGRIFT_DIR=\"/srv/ring rift\"  # trailing comment\n"
      "P2P_PORT=8771 # port\n"
      "RINGRIFT_LOG_FILE=\"a\\\"b\"\r\n");
  src_.flags.clear();
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  EXPECT_EQ(s->node_id, "gpu-1");
  EXPECT_EQ(s->coordinator_url, "http://coord:8770");
  EXPECT_EQ(s->ringrift_dir, "/srv/ring rift");
  EXPECT_EQ(s->port, 8771);
  EXPECT_EQ(s->log_file, "a\"b");
}

TEST_F(SettingsTest, ProblemToStringReadsFileLineKeyMessage) {
  std::string path = Conf("NODE_ID=n1\n\nP2P_PORT=abc\n");
  EXPECT_FALSE(LoadIt().ok());
  ASSERT_EQ(Errors().size(), 1u) << Dump();
  EXPECT_EQ(Errors()[0].ToString(), path + ":3: P2P_PORT: expected an integer, got 'abc'");
}

TEST_F(SettingsTest, MalformedNodeConfLinesAreErrorsWithTheirLines) {
  std::string path = Conf(
      "NODE_ID=n1\n"
      "just words\n"
      "BAD KEY=1\n"
      "COORDINATOR_URL=\"http://x:1\n"
      "BIND_HOST=a b\n");
  EXPECT_FALSE(LoadIt().ok());
  auto errors = Errors();
  ASSERT_EQ(errors.size(), 4u) << Dump();
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(errors[i].file, path);
    EXPECT_EQ(errors[i].line, i + 2);
  }
  EXPECT_EQ(errors[2].key, "COORDINATOR_URL");
  EXPECT_EQ(errors[3].key, "BIND_HOST");
}

TEST_F(SettingsTest, UnknownNodeConfKeyIsOnlyAWarningWithASuggestion) {
  std::string path = Conf("NODE_ID=n1\nCOORDINATR_URL=http://x:1\nPATH=/bin\n");
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  auto warnings = Warnings();
  ASSERT_EQ(warnings.size(), 2u) << Dump();
  EXPECT_EQ(warnings[0].file, path);
  EXPECT_EQ(warnings[0].line, 2);
  EXPECT_EQ(warnings[0].key, "COORDINATR_URL");
  EXPECT_NE(warnings[0].message.find("did you mean 'COORDINATOR_URL'"), std::string::npos);
  EXPECT_EQ(warnings[1].key, "PATH");
}

TEST_F(SettingsTest, UnknownFlagIsAnError) {
  src_.flags["NODE_IDD"] = "x";
  EXPECT_FALSE(LoadIt().ok());
  ASSERT_EQ(Errors().size(), 1u);
  EXPECT_EQ(Errors()[0].file, "flags");
}

TEST_F(SettingsTest, UnknownYamlKeysAreErrorsWithLineAndKey) {
  std::string path = Yaml(
      "hosts:\n"
      "  a:\n"
      "    ssh_host: 10.0.0.1\n"
      "    ssh_prot: 22\n"
      "timers:\n"
      "  heartbeat: 100\n"
      "votrs: [a]\n");
  EXPECT_FALSE(LoadIt().ok());
  auto errors = Errors();
  ASSERT_EQ(errors.size(), 3u) << Dump();
  EXPECT_EQ(errors[0].ToString(),
            path + ":4: hosts.a.ssh_prot: unknown key (did you mean 'ssh_port'?)");
  EXPECT_EQ(errors[1].line, 6);
  EXPECT_EQ(errors[1].key, "timers.heartbeat");
  EXPECT_EQ(errors[2].line, 7);
  EXPECT_EQ(errors[2].key, "votrs");
}

TEST_F(SettingsTest, WrongYamlTypesAreErrorsWithLineAndKey) {
  Yaml(
      "hosts:\n"
      "  a:\n"
      "    cpus: many\n"
      "    p2p_voter: perhaps\n"
      "    capabilities: gpu\n"
      "    ssh_port: 70000\n"
      "    status: broken\n"
      "p2p_voters: a\n"
      "timers:\n"
      "  election_timeout_ms: [1]\n");
  EXPECT_FALSE(LoadIt().ok());
  auto errors = Errors();
  ASSERT_EQ(errors.size(), 7u) << Dump();
  std::vector<std::pair<int, std::string>> want = {{3, "hosts.a.cpus"},
                                                   {4, "hosts.a.p2p_voter"},
                                                   {5, "hosts.a.capabilities"},
                                                   {6, "hosts.a.ssh_port"},
                                                   {7, "hosts.a.status"},
                                                   {8, "p2p_voters"},
                                                   {10, "timers.election_timeout_ms"}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(errors[i].line, want[i].first) << errors[i].ToString();
    EXPECT_EQ(errors[i].key, want[i].second) << errors[i].ToString();
  }
}

TEST_F(SettingsTest, DuplicateHostIdsAreErrors) {
  Yaml("hosts:\n  a:\n    cpus: 1\n  b: {}\n  a:\n    cpus: 2\n");
  EXPECT_FALSE(LoadIt().ok());
  ASSERT_EQ(Errors().size(), 1u) << Dump();
  EXPECT_EQ(Errors()[0].line, 5);
  EXPECT_EQ(Errors()[0].key, "hosts.a");
  EXPECT_NE(Errors()[0].message.find("first at line 2"), std::string::npos);
}

TEST_F(SettingsTest, YamlSyntaxErrorReportsItsLine) {
  Yaml("hosts:\n  a: [1,\n  b");
  EXPECT_FALSE(LoadIt().ok());
  ASSERT_EQ(Errors().size(), 1u) << Dump();
  EXPECT_GE(Errors()[0].line, 2);
}

TEST_F(SettingsTest, EmptySectionsMeanTheDefaults) {
  Yaml("pipeline: ~\nwatchdog: ~\n");  // the watchdog's keys: watchdog_test.cc
  EXPECT_TRUE(LoadIt().ok()) << Dump();
  EXPECT_TRUE(problems_.empty()) << Dump();
}

TEST_F(SettingsTest, DataPlaneDefaultsApplyWithoutSections) {
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  EXPECT_TRUE(s->file_classes.empty());
  EXPECT_EQ(s->sync.interval, std::chrono::seconds(60));
  EXPECT_EQ(s->sync.quiet_period, std::chrono::seconds(30));
  EXPECT_EQ(s->sync.max_concurrent_transfers, 4);
  EXPECT_EQ(s->sync.bandwidth_limit_mbps, 0);
  EXPECT_EQ(s->sync.small_file_bytes, 1u << 20);
  EXPECT_EQ(s->sync.cpu_priority, CpuPriority::kIdle);
  EXPECT_DOUBLE_EQ(s->cleanup.high_watermark, 0.80);
  EXPECT_DOUBLE_EQ(s->cleanup.low_watermark, 0.70);
  EXPECT_EQ(s->cleanup.interval, std::chrono::seconds(300));
}

TEST_F(SettingsTest, DataPlaneSectionsAreParsed) {
  Yaml(
      "file_classes:\n"
      "  - name: tmp\n"
      "    prefixes: [tmp/]\n"
      "    replication: 1\n"
      "    cleanup_rank: 0\n"
      "  - {name: models, prefixes: [models/, candidates/], replication: 3, protect: true,\n"
      "     cleanup_rank: 100}\n"
      "  - {name: selfplay, prefixes: [selfplay/], training_needs_all: true}\n"
      "sync:\n"
      "  interval_s: 120\n"
      "  quiet_period_s: 10\n"
      "  max_concurrent_transfers: 8\n"
      "  bandwidth_limit_mbps: 500\n"
      "  small_file_bytes: 65536\n"
      "  part_max_age_s: 3600\n"
      "  cpu_priority: low\n"
      "cleanup:\n"
      "  high_watermark: 0.9\n"
      "  low_watermark: 0.75\n"
      "  interval_s: 60\n");
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  EXPECT_TRUE(problems_.empty()) << Dump();
  ASSERT_EQ(s->file_classes.size(), 3u);
  const auto& tmp = s->file_classes[0];
  EXPECT_EQ(tmp.name, "tmp");
  EXPECT_EQ(tmp.prefixes, std::vector<std::string>{"tmp/"});
  EXPECT_EQ(tmp.replication, 1);
  EXPECT_EQ(tmp.cleanup_rank, 0);
  EXPECT_EQ(tmp.line, 2);
  const auto& models = s->file_classes[1];
  EXPECT_EQ(models.prefixes, (std::vector<std::string>{"models/", "candidates/"}));
  EXPECT_EQ(models.replication, 3);
  EXPECT_TRUE(models.protect);
  EXPECT_FALSE(models.training_needs_all);
  EXPECT_EQ(models.cleanup_rank, 100);
  const auto& selfplay = s->file_classes[2];
  EXPECT_TRUE(selfplay.training_needs_all);
  EXPECT_EQ(selfplay.replication, 2);
  EXPECT_EQ(selfplay.cleanup_rank, 50);
  EXPECT_EQ(s->sync.interval, std::chrono::seconds(120));
  EXPECT_EQ(s->sync.quiet_period, std::chrono::seconds(10));
  EXPECT_EQ(s->sync.max_concurrent_transfers, 8);
  EXPECT_EQ(s->sync.bandwidth_limit_mbps, 500);
  EXPECT_EQ(s->sync.small_file_bytes, 65536u);
  EXPECT_EQ(s->sync.part_max_age, std::chrono::seconds(3600));
  EXPECT_EQ(s->sync.cpu_priority, CpuPriority::kLow);
  EXPECT_DOUBLE_EQ(s->cleanup.high_watermark, 0.9);
  EXPECT_DOUBLE_EQ(s->cleanup.low_watermark, 0.75);
  EXPECT_EQ(s->cleanup.interval, std::chrono::seconds(60));
}

TEST_F(SettingsTest, DataPlaneEnvironmentOverridesTheYaml) {
  Yaml("sync: {interval_s: 120, quiet_period_s: 10}\ncleanup: {high_watermark: 0.9}\n");
  src_.env["RINGRIFT_SYNC_INTERVAL_S"] = "15";
  src_.env["RINGRIFT_QUIET_PERIOD_S"] = "5";
  src_.env["RINGRIFT_CLEANUP_HIGH_WATERMARK"] = "0.95";
  src_.env["RINGRIFT_SYNC_CPU_PRIORITY"] = "normal";
  Conf("RINGRIFT_CLEANUP_LOW_WATERMARK=0.5\n");
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  EXPECT_TRUE(problems_.empty()) << Dump();
  EXPECT_EQ(s->sync.interval, std::chrono::seconds(15));
  EXPECT_EQ(s->sync.quiet_period, std::chrono::seconds(5));
  EXPECT_DOUBLE_EQ(s->cleanup.high_watermark, 0.95);
  EXPECT_DOUBLE_EQ(s->cleanup.low_watermark, 0.5);
  EXPECT_EQ(s->sync.cpu_priority, CpuPriority::kNormal);
}

TEST_F(SettingsTest, UnknownCpuPriorityIsAnErrorWithFileLineAndKey) {
  std::string path = Yaml("sync:\n  interval_s: 30\n  cpu_priority: background\n");
  EXPECT_FALSE(LoadIt().ok());
  auto errors = Errors();
  ASSERT_EQ(errors.size(), 1u) << Dump();
  EXPECT_EQ(errors[0].file, path);
  EXPECT_EQ(errors[0].line, 3);
  EXPECT_EQ(errors[0].key, "sync.cpu_priority");
  EXPECT_NE(errors[0].message.find("expected idle, low or normal, got 'background'"),
            std::string::npos)
      << Dump();
}

TEST_F(SettingsTest, DataPlaneMistakesAreErrorsWithFileLineAndKey) {
  std::string path = Yaml(
      "file_classes:\n"                       // 1
      "  - name: tmp\n"                       // 2
      "    prefixes: [tmp/]\n"                // 3
      "    replication: 0\n"                  // 4: below 1
      "    protect: maybe\n"                  // 5: not a bool
      "    rank: 3\n"                         // 6: unknown key
      "  - {name: tmp, prefixes: [x/]}\n"     // 7: duplicate name
      "  - {name: bad, prefixes: [../up]}\n"  // 8: escaping prefix
      "  - {prefixes: [y/]}\n"                // 9: no name
      "  - {name: lone}\n"                    // 10: no prefixes
      "  - just-a-string\n"                   // 11: not a map
      "sync:\n"                               // 12
      "  interval_s: soon\n"                  // 13: not an integer
      "  max_concurrent_transfers: 0\n"       // 14: out of range
      "  bandwith_limit_mbps: 1\n"            // 15: typo
      "cleanup:\n"                            // 16
      "  high_watermark: 1.5\n"               // 17: not below 1
      "  interval_s: -1\n"                    // 18: out of range
      "  low: 0.5\n");                        // 19: unknown key
  EXPECT_FALSE(LoadIt().ok());
  std::vector<std::pair<int, std::string>> want = {{4, "file_classes[0].replication"},
                                                   {5, "file_classes[0].protect"},
                                                   {6, "file_classes[0].rank"},
                                                   {7, "file_classes[1].name"},
                                                   {8, "file_classes[2].prefixes"},
                                                   {9, "file_classes[3].name"},
                                                   {10, "file_classes[4].prefixes"},
                                                   {11, "file_classes[5]"},
                                                   {13, "sync.interval_s"},
                                                   {14, "sync.max_concurrent_transfers"},
                                                   {15, "sync.bandwith_limit_mbps"},
                                                   {17, "cleanup.high_watermark"},
                                                   {18, "cleanup.interval_s"},
                                                   {19, "cleanup.low"}};
  auto errors = Errors();
  ASSERT_EQ(errors.size(), want.size()) << Dump();
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(errors[i].file, path) << errors[i].ToString();
    EXPECT_EQ(errors[i].line, want[i].first) << errors[i].ToString();
    EXPECT_EQ(errors[i].key, want[i].second) << errors[i].ToString();
  }
  EXPECT_NE(errors[10].message.find("did you mean 'bandwidth_limit_mbps'"), std::string::npos)
      << Dump();
}

TEST_F(SettingsTest, JobsSectionParsesCatalogueAndLimits) {
  Yaml(
      "jobs:\n"
      "  max_jobs: 3\n"
      "  stop_grace_s: 4\n"
      "  log_cap_bytes: 65536\n"
      "  catalogue:\n"
      "    selfplay:\n"
      "      argv: [\"{bin_dir}/rift-c4\", selfplay, --games, \"{games}\", [--model, \"{model}\"]]\n"
      "      env: {OMP_NUM_THREADS: \"1\", TAG: \"{node}-{{x}}\"}\n"
      "      out_dir: selfplay/{node}/{job_id}\n"
      "      timeout_s: 60\n"
      "      max_per_node: 2\n"
      "      params: {games: 200, board: 6x7}\n"
      "    gpu_selfplay:\n"
      "      argv: [/bin/true]\n"
      "      gpus: 1\n"
      "      cwd: /tmp\n");
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  EXPECT_TRUE(problems_.empty()) << Dump();
  EXPECT_EQ(s->jobs.max_jobs, 3);
  EXPECT_EQ(s->jobs.stop_grace, std::chrono::seconds(4));
  EXPECT_EQ(s->jobs.log_cap_bytes, 65536u);
  ASSERT_EQ(s->jobs.catalogue.size(), 2u);
  const JobKind& sp = s->jobs.catalogue[0];
  EXPECT_EQ(sp.name, "selfplay");
  EXPECT_EQ(sp.line, 6);
  ASSERT_EQ(sp.argv.size(), 5u);
  EXPECT_EQ(sp.argv[0].words, std::vector<std::string>{"{bin_dir}/rift-c4"});
  EXPECT_FALSE(sp.argv[0].optional);
  EXPECT_TRUE(sp.argv[4].optional);
  EXPECT_EQ(sp.argv[4].words, (std::vector<std::string>{"--model", "{model}"}));
  EXPECT_EQ(sp.env.at("TAG"), "{node}-{{x}}");
  EXPECT_EQ(sp.out_dir, "selfplay/{node}/{job_id}");
  EXPECT_EQ(sp.timeout, std::chrono::seconds(60));
  EXPECT_EQ(sp.max_per_node, 2);
  EXPECT_EQ(sp.params.at("games"), "200");
  EXPECT_EQ(s->jobs.catalogue[1].gpus, 1);
  EXPECT_EQ(s->jobs.catalogue[1].cwd, "/tmp");
}

TEST_F(SettingsTest, JobsDefaultsApplyWithoutASection) {
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  EXPECT_EQ(s->jobs.max_jobs, 8);
  EXPECT_EQ(s->jobs.stop_grace, std::chrono::seconds(10));
  EXPECT_EQ(s->jobs.log_cap_bytes, 8u << 20);
  EXPECT_TRUE(s->jobs.catalogue.empty());
}

TEST_F(SettingsTest, JobsMistakesAreErrorsWithFileLineAndKey) {
  std::string path = Yaml(
      "jobs:\n"                                           // 1
      "  max_jobs: lots\n"                                // 2: not an integer
      "  stop_grace: 3\n"                                 // 3: unknown key
      "  log_cap_bytes: 10\n"                             // 4: below 4096
      "  catalogue:\n"                                    // 5
      "    selfplay:\n"                                   // 6
      "      argv: [\"{bin_dir/rift-c4\", x]\n"           // 7: unclosed placeholder
      "      gpus: many\n"                                // 8: not an integer
      "      out_dir: /abs/{job_id}\n"                    // 9: absolute
      "      parms: {games: 1}\n"                         // 10: typo
      "    eval:\n"                                       // 11
      "      argv: [[--opt, x]]\n"                        // 12: optional program
      "      env: {1BAD: x}\n"                            // 13: bad env name
      "      params: {ok: \"{}\"}\n"                      // 14: empty placeholder
      "    promote: {timeout_s: 5}\n"                     // 15: no argv
      "    \"bad kind!\": {argv: [x]}\n"                  // 16: bad name
      "    train: {argv: [x], out_dir: ../up}\n");        // 17: escapes data/
  EXPECT_FALSE(LoadIt().ok());
  std::vector<std::pair<int, std::string>> want = {
      {2, "jobs.max_jobs"},
      {3, "jobs.stop_grace"},
      {4, "jobs.log_cap_bytes"},
      {7, "jobs.catalogue.selfplay.argv[0]"},
      {8, "jobs.catalogue.selfplay.gpus"},
      {9, "jobs.catalogue.selfplay.out_dir"},
      {10, "jobs.catalogue.selfplay.parms"},
      {12, "jobs.catalogue.eval.argv[0]"},
      {13, "jobs.catalogue.eval.env.1BAD"},
      {14, "jobs.catalogue.eval.params.ok"},
      {15, "jobs.catalogue.promote.argv"},
      {16, "jobs.catalogue.bad kind!"},
      {17, "jobs.catalogue.train.out_dir"}};
  auto errors = Errors();
  ASSERT_EQ(errors.size(), want.size()) << Dump();
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(errors[i].file, path) << errors[i].ToString();
    EXPECT_EQ(errors[i].line, want[i].first) << errors[i].ToString();
    EXPECT_EQ(errors[i].key, want[i].second) << errors[i].ToString();
  }
  EXPECT_NE(errors[6].message.find("did you mean 'params'"), std::string::npos) << Dump();
  EXPECT_NE(errors[3].message.find("unclosed '{'"), std::string::npos) << Dump();
}

TEST(SplitTemplateTest, SplitsLiteralsAndPlaceholders) {
  auto p = SplitTemplate("a{x}-{{lit}}{y.z}");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  ASSERT_EQ(p->size(), 4u);
  EXPECT_FALSE((*p)[0].placeholder);
  EXPECT_EQ((*p)[0].text, "a");
  EXPECT_TRUE((*p)[1].placeholder);
  EXPECT_EQ((*p)[1].text, "x");
  EXPECT_EQ((*p)[2].text, "-{lit}");
  EXPECT_EQ((*p)[3].text, "y.z");
  for (const char* bad : {"{", "a}", "{}", "{a b}", "{a{b}"}) {
    EXPECT_EQ(SplitTemplate(bad).status().code(), Code::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(SplitTemplate("").ok());
}

TEST_F(SettingsTest, WatermarksMustBeFractionsWithLowBelowHigh) {
  std::string path = Yaml("cleanup:\n  high_watermark: 0.6\n  low_watermark: 0.7\n");
  EXPECT_FALSE(LoadIt().ok());
  ASSERT_EQ(Errors().size(), 1u) << Dump();
  EXPECT_EQ(Errors()[0].file, path);
  EXPECT_EQ(Errors()[0].line, 3);
  EXPECT_EQ(Errors()[0].key, "cleanup.low_watermark");
  EXPECT_NE(Errors()[0].message.find("below the high watermark"), std::string::npos);

  // Only the high one given, below the default low: it is the one to blame.
  Yaml("cleanup:\n  high_watermark: 0.5\n");
  EXPECT_FALSE(LoadIt().ok());
  ASSERT_EQ(Errors().size(), 1u) << Dump();
  EXPECT_EQ(Errors()[0].line, 2);
  EXPECT_EQ(Errors()[0].key, "cleanup.high_watermark");

  Yaml("cleanup: {high_watermark: 0, low_watermark: 1}\n");
  EXPECT_FALSE(LoadIt().ok());
  EXPECT_EQ(Errors().size(), 2u) << Dump();

  Yaml("");
  src_.env["RINGRIFT_CLEANUP_LOW_WATERMARK"] = "lots";
  src_.env["RINGRIFT_SYNC_INTERVAL_S"] = "0";
  src_.env["RINGRIFT_QUIET_PERIOD_S"] = "1.5";
  EXPECT_FALSE(LoadIt().ok());
  auto errors = Errors();
  ASSERT_EQ(errors.size(), 3u) << Dump();
  for (const auto& e : errors) EXPECT_EQ(e.file, "environment") << e.ToString();
  EXPECT_EQ(errors[0].key, "RINGRIFT_SYNC_INTERVAL_S");
  EXPECT_EQ(errors[1].key, "RINGRIFT_QUIET_PERIOD_S");
  EXPECT_EQ(errors[2].key, "RINGRIFT_CLEANUP_LOW_WATERMARK");
}

TEST_F(SettingsTest, DataPlaneSectionsMustHaveTheRightShape) {
  std::string path = Yaml("file_classes: {a: 1}\nsync: 1\ncleanup: [x]\n");
  EXPECT_FALSE(LoadIt().ok());
  auto errors = Errors();
  ASSERT_EQ(errors.size(), 3u) << Dump();
  EXPECT_EQ(errors[0].ToString(), path + ":1: file_classes: expected a list of classes, got a map");
  EXPECT_EQ(errors[1].key, "sync");
  EXPECT_EQ(errors[1].line, 2);
  EXPECT_EQ(errors[2].key, "cleanup");
  EXPECT_EQ(errors[2].line, 3);
}

TEST_F(SettingsTest, AllProblemsAreReportedAtOnce) {
  Conf("P2P_PORT=abc\nEXTRA_PEERS=http://ok:1,ftp://bad\n");
  Yaml("hosts:\n  a:\n    gpu_count: 2\n");
  src_.env["RINGRIFT_REQUIRE_AUTH"] = "maybe";
  src_.flags["NODE_ID"] = "bad id!";
  auto s = LoadIt();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(Errors().size(), 5u) << Dump();
  EXPECT_NE(s.status().message().find("5 configuration error(s)"), std::string::npos);
}

TEST_F(SettingsTest, MissingNodeIdSaysHowToSetIt) {
  src_.flags.clear();
  EXPECT_FALSE(LoadIt().ok());
  ASSERT_EQ(Errors().size(), 1u);
  EXPECT_EQ(Errors()[0].key, "NODE_ID");
  EXPECT_NE(Errors()[0].message.find("--node-id"), std::string::npos);
}

TEST_F(SettingsTest, NodeIdsMustBeShortAndPlain) {
  const std::vector<std::string> bads = {"a b", "a/b", std::string(65, 'x'), "é"};
  for (const std::string& bad : bads) {
    src_.flags["NODE_ID"] = bad;
    EXPECT_FALSE(LoadIt().ok()) << bad;
  }
  for (const std::string& good :
       std::vector<std::string>{"a", "gpu-1.lab_2", std::string(64, 'x')}) {
    src_.flags["NODE_ID"] = good;
    EXPECT_TRUE(LoadIt().ok()) << good << Dump();
  }
}

TEST_F(SettingsTest, PortsMustBeInRangeAndOnlyTheP2PPortMayBeZero) {
  for (const std::string bad : {"65536", "-1", "80x"}) {
    src_.flags["P2P_PORT"] = bad;
    EXPECT_FALSE(LoadIt().ok()) << bad;
    src_.flags.erase("P2P_PORT");
  }
  for (const std::string bad : {"0", "65536", "-1", "80x"}) {
    src_.flags["SSH_PORT"] = bad;
    EXPECT_FALSE(LoadIt().ok()) << bad;
    src_.flags.erase("SSH_PORT");
  }
  src_.flags["P2P_PORT"] = "65535";
  EXPECT_EQ(LoadIt()->port, 65535);
  src_.flags["P2P_PORT"] = "0";  // any free port; the daemon advertises the one it gets
  EXPECT_EQ(LoadIt()->port, 0);
}

TEST_F(SettingsTest, UrlsMustBeHttpWithAHost) {
  for (const std::string bad : {"coord:8770", "ftp://c:1", "http://", "http://c:0",
                                "http://c:99999", "http://u:p@c:1", "http://a b:1"}) {
    src_.flags["COORDINATOR_URL"] = bad;
    EXPECT_FALSE(LoadIt().ok()) << bad;
  }
  for (const std::string good :
       {"http://c:8770", "https://c.example.org", "http://[::1]:8770", "http://10.0.0.1:1/base/"}) {
    src_.flags["COORDINATOR_URL"] = good;
    EXPECT_TRUE(LoadIt().ok()) << good << Dump();
  }
}

TEST_F(SettingsTest, AdvertiseUrlUsesLoopbackWhenBoundThere) {
  src_.flags["BIND_HOST"] = "127.0.0.1";
  src_.flags["P2P_PORT"] = "9001";
  EXPECT_EQ(LoadIt()->advertise_url, "http://127.0.0.1:9001");
  src_.flags["BIND_HOST"] = "0.0.0.0";
  std::string url = LoadIt()->advertise_url;
  EXPECT_EQ(url.rfind("http://", 0), 0u);
  EXPECT_EQ(url.substr(url.size() - 5), ":9001");
  src_.flags["ADVERTISE_URL"] = "http://public:1";
  EXPECT_EQ(LoadIt()->advertise_url, "http://public:1");
}

TEST_F(SettingsTest, VotersComeFromEnvThenYamlListThenHostFlags) {
  Yaml(
      "hosts:\n"
      "  a: {p2p_voter: true}\n  b: {p2p_voter: false}\n  c: {p2p_voter: true}\n"
      "  d: {}\n  e: {p2p_voter: true}\n");
  EXPECT_EQ(LoadIt()->voters, (std::vector<std::string>{"a", "c", "e"}));
  Yaml("hosts:\n  a: {p2p_voter: true}\n  b: {}\n  c: {}\np2p_voters: [b, c, a]\n");
  EXPECT_EQ(LoadIt()->voters, (std::vector<std::string>{"b", "c", "a"}));
  src_.env["RINGRIFT_P2P_VOTERS"] = " c , a,b ";
  EXPECT_EQ(LoadIt()->voters, (std::vector<std::string>{"c", "a", "b"}));
}

TEST_F(SettingsTest, VoterMissingFromHostsAndEvenCountAreWarnings) {
  Yaml("hosts:\n  n1: {}\n  a: {}\np2p_voters: [n1, a, ghost, a2]\n");
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  auto w = Warnings();
  ASSERT_EQ(w.size(), 3u) << Dump();
  EXPECT_NE(w[0].message.find("ghost"), std::string::npos);
  EXPECT_NE(w[2].message.find("odd"), std::string::npos);
  EXPECT_EQ(w[2].line, 4);
}

TEST_F(SettingsTest, VoterIdsOutsideAnyHostsFileAreFine) {
  src_.flags["RINGRIFT_P2P_VOTERS"] = "a,b,c";
  ASSERT_TRUE(LoadIt().ok());
  EXPECT_TRUE(problems_.empty()) << Dump();
}

TEST_F(SettingsTest, StaticLeaderModeNeedsAPreferredVoter) {
  src_.flags["RINGRIFT_P2P_VOTERS"] = "a,b,c";
  src_.flags["RINGRIFT_LEADER_MODE"] = "static";
  EXPECT_FALSE(LoadIt().ok());
  src_.flags["RINGRIFT_PREFERRED_LEADER"] = "z";
  EXPECT_FALSE(LoadIt().ok());
  src_.flags["RINGRIFT_PREFERRED_LEADER"] = "b";
  EXPECT_TRUE(LoadIt().ok()) << Dump();
  src_.flags["RINGRIFT_LEADER_MODE"] = "dictator";
  EXPECT_FALSE(LoadIt().ok());
}

TEST_F(SettingsTest, TokenComesFromEnvBeforeTheTokenFile) {
  src_.env["RINGRIFT_CLUSTER_AUTH_TOKEN_FILE"] = Write("token", "  file-secret\n");
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  EXPECT_EQ(s->auth_token, "file-secret");
  src_.env["RINGRIFT_CLUSTER_AUTH_TOKEN"] = "env-secret";
  EXPECT_EQ(LoadIt()->auth_token, "env-secret");
}

TEST_F(SettingsTest, GroupReadableTokenFileIsAnErrorThatSaysChmod600) {
  src_.env["RINGRIFT_CLUSTER_AUTH_TOKEN_FILE"] = Write("token", "secret\n", 0640);
  EXPECT_FALSE(LoadIt().ok());
  ASSERT_EQ(Errors().size(), 1u) << Dump();
  EXPECT_EQ(Errors()[0].key, "RINGRIFT_CLUSTER_AUTH_TOKEN_FILE");
  EXPECT_EQ(Errors()[0].file, "environment");
  EXPECT_NE(Errors()[0].message.find("chmod 600"), std::string::npos);
  EXPECT_EQ(Errors()[0].message.find("secret"), std::string::npos);
}

TEST_F(SettingsTest, MissingOrEmptyTokenFileIsAnError) {
  src_.flags["RINGRIFT_CLUSTER_AUTH_TOKEN_FILE"] = dir_ + "/nope";
  EXPECT_FALSE(LoadIt().ok());
  src_.flags["RINGRIFT_CLUSTER_AUTH_TOKEN_FILE"] = Write("empty", " \n");
  EXPECT_FALSE(LoadIt().ok());
}

TEST_F(SettingsTest, RequireAuthWithoutATokenIsAnError) {
  std::string path = Conf("RINGRIFT_REQUIRE_AUTH=yes\n");
  EXPECT_FALSE(LoadIt().ok());
  ASSERT_EQ(Errors().size(), 1u);
  EXPECT_EQ(Errors()[0].file, path);
  EXPECT_EQ(Errors()[0].line, 1);
  src_.env["RINGRIFT_CLUSTER_AUTH_TOKEN"] = "t";
  auto s = LoadIt();
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->require_auth);
}

TEST_F(SettingsTest, TimerProfilesHaveTheDocumentedValues) {
  using std::chrono::milliseconds;
  auto etcd = TimerProfile("etcd");
  ASSERT_TRUE(etcd);
  EXPECT_EQ(etcd->heartbeat_interval, milliseconds(100));
  EXPECT_EQ(etcd->election_timeout, milliseconds(1000));
  EXPECT_EQ(etcd->probe_interval, milliseconds(500));
  EXPECT_EQ(etcd->probe_timeout, milliseconds(250));
  EXPECT_EQ(etcd->suspicion_min, milliseconds(1500));
  EXPECT_EQ(etcd->suspicion_max, milliseconds(6000));
  auto fast = TimerProfile("fast");
  ASSERT_TRUE(fast);
  EXPECT_EQ(fast->heartbeat_interval, milliseconds(50));
  EXPECT_EQ(fast->election_timeout, milliseconds(250));
  EXPECT_EQ(fast->probe_interval, milliseconds(200));
  EXPECT_EQ(fast->probe_timeout, milliseconds(100));
  EXPECT_EQ(fast->suspicion_min, milliseconds(600));
  EXPECT_EQ(fast->suspicion_max, milliseconds(3000));
  auto def = TimerProfile("default");
  ASSERT_TRUE(def);
  EXPECT_EQ(def->election_timeout, Timers{}.election_timeout);
  EXPECT_FALSE(TimerProfile("turbo"));
}

TEST_F(SettingsTest, TimerOverridesApplyOnTopOfTheProfileFromAnySource) {
  using std::chrono::milliseconds;
  Yaml("timers:\n  profile: etcd\n  heartbeat_ms: 200\n  dead_reap_ttl_ms: 5000\n");
  src_.env["RINGRIFT_ELECTION_TIMEOUT_MS"] = "2000";
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  EXPECT_EQ(s->timer_profile, "etcd");
  EXPECT_EQ(s->timers.heartbeat_interval, milliseconds(200));
  EXPECT_EQ(s->timers.election_timeout, milliseconds(2000));
  EXPECT_EQ(s->timers.dead_reap_ttl, milliseconds(5000));
  EXPECT_EQ(s->timers.probe_interval, milliseconds(500));
  src_.flags["RINGRIFT_TIMER_PROFILE"] = "fast";
  EXPECT_EQ(LoadIt()->timers.probe_interval, milliseconds(200));
}

TEST_F(SettingsTest, UnknownProfileAndInconsistentTimersAreErrors) {
  src_.flags["RINGRIFT_TIMER_PROFILE"] = "turbo";
  EXPECT_FALSE(LoadIt().ok());
  src_.flags.erase("RINGRIFT_TIMER_PROFILE");
  src_.env["RINGRIFT_HEARTBEAT_MS"] = "5000";
  EXPECT_FALSE(LoadIt().ok());
  ASSERT_EQ(Errors().size(), 1u);
  EXPECT_EQ(Errors()[0].key, "RINGRIFT_HEARTBEAT_MS");
}

TEST_F(SettingsTest, SeedsAreCoordinatorThenExtraPeersThenHostsWithoutSelfOrRepeats) {
  Yaml(
      "hosts:\n"
      "  n1: {ssh_host: self.lan}\n"
      "  z: {ssh_host: z.lan}\n"
      "  a: {p2p_url: 'http://a.lan:9000/'}\n"
      "  c: {ssh_host: coord}\n"
      "  m: {ssh_user: x}\n");
  src_.flags["COORDINATOR_URL"] = "http://coord:8770";
  src_.flags["EXTRA_PEERS"] = "http://x:1, http://me:8770,http://x:1/";
  src_.flags["ADVERTISE_URL"] = "http://me:8770";
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  EXPECT_EQ(s->Seeds(), (std::vector<std::string>{"http://coord:8770", "http://x:1",
                                                  "http://z.lan:8770", "http://a.lan:9000"}));
  EXPECT_EQ(s->FindHost("z")->p2p_url, "http://z.lan:8770");
}

TEST_F(SettingsTest, SshPortAndOutboundOnlyDefaultToOurHostEntry) {
  Yaml("hosts:\n  n1: {ssh_host: h, ssh_port: 2201, nat_blocked: true}\n");
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  EXPECT_EQ(s->ssh_port, 2201);
  EXPECT_TRUE(s->outbound_only);
  src_.env["SSH_PORT"] = "2222";
  src_.env["RINGRIFT_OUTBOUND_ONLY"] = "0";
  s = LoadIt();
  EXPECT_EQ(s->ssh_port, 2222);
  EXPECT_FALSE(s->outbound_only);
}

TEST_F(SettingsTest, DefaultHostsFileIsFoundUnderRingriftDir) {
  Write("config/distributed_hosts.yaml", "hosts:\n  n1: {cpus: 4}\n");
  src_.use_default_paths = true;
  src_.node_conf_path = Write("node.conf", "RINGRIFT_DIR=" + dir_ + "\n");
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  EXPECT_EQ(s->hosts_file, dir_ + "/config/distributed_hosts.yaml");
  ASSERT_EQ(s->hosts.size(), 1u);
  EXPECT_EQ(s->hosts[0].cpus, 4);
  EXPECT_EQ(s->hosts[0].line, 2);
}

TEST_F(SettingsTest, HostsFileNamedInNodeConfIsUsed) {
  std::string yaml = Write("elsewhere.yaml", "preferred_leader: n1\n");
  Conf("RINGRIFT_HOSTS_FILE=" + yaml + "\n");
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  EXPECT_EQ(s->hosts_file, yaml);
  EXPECT_EQ(s->preferred_leader, "n1");
}

TEST_F(SettingsTest, ExplicitlyNamedMissingFilesAreErrors) {
  src_.node_conf_path = dir_ + "/missing.conf";
  src_.hosts_yaml_path = dir_ + "/missing.yaml";
  EXPECT_FALSE(LoadIt().ok());
  EXPECT_EQ(Errors().size(), 2u) << Dump();
}

TEST_F(SettingsTest, CheckDeploymentReportsAPortInUse) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  src_.flags["BIND_HOST"] = "127.0.0.1";
  src_.flags["P2P_PORT"] = std::to_string(ntohs(addr.sin_port));
  src_.flags["RINGRIFT_CLUSTER_AUTH_TOKEN"] = "t";
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  CheckDeployment(*s, &problems_);
  ASSERT_EQ(Errors().size(), 1u) << Dump();
  EXPECT_EQ(Errors()[0].key, "P2P_PORT");
  EXPECT_NE(Errors()[0].message.find("in use"), std::string::npos);
  close(fd);
  problems_.clear();
  CheckDeployment(*s, &problems_);
  EXPECT_TRUE(problems_.empty()) << Dump();
}

TEST_F(SettingsTest, CheckDeploymentFindsHandBuiltMistakesAndReportsEachOnce) {
  Settings s;
  s.node_id = "n1";
  s.bind_host = "127.0.0.1";
  s.port = 1;  // privileged or not, the bind result is not what this test checks
  s.auth_token = "t";
  s.auth_token_file = Write("token", "t", 0604);
  s.voters = {"a", "b", "a"};
  s.hosts.resize(2);
  s.hosts[0].id = "a";
  s.hosts[0].ssh_host = "h1";
  s.hosts[1].id = "b";
  s.hosts[1].p2p_url = "http://h1:8770";
  std::vector<Problem> problems;
  CheckDeployment(s, &problems);
  CheckDeployment(s, &problems);
  auto has = [&](const std::string& needle, Severity sev) {
    return std::count_if(problems.begin(), problems.end(), [&](const Problem& p) {
      return p.severity == sev && p.message.find(needle) != std::string::npos;
    });
  };
  EXPECT_EQ(has("chmod 600", Severity::kError), 1);
  EXPECT_EQ(has("listed twice", Severity::kError), 1);
  EXPECT_EQ(has("same address http://h1:8770", Severity::kError), 1);
  EXPECT_EQ(has("not in the hosts file", Severity::kWarning), 1);
}

TEST_F(SettingsTest, CheckDeploymentDoesNotRepeatWhatLoadAlreadyReported) {
  Yaml("p2p_voters: [a, b]\n");
  src_.flags["RINGRIFT_CLUSTER_AUTH_TOKEN"] = "t";
  src_.flags["P2P_PORT"] = "1";  // whether it binds does not matter here
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  ASSERT_EQ(Warnings().size(), 1u) << Dump();
  CheckDeployment(*s, &problems_);
  EXPECT_EQ(std::count_if(
                problems_.begin(), problems_.end(),
                [](const Problem& p) { return p.message.find("odd count") != std::string::npos; }),
            1)
      << Dump();
}

TEST(ExampleConfigTest, DistributedHostsExampleLoadsCleanly) {
  Sources src;
  src.use_default_paths = false;
  src.node_conf_path = std::string(RIFT_SOURCE_DIR) + "/config/node.conf.example";
  src.hosts_yaml_path = std::string(RIFT_SOURCE_DIR) + "/config/distributed_hosts.yaml.example";
  std::vector<Problem> problems;
  auto s = Load(src, &problems);
  std::string dump;
  for (const auto& p : problems) dump += p.ToString() + "\n";
  ASSERT_TRUE(s.ok()) << dump;
  EXPECT_TRUE(problems.empty()) << dump;
  EXPECT_GE(s->hosts.size(), 3u);
  EXPECT_EQ(s->voters.size() % 2, 1u);
  EXPECT_FALSE(s->Seeds().empty());
  // The documented data-plane sections are the defaults, spelled out.
  ASSERT_EQ(s->file_classes.size(), 5u);
  EXPECT_EQ(s->file_classes[0].name, "tmp");
  EXPECT_TRUE(s->file_classes[4].protect);
  EXPECT_EQ(s->sync.interval, std::chrono::seconds(60));
  EXPECT_DOUBLE_EQ(s->cleanup.high_watermark, 0.80);
  EXPECT_DOUBLE_EQ(s->cleanup.low_watermark, 0.70);
  EXPECT_EQ(s->jobs.max_jobs, 8);
  EXPECT_EQ(s->jobs.catalogue.size(), 5u);
  EXPECT_EQ(s->jobs.catalogue[0].name, "selfplay");
}

TEST(TrainingNodesTest, RolesWinElseTheStrongestGpuHostsElseNone) {
  Settings s;
  auto host = [](std::string id, std::string gpu, std::string status = "ready") {
    Host h;
    h.id = std::move(id);
    h.gpu = std::move(gpu);
    h.status = std::move(status);
    return h;
  };
  s.hosts = {host("a", "RTX 3090"),    host("b", "H100", "disabled"), host("c", "2x RTX 4090"),
             host("d", "RTX 4090"),    host("e", "2x rtx 4090"),      host("f", "")};
  // No training role: the strongest enabled GPU hosts (the disabled H100 does not count).
  EXPECT_EQ(TrainingNodeIds(s), (std::vector<std::string>{"c", "e"}));
  s.hosts[3].role = "selfplay,nn_training";
  EXPECT_EQ(TrainingNodeIds(s), (std::vector<std::string>{"d"}));
  s.hosts.erase(s.hosts.begin(), s.hosts.begin() + 5);  // only the CPU host "f" is left
  EXPECT_TRUE(TrainingNodeIds(s).empty());
  EXPECT_EQ(GpuScore(""), 0);
  EXPECT_EQ(GpuScore("none"), 0);
  EXPECT_GT(GpuScore("A100 80GB"), GpuScore("RTX 4090"));
  EXPECT_GT(GpuScore("Mystery GPU"), 0);
  EXPECT_TRUE(IsTrainingRole("all"));
  EXPECT_FALSE(IsTrainingRole("selfplay"));
}

TEST_F(SettingsTest, PipelineSectionIsReadWithDefaultsForWhatIsMissing) {
  Yaml(R"(hosts:
  a: {ssh_host: 10.0.0.1}
pipeline:
  games: 50
  promote_threshold: 0.6
  training_host: a
  poll_interval_ms: 250
  timeouts_s: {train: 600}
  commands:
    selfplay: "echo {games}"
)");
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  const PipelineSettings& p = s->pipeline;
  EXPECT_EQ(p.line, 3);
  EXPECT_EQ(p.games, 50);
  EXPECT_DOUBLE_EQ(p.promote_threshold, 0.6);
  EXPECT_EQ(p.training_host, "a");
  EXPECT_EQ(p.poll_interval, std::chrono::milliseconds(250));
  EXPECT_EQ(p.timeouts.at("train"), std::chrono::seconds(600));
  EXPECT_EQ(p.commands.at("selfplay"), "echo {games}");
  EXPECT_EQ(p.commands.count("train"), 0u);
  EXPECT_EQ(p.eval_games, 100);
  EXPECT_EQ(p.retries, 3);
}

TEST_F(SettingsTest, PipelineTyposAndBadValuesAreErrorsWithTheirLines) {
  Yaml(R"(pipeline:
  gmaes: 5
  eval_games: -1
  commands:
    trian: "x"
  timeouts_s: {push: 5}
)");
  auto s = LoadIt();
  EXPECT_FALSE(s.ok());
  std::string all = Dump();
  EXPECT_NE(all.find(":2: pipeline.gmaes: unknown key (did you mean 'games'?)"), std::string::npos)
      << all;
  EXPECT_NE(all.find(":3: pipeline.eval_games: out of range"), std::string::npos) << all;
  EXPECT_NE(all.find(":5: pipeline.commands.trian: unknown key (did you mean 'train'?)"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("pipeline.timeouts_s.push: unknown key"), std::string::npos) << all;
}

TEST_F(SettingsTest, NodeIdIsOptionalForClusterFileTools) {
  src_.flags.erase("NODE_ID");
  src_.require_node_id = false;
  auto s = LoadIt();
  ASSERT_TRUE(s.ok()) << Dump();
  EXPECT_EQ(s->node_id, "");
  src_.require_node_id = true;
  EXPECT_FALSE(LoadIt().ok());
}

}  // namespace
}  // namespace rift::settings
