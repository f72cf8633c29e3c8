// The process runner against real processes (/bin/sh scripts): exits reaped with codes and
// signals, process groups killed with their grandchildren, logs capped while the job writes on,
// identity against pid reuse, a new runner taking over, no descriptor leaks.
#include "orchestrator/jobs/process.h"
#include "orchestrator/jobs/test_util.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

namespace rift::jobs {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Polls `pred` until true or a generous deadline (bounded; the machine is shared and noisy).
bool Eventually(const std::function<bool()>& pred, milliseconds limit = seconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return pred();
}

int ReadPid(const fs::path& p) {
  int pid = 0;
  std::ifstream(p) >> pid;
  return pid;
}

class ProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "rift-process-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const auto& l : launched_) runner_.Kill(l);
    testutil::RemoveTree(dir_);
  }

  LaunchSpec Sh(const std::string& script, const std::string& name = "job") {
    LaunchSpec s;
    s.argv = {"sh", "-c", script};
    s.env = {"PATH=/usr/bin:/bin", "JOBDIR=" + dir_.string()};
    s.cwd = dir_.string();
    s.job_dir = (dir_ / name).string();
    s.grace = milliseconds(300);
    return s;
  }
  Launched Start(const LaunchSpec& s) {
    auto l = runner_.Launch(s);
    EXPECT_TRUE(l.ok()) << l.status().ToString();
    if (!l.ok()) return {};
    launched_.push_back(*l);
    return *l;
  }
  ProcessRunner::Probe WaitExit(const LaunchSpec& s, const Launched& l) {
    ProcessRunner::Probe p;
    Eventually([&] {
      p = runner_.Check(s.job_dir, l);
      return p.state != JobState::kRunning;
    });
    return p;
  }

  fs::path dir_;
  ProcessRunner runner_;
  std::vector<Launched> launched_;
};

TEST_F(ProcessTest, ExitCodesAreReapedAndRecorded) {
  auto spec = Sh("echo hello; exit 3");
  Launched l = Start(spec);
  ASSERT_TRUE(l.job.valid());
  EXPECT_NE(l.job.pid, l.shim.pid);
  EXPECT_GT(l.job.start_time, 0u);
  auto p = WaitExit(spec, l);
  ASSERT_EQ(p.state, JobState::kExited);
  ASSERT_TRUE(p.exit.exit_code.has_value());
  EXPECT_EQ(*p.exit.exit_code, 3);
  EXPECT_FALSE(p.exit.signal.has_value());
  EXPECT_FALSE(p.exit.stop_requested);
  EXPECT_GT(p.exit.ended_ms, 0);
  EXPECT_EQ(ReadLogTail(spec.job_dir, 1000), "hello\n");
  EXPECT_FALSE(IsAlive(l.job));
  // The shim exits just after writing the status; it was our child, and the runner reaps it.
  EXPECT_TRUE(Eventually([&] {
    runner_.WaitForActivity(milliseconds(10));
    return !fs::exists("/proc/" + std::to_string(l.shim.pid));
  }));
}

TEST_F(ProcessTest, DeathBySignalIsRecorded) {
  auto spec = Sh("kill -KILL $$");
  Launched l = Start(spec);
  auto p = WaitExit(spec, l);
  ASSERT_EQ(p.state, JobState::kExited);
  EXPECT_FALSE(p.exit.exit_code.has_value());
  ASSERT_TRUE(p.exit.signal.has_value());
  EXPECT_EQ(*p.exit.signal, 9);
}

