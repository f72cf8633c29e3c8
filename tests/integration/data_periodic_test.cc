// The leader's periodic work, without any request: replication rounds every second
// (RINGRIFT_SYNC_INTERVAL_S=1) and leader-triggered cleanup (cleanup.interval_s: 1) of a node
// whose data volume, a 64 MiB tmpfs, is above its high watermark. Needs root for the tmpfs
// (skipped loudly otherwise). Every wait is bounded.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <utime.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/harness/cluster.h"

namespace rift::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kToken[] = "data-periodic-token-0123456789";
constexpr size_t kMiB = 1 << 20;

void WriteFile(const fs::path& p, size_t bytes, char fill, int age_days) {
  WriteFilledFile(p.string(), bytes, fill, age_days);
}

double UsedFraction(const fs::path& dir) {
  struct statvfs v {};
  if (statvfs(dir.c_str(), &v) != 0 || v.f_blocks == 0) return 1;
  return 1.0 - static_cast<double>(v.f_bavail) / static_cast<double>(v.f_blocks);
}

std::string Rep(int k) { return "selfplay/p/rep-" + std::to_string(k) + ".jsonl"; }

TEST(DataPeriodicTest, TheLeaderReplicatesAndTriggersCleanupOnItsOwn) {
  TempDir dir("rift-data-periodic");
  fs::path data1 = fs::path(dir.path()) / "n1" / "data";
  fs::create_directories(data1);
  if (mount("tmpfs", data1.c_str(), "tmpfs", 0, "size=64m") != 0) {
    GTEST_SKIP() << "*** cannot mount a tmpfs (not root?): leader-triggered cleanup NOT tested";
  }
  struct Unmount {
    fs::path p;
    ~Unmount() { umount2(p.c_str(), MNT_DETACH); }
  } unmount{data1};
  std::string hosts = dir.path() + "/hosts.yaml";
  std::ofstream(hosts) << "cleanup:\n  interval_s: 1\n" << kNoBackgroundSelfplayYaml;
  std::vector<std::unique_ptr<Daemon>> nodes;
  for (int i = 0; i < 3; ++i) {
    DaemonOptions o;
    o.node_id = "n" + std::to_string(i + 1);
    o.env = {{"RINGRIFT_CLUSTER_AUTH_TOKEN", kToken},
             {"RINGRIFT_P2P_VOTERS", "n1,n2,n3"},
             {"RINGRIFT_TIMER_PROFILE", "fast"},
             {"RINGRIFT_QUIET_PERIOD_S", "1"},
             {"RINGRIFT_SYNC_INTERVAL_S", "1"},
             {"RINGRIFT_HOSTS_FILE", hosts},
             {"RINGRIFT_CLEANUP_HIGH_WATERMARK", i == 0 ? "0.80" : "0.99"},
             {"RINGRIFT_CLEANUP_LOW_WATERMARK", i == 0 ? "0.70" : "0.98"}};
    if (i > 0) o.env["COORDINATOR_URL"] = nodes[0]->url();
    // n1's files are written before it starts, so it is above its watermark from the start.
    if (i == 0) {
      for (int k = 1; k <= 10; ++k) WriteFile(data1 / Rep(k), 5 * kMiB, 'a' + k, k);
      WriteFile(data1 / "selfplay/p/only-here.jsonl", 3 * kMiB, 'u', 30);
      WriteFile(data1 / "models/current.pt", 3 * kMiB, 'm', 40);
    } else {
      fs::path d = fs::path(dir.path()) / o.node_id / "data";
      for (int k = 1; k <= 10; ++k) WriteFile(d / Rep(k), 5 * kMiB, 'a' + k, k);
      WriteFile(d / "models/current.pt", 3 * kMiB, 'm', 40);
    }
    nodes.push_back(std::make_unique<Daemon>(DaemonBinary(), o, dir.path() + "/" + o.node_id));
    std::string error;
    ASSERT_TRUE(nodes.back()->Start(&error)) << error;
  }
  ASSERT_GT(UsedFraction(data1), 0.80);
  // A file on n2 reaches a second node with no request (never n1: above its watermark).
  fs::path d2 = fs::path(nodes[1]->dir()) / "data", d3 = fs::path(nodes[2]->dir()) / "data";
  WriteFile(d2 / "training/p/auto.bin", 64 * 1024, 'q', 0);
  EXPECT_TRUE(WaitFor([&] { return fs::exists(d3 / "training/p/auto.bin"); }, seconds(30)))
      << nodes[1]->LogTail();
  EXPECT_FALSE(fs::exists(data1 / "training/p/auto.bin"));
  // The leader sees n1 above 80 % and asks it to clean: the three oldest copies go.
  EXPECT_TRUE(WaitFor([&] { return UsedFraction(data1) <= 0.70; }, seconds(30)))
      << nodes[0]->LogTail();
  for (int k = 1; k <= 10; ++k) EXPECT_EQ(fs::exists(data1 / Rep(k)), k <= 7) << Rep(k);
  EXPECT_TRUE(fs::exists(data1 / "selfplay/p/only-here.jsonl"));
  EXPECT_TRUE(fs::exists(data1 / "models/current.pt"));
}

}  // namespace
}  // namespace rift::testing
