// The step scripts, parsed and also run for real with /bin/sh in a temp dir (the same shell the
// hosts use), since a script that parses fine but misbehaves is the real risk.
#include "orchestrator/pipeline/steps.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "orchestrator/pipeline/hashing.h"
#include "orchestrator/pipeline/local_remote.h"

namespace rift::pipeline {
namespace {

namespace fs = std::filesystem;

class StepsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "rift-steps-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    // Leave no detached child behind.
    (void)sh_.Exec(KillScript(dir_ + "/step", 0), seconds(10));
    fs::remove_all(dir_);
  }
  ExecResult Run(const std::string& script) {
    auto r = sh_.Exec(script, seconds(20));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : ExecResult{};
  }
  Probe WaitEnded(const std::string& step, const std::string& games_dir = "") {
    for (int i = 0; i < 500; ++i) {
      auto p = ParseProbe(Run(ProbeScript(step, games_dir)).out);
      if (p.ok() && (p->exit_code || p->lost())) return *p;
      usleep(20000);
    }
    ADD_FAILURE() << "step did not end";
    return {};
  }

  std::string dir_;
  LocalRemote sh_;
};

TEST(ParseTest, LaunchReplies) {
  auto a = ParseLaunch("launched 42\n");
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->fresh);
  EXPECT_EQ(a->pid, 42);
  auto b = ParseLaunch("noise\nattached 7\n");
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->fresh);
  EXPECT_FALSE(ParseLaunch("what").ok());
}

TEST(ParseTest, ProbeWithAndWithoutExit) {
  auto p = ParseProbe("launched=1 alive=1 exit= games=12\n");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->alive);
  EXPECT_FALSE(p->exit_code);
  EXPECT_EQ(p->games, 12);
  EXPECT_FALSE(p->lost());
  auto q = ParseProbe("launched=1 alive=0 exit= games=");
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(q->lost());
  EXPECT_FALSE(q->games);
  EXPECT_FALSE(ParseProbe("garbage").ok());
}

TEST(ParseTest, Sha256LinesAndJsonLines) {
  std::string h(64, 'a');
  auto m = ParseSha256(h + "  /x/y z.jsonl\n" + std::string(64, 'b') + " */bin\n");
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->at("/x/y z.jsonl"), h);
  EXPECT_EQ(m->at("/bin"), std::string(64, 'b'));
  EXPECT_FALSE(ParseSha256("zz  /x\n").ok());
  EXPECT_EQ(LastJsonLine("log\n{\"a\":1}\nmore\n{\"b\":2}\n\n"), "{\"b\":2}");
  EXPECT_EQ(LastJsonLine("no json"), "");
  StepOutput o = ParseOutput("out1\nout2\n\n--rift-step-stderr--\nerr");
  EXPECT_EQ(o.out_tail, "out1\nout2\n");
  EXPECT_EQ(o.err_tail, "err");
}

TEST_F(StepsTest, LaunchRunsDetachedOnceAndReportsTheExitStatus) {
  const std::string step = dir_ + "/step";
  const std::string cmd = "echo started >> " + dir_ + "/count; echo '{\"games\":3}'; exit 3";
  auto first = ParseLaunch(Run(LaunchScript(step, dir_, cmd)).out);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->fresh);
  EXPECT_GT(first->pid, 0);
  Probe p = WaitEnded(step);
  ASSERT_TRUE(p.exit_code);
  EXPECT_EQ(*p.exit_code, 3);
  // A second launch of the same step attaches: the command never runs twice.
  auto second = ParseLaunch(Run(LaunchScript(step, dir_, cmd)).out);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->fresh);
  EXPECT_EQ(second->pid, first->pid);
  std::ifstream count(dir_ + "/count");
  std::string all((std::istreambuf_iterator<char>(count)), {});
  EXPECT_EQ(all, "started\n");
  StepOutput out = ParseOutput(Run(OutputScript(step, 10, 100)).out);
  EXPECT_EQ(LastJsonLine(out.out_tail), "{\"games\":3}");
}

TEST_F(StepsTest, ProbeCountsFinishedGameLinesOnly) {
  const std::string step = dir_ + "/step";
  const std::string games = dir_ + "/games";
  const std::string cmd = "mkdir -p " + games + "/a && printf '1\\n2\\n' > " + games +
                          "/a/x.jsonl && printf '3\\n' > " + games + "/y.jsonl && printf " +
                          "'4\\n' > " + games + "/z.jsonl.part";
  ASSERT_TRUE(ParseLaunch(Run(LaunchScript(step, dir_, cmd)).out).ok());
  Probe p = WaitEnded(step, games);
  EXPECT_EQ(p.exit_code, 0);
  EXPECT_EQ(p.games, 3);
}

TEST_F(StepsTest, KillStopsALongStepAndItIsThenLost) {
  const std::string step = dir_ + "/step";
  ASSERT_TRUE(ParseLaunch(Run(LaunchScript(step, dir_, "sleep 600")).out).ok());
  auto alive = ParseProbe(Run(ProbeScript(step, "")).out);
  ASSERT_TRUE(alive.ok());
  EXPECT_TRUE(alive->alive);
  Run(KillScript(step, 5));
  Probe p = WaitEnded(step);
  // The wrapper shell died with the command, so no exit status was written.
  EXPECT_TRUE(p.lost() || (p.exit_code && *p.exit_code != 0));
}

TEST_F(StepsTest, VerifyRenameKeepsOnlyAMatchingFile) {
  const std::string part = dir_ + "/f.part";
  std::ofstream(part) << "hello\n";
  auto h = HashFile(part);
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->lines, 1u);
  auto sums = ParseSha256(Run(Sha256Script({part, dir_ + "/missing"})).out);
  ASSERT_TRUE(sums.ok());
  ASSERT_EQ(sums->size(), 1u);
  EXPECT_EQ(sums->at(part), h->sha256);

  EXPECT_EQ(Run(VerifyRenameScript(part, dir_ + "/sub/f", std::string(64, '0'))).out.substr(0, 8),
            "mismatch");
  EXPECT_FALSE(fs::exists(part));
  std::ofstream(part) << "hello\n";
  EXPECT_EQ(Run(VerifyRenameScript(part, dir_ + "/sub/f", h->sha256)).out, "ok\n");
  EXPECT_TRUE(fs::exists(dir_ + "/sub/f"));
  EXPECT_FALSE(fs::exists(part));
}

}  // namespace
}  // namespace rift::pipeline