TEST_F(ProcessTest, AProgramThatCannotStartIsAnErrorAndRecorded) {
  auto spec = Sh("true");
  spec.argv = {"/nonexistent/program"};
  auto l = runner_.Launch(spec);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), Code::kNotFound) << l.status().ToString();
  EXPECT_NE(l.status().message().find("/nonexistent/program"), std::string::npos);
  auto e = ReadExit(spec.job_dir);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->exit_code, 127);
  EXPECT_FALSE(e->error.empty());

  auto bad_cwd = Sh("true", "cwd");
  bad_cwd.cwd = (dir_ / "missing").string();
  l = runner_.Launch(bad_cwd);
  ASSERT_FALSE(l.ok());
  EXPECT_NE(l.status().message().find("chdir"), std::string::npos) << l.status().ToString();

  auto not_found = Sh("true", "path");
  not_found.argv = {"no-such-program-here"};
  l = runner_.Launch(not_found);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), Code::kNotFound);
  EXPECT_EQ(runner_.Launch(LaunchSpec{}).status().code(), Code::kInvalidArgument);
}

TEST_F(ProcessTest, StopKillsTheWholeGroupAfterTheGraceIncludingGrandchildren) {
  // The job and its background child ignore SIGTERM: only the SIGKILL after the grace ends them.
  auto spec = Sh("trap '' TERM; sleep 300 & echo $! > \"$JOBDIR/gc.pid\"; wait");
  Launched l = Start(spec);
  ASSERT_TRUE(Eventually([&] { return ReadPid(dir_ / "gc.pid") > 0; }));
  auto gc = IdentityOf(ReadPid(dir_ / "gc.pid"));
  ASSERT_TRUE(gc.ok());
  ASSERT_TRUE(runner_.Stop(l).ok());
  auto p = WaitExit(spec, l);
  ASSERT_EQ(p.state, JobState::kExited);
  EXPECT_TRUE(p.exit.stop_requested);
  ASSERT_TRUE(p.exit.signal.has_value());
  EXPECT_EQ(*p.exit.signal, 9);
  EXPECT_TRUE(Eventually([&] { return !IsAlive(*gc); }));
  EXPECT_NE(ReadFile(LogPath(spec.job_dir)).find("[job-shim] grace over"), std::string::npos);
  // The shim writes the status just before it exits.
  EXPECT_TRUE(Eventually([&] { return runner_.Stop(l).code() == Code::kNotFound; }));
}

TEST_F(ProcessTest, AJobHonouringSigtermEndsWithIt) {
  auto spec = Sh("sleep 300");
  spec.grace = seconds(30);
  Launched l = Start(spec);
  ASSERT_TRUE(runner_.Stop(l).ok());
  auto p = WaitExit(spec, l);
  ASSERT_EQ(p.state, JobState::kExited);
  EXPECT_EQ(p.exit.signal, 15);
  EXPECT_TRUE(p.exit.stop_requested);
}

TEST_F(ProcessTest, WhatAJobLeavesInItsGroupIsKilledWhenItExits) {
  auto spec = Sh("sleep 300 & echo $! > \"$JOBDIR/gc.pid\"; exit 0");
  Launched l = Start(spec);
  auto p = WaitExit(spec, l);
  ASSERT_EQ(p.state, JobState::kExited);
  EXPECT_EQ(p.exit.exit_code, 0);
  int gc = ReadPid(dir_ / "gc.pid");
  ASSERT_GT(gc, 0);
  EXPECT_TRUE(Eventually([&] { return !IdentityOf(gc).ok(); }));
}

TEST_F(ProcessTest, TheTimeoutStopsTheJob) {
  auto spec = Sh("sleep 300");
  // On a loaded machine: a timeout long enough for the job to be well under way, and a grace
  // long enough that the SIGTERMed shell runs (and dies of it) before any SIGKILL could come.
  spec.timeout = milliseconds(2000);
  spec.grace = seconds(30);
  Launched l = Start(spec);
  auto p = WaitExit(spec, l);
  ASSERT_EQ(p.state, JobState::kExited);
  EXPECT_TRUE(p.exit.timed_out);
  EXPECT_FALSE(p.exit.stop_requested);
  EXPECT_EQ(p.exit.signal, 15);
}

