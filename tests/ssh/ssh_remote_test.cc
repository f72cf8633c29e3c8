// pipeline::SshRemote against a real sshd: large interleaved output, SFTP both ways (hashes
// checked against the host's own sha256sum), listings, timeouts, and reconnecting after the
// server restarts.
#include "orchestrator/pipeline/ssh_remote.h"

#include <gtest/gtest.h>
#include <pwd.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>

#include "orchestrator/pipeline/hashing.h"
#include "tests/harness/cluster.h"
#include "tests/ssh/sshd.h"

namespace rift::testing {
namespace {

namespace fs = std::filesystem;
using pipeline::SshOptions;
using pipeline::SshRemote;

class SshRemoteTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = SshdUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    tmp_ = std::make_unique<TempDir>("rift-sshremote");
    root_ = tmp_->path();
    ASSERT_TRUE(MakeKey(root_ + "/id_ed25519"));
    fs::create_directories(root_ + "/sshd");
    sshd_ = std::make_unique<SshdHost>(root_ + "/sshd", root_ + "/id_ed25519.pub");
    std::string error;
    ASSERT_TRUE(sshd_->Start(&error)) << error;
    const passwd* pw = getpwuid(getuid());
    options_.host_id = "h";
    options_.address = "127.0.0.1";
    options_.port = sshd_->port();
    options_.user = pw != nullptr ? pw->pw_name : "root";
    options_.key_file = root_ + "/id_ed25519";
    options_.known_hosts = root_ + "/known_hosts";
    options_.connect_timeout = std::chrono::seconds(5);
    auto trusted = pipeline::TrustHost(options_, "");
    ASSERT_TRUE(trusted.ok()) << trusted.status().ToString();
  }

  std::unique_ptr<TempDir> tmp_;
  std::string root_;
  std::unique_ptr<SshdHost> sshd_;
  SshOptions options_;
};

TEST_F(SshRemoteTest, StderrAndStdoutOfMegabytesAreBothDrained) {
  SshRemote remote(options_);
  // Stderr first: a client that only read stdout would stall once the window filled.
  auto r = remote.Exec(
      "head -c 3000000 /dev/zero | tr '\\0' e >&2; head -c 3000000 /dev/zero | tr '\\0' o; "
      "exit 7",
      seconds(60));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exit_code, 7);
  EXPECT_EQ(r->err.size(), 3000000u);
  EXPECT_EQ(r->out.size(), 3000000u);
  EXPECT_EQ(r->out.find_first_not_of('o'), std::string::npos);
}

TEST_F(SshRemoteTest, FilesTravelIntactBothWays) {
  const std::string local = root_ + "/blob";
  {
    std::mt19937 rng(42);
    std::ofstream out(local, std::ios::binary);
    for (int i = 0; i < (5 << 20) / 4; ++i) {
      uint32_t v = rng();
      out.write(reinterpret_cast<const char*>(&v), 4);
    }
  }
  auto expected = pipeline::HashFile(local);
  ASSERT_TRUE(expected.ok());
  SshRemote remote(options_);
  const std::string remote_path = root_ + "/remote/deep/dir/blob.jsonl";
  auto up = remote.Upload(local, remote_path, nullptr);
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  EXPECT_EQ(up->sha256, expected->sha256);
  EXPECT_EQ(up->bytes, 5u << 20);
  auto sum = remote.Exec("sha256sum " + remote_path, seconds(30));
  ASSERT_TRUE(sum.ok());
  EXPECT_EQ(sum->out.substr(0, 64), expected->sha256);

  auto listed = remote.List(root_ + "/remote", ".jsonl");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].path, remote_path);
  EXPECT_EQ((*listed)[0].size, 5u << 20);
  auto none = remote.List(root_ + "/missing", ".jsonl");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  uint64_t seen = 0;
  auto down = remote.Download(remote_path, root_ + "/back", [&](uint64_t b) { seen = b; });
  ASSERT_TRUE(down.ok()) << down.status().ToString();
  EXPECT_EQ(down->sha256, expected->sha256);
  EXPECT_EQ(seen, 5u << 20);
  auto missing = remote.Download(root_ + "/nope", root_ + "/x", nullptr);
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
}

TEST_F(SshRemoteTest, ACommandThatOutrunsItsTimeoutIsCut) {
  SshRemote remote(options_);
  auto r = remote.Exec("sleep 30", milliseconds(300));
  EXPECT_EQ(r.status().code(), Code::kDeadlineExceeded) << r.status().ToString();
  auto next = remote.Exec("echo fine", seconds(30));  // the session is still usable
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->out, "fine\n");
}

TEST_F(SshRemoteTest, ReconnectsAfterTheServerRestartsAndReportsItWhileDown) {
  SshRemote remote(options_);
  ASSERT_TRUE(remote.Exec("true", seconds(30)).ok());
  sshd_->Stop();
  remote.Disconnect();
  auto down = remote.Exec("true", seconds(30));
  EXPECT_EQ(down.status().code(), Code::kUnavailable) << down.status().ToString();
  EXPECT_NE(down.status().message().find("h (" + options_.user + "@127.0.0.1:"), std::string::npos)
      << down.status().message();
  std::string error;
  ASSERT_TRUE(sshd_->Start(&error)) << error;
  auto up = remote.Exec("echo back", seconds(30));
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  EXPECT_EQ(up->out, "back\n");
}

TEST_F(SshRemoteTest, AWrongKeyIsAnAuthenticationError) {
  ASSERT_TRUE(MakeKey(root_ + "/other"));
  SshOptions o = options_;
  o.key_file = root_ + "/other";
  SshRemote remote(o);
  auto r = remote.Exec("true", seconds(30));
  EXPECT_EQ(r.status().code(), Code::kUnauthenticated) << r.status().ToString();
  o.key_file = root_ + "/does-not-exist";
  SshRemote missing(o);
  EXPECT_EQ(missing.Exec("true", seconds(30)).status().code(), Code::kFailedPrecondition);
}

}  // namespace
}  // namespace rift::testing