TEST_F(ProcessTest, TheLogIsCappedByCopyTruncateWhileTheJobWritesOn) {
  // ~60 KB in 100-byte lines over a few seconds, against a 4 KiB cap.
  auto spec = Sh(
      "i=0; while [ $i -lt 600 ]; do printf '%099d\\n' $i; i=$((i+1)); "
      "[ $((i % 50)) -eq 0 ] && sleep 0.2; done; echo '{\"done\":true}'");
  spec.log_cap_bytes = 4096;
  Launched l = Start(spec);
  auto p = WaitExit(spec, l);
  ASSERT_EQ(p.state, JobState::kExited);
  EXPECT_EQ(p.exit.exit_code, 0);
  std::string current = ReadFile(LogPath(spec.job_dir));
  std::string rotated = ReadFile(RotatedLogPath(spec.job_dir));
  EXPECT_FALSE(rotated.empty());
  EXPECT_LT(current.size() + rotated.size(), 60000u);
  // The job's O_APPEND descriptor writes at the new end: no hole of zeros after a truncate.
  EXPECT_EQ(current.find('\0'), std::string::npos);
  EXPECT_EQ(rotated.find('\0'), std::string::npos);
  std::string tail = ReadLogTail(spec.job_dir, 200);
  EXPECT_NE(tail.find("{\"done\":true}"), std::string::npos) << tail;
}

TEST_F(ProcessTest, IdentityIsPidPlusStartTimeSoAReusedPidIsNotTheJob) {
  auto spec = Sh("sleep 300");
  Launched l = Start(spec);
  EXPECT_TRUE(IsAlive(l.job));
  EXPECT_TRUE(IsAlive(l.shim));
  // The same pids with other start times: what a recycled pid looks like.
  Launched reused = l;
  reused.job.start_time += 1;
  reused.shim.start_time += 1;
  EXPECT_FALSE(IsAlive(reused.job));
  EXPECT_EQ(runner_.Check(spec.job_dir, reused).state, JobState::kGone);
  EXPECT_EQ(runner_.Stop(reused).code(), Code::kNotFound);
  runner_.Kill(reused);
  EXPECT_TRUE(IsAlive(l.job)) << "a stale identity must never signal the process now on that pid";
  EXPECT_EQ(runner_.Check(spec.job_dir, l).state, JobState::kRunning);
  Launched other_boot = l;
  other_boot.job.boot_id = "another-boot";
  EXPECT_FALSE(IsAlive(other_boot.job));
  EXPECT_EQ(IdentityOf(-1).status().code(), Code::kInvalidArgument);
}

TEST_F(ProcessTest, ANewRunnerFollowsJobsAnEarlierOneStarted) {
  auto spec = Sh("while [ ! -e \"$JOBDIR/release\" ]; do sleep 0.05; done; exit 7");
  Launched l;
  {
    ProcessRunner first;
    auto r = first.Launch(spec);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    l = *r;
  }
  launched_.push_back(l);
  auto started = ReadStarted(spec.job_dir);
  ASSERT_TRUE(started.has_value());
  EXPECT_EQ(started->job.pid, l.job.pid);
  EXPECT_EQ(started->shim.start_time, l.shim.start_time);
  ProcessRunner second;
  EXPECT_EQ(second.Check(spec.job_dir, l).state, JobState::kRunning);
  std::ofstream(dir_ / "release") << "go";
  ProcessRunner::Probe p;
  ASSERT_TRUE(Eventually([&] {
    p = second.Check(spec.job_dir, l);
    return p.state == JobState::kExited;
  }));
  EXPECT_EQ(p.exit.exit_code, 7);
}

TEST_F(ProcessTest, AKilledShimLeavesAnOrphanThatCanStillBeStopped) {
  auto spec = Sh("sleep 300");
  Launched l = Start(spec);
  ::kill(l.shim.pid, SIGKILL);
  ASSERT_TRUE(Eventually([&] { return runner_.Check(spec.job_dir, l).state == JobState::kOrphaned; }));
  ASSERT_TRUE(runner_.Stop(l).ok());
  EXPECT_TRUE(Eventually([&] { return runner_.Check(spec.job_dir, l).state == JobState::kGone; }));
}

std::set<std::string> FdTargets(int pid, std::set<int>* fds = nullptr) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::error_code rec;
    out.insert(fs::read_symlink(e.path(), rec).string());
    if (fds) fds->insert(std::stoi(e.path().filename().string()));
  }
  return out;
}

TEST_F(ProcessTest, NoDescriptorOfTheLauncherReachesTheShimOrTheJob) {
  // A listening socket opened without close-on-exec, like a careless library's.
  int sock = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(sock, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(sock, 1), 0);
  std::string sock_target = fs::read_symlink("/proc/self/fd/" + std::to_string(sock)).string();
  auto spec = Sh("sleep 300");
  Launched l = Start(spec);
  std::set<int> job_fds;
  auto job = FdTargets(l.job.pid, &job_fds);
  auto shim = FdTargets(l.shim.pid);
  ::close(sock);
  EXPECT_EQ(job_fds, (std::set<int>{0, 1, 2}));
  EXPECT_EQ(job.count(sock_target), 0u);
  EXPECT_EQ(shim.count(sock_target), 0u);
  EXPECT_EQ(job.count("/dev/null"), 1u);
}

TEST_F(ProcessTest, EnvironmentAndWorkingDirectoryAreTheSpecs) {
  auto spec = Sh("pwd; echo \"FOO=$FOO\"; echo \"HOME=${HOME:-unset}\"");
  spec.env.push_back("FOO=bar baz");
  fs::create_directories(dir_ / "work");
  spec.cwd = (dir_ / "work").string();
  Launched l = Start(spec);
  auto p = WaitExit(spec, l);
  ASSERT_EQ(p.state, JobState::kExited);
  std::string log = ReadFile(LogPath(spec.job_dir));
  EXPECT_NE(log.find(fs::canonical(dir_ / "work").string() + "\n"), std::string::npos) << log;
  EXPECT_NE(log.find("FOO=bar baz\n"), std::string::npos) << log;
  EXPECT_NE(log.find("HOME=unset\n"), std::string::npos) << log;
}

TEST_F(ProcessTest, TheStandaloneShimProgramWorksLikeTheReexecutedOne) {
  ProcessRunner standalone(RunnerOptions{RIFT_JOB_SHIM, seconds(10)});
  auto spec = Sh("exit 9");
  auto l = standalone.Launch(spec);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  ProcessRunner::Probe p;
  ASSERT_TRUE(Eventually([&] {
    p = standalone.Check(spec.job_dir, *l);
    return p.state == JobState::kExited;
  }));
  EXPECT_EQ(p.exit.exit_code, 9);
}

TEST_F(ProcessTest, AShimProgramWithoutTheShimModeIsAClearError) {
  ProcessRunner wrong(RunnerOptions{"/bin/true", seconds(10)});
  auto l = wrong.Launch(Sh("exit 0"));
  ASSERT_FALSE(l.ok());
  EXPECT_NE(l.status().message().find("RunShimIfRequested"), std::string::npos)
      << l.status().ToString();
}

TEST(RunCaptureTest, CapturesStdoutTimesOutAndReportsMissingPrograms) {
  auto out = RunCapture({"sh", "-c", "echo hi; echo err >&2"}, seconds(20));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, "hi\n");
  EXPECT_EQ(RunCapture({"sleep", "30"}, milliseconds(100)).status().code(),
            Code::kDeadlineExceeded);
  EXPECT_EQ(RunCapture({"no-such-program-here"}, seconds(1)).status().code(), Code::kNotFound);
  EXPECT_EQ(RunCapture({"sh", "-c", "exit 4"}, seconds(20)).status().code(),
            Code::kFailedPrecondition);
}

TEST(FindProgramTest, SearchesThePathList) {
  EXPECT_EQ(FindProgram("sh", "/nonexistent:/bin"), "/bin/sh");
  EXPECT_EQ(FindProgram("./x", ""), "./x");
  EXPECT_EQ(FindProgram("no-such-program-here", "/bin:/usr/bin"), "");
}

}  // namespace
}  // namespace rift::jobs
