// PartWriter on real files in a temp dir: whatever the write sizes and the resume offset, the
// file ends up holding exactly the bytes given, in durable (O_DIRECT where the filesystem
// allows it) and plain mode; a full disk is a clear kResourceExhausted.
#include "orchestrator/sync/part_writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

namespace rift::sync::internal {
namespace {

namespace fs = std::filesystem;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::string ReadFile(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class PartWriterTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rift_part_writer_XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/f.part";
  }
  void TearDown() override {
    if (fd_ >= 0) ::close(fd_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  int Open() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    return fd_;
  }
  // Writes `data` in pieces of irregular sizes (1 byte up to a few MiB).
  static void WriteInPieces(PartWriter* w, const std::string& data, uint32_t seed) {
    std::mt19937 rng(seed);
    size_t at = 0;
    while (at < data.size()) {
      size_t n = std::min<size_t>(data.size() - at, 1 + rng() % (3 << 20));
      if (rng() % 5 == 0) n = std::min<size_t>(n, 1 + rng() % 7000);
      ASSERT_TRUE(w->Write(data.data() + at, n).ok());
      at += n;
    }
  }
  std::string dir_, path_;
  int fd_ = -1;
};

TEST_P(PartWriterTest, TheFileHoldsExactlyTheBytesWritten) {
  for (size_t size :
       {size_t{0}, size_t{1}, size_t{4096}, size_t{4 << 20}, size_t{(9 << 20) + 123}}) {
    ASSERT_EQ(::unlink(path_.c_str()) == 0 || errno == ENOENT, true);
    ASSERT_GE(Open(), 0);
    std::string data = RandomBytes(size, static_cast<uint32_t>(size));
    PartWriter w(fd_, path_, GetParam());
    ASSERT_TRUE(w.Reset(0).ok());
    WriteInPieces(&w, data, 7);
    ASSERT_TRUE(w.Finish().ok());
    EXPECT_EQ(w.offset(), size);
    EXPECT_EQ(ReadFile(path_), data) << "size " << size;
  }
}

TEST_P(PartWriterTest, AResumeAtAnUnalignedOffsetKeepsThePrefix) {
  ASSERT_GE(Open(), 0);
  std::string data = RandomBytes((6 << 20) + 777, 1);
  const size_t cut = (4 << 20) + 5001;  // inside a block, past the first chunk
  {
    PartWriter w(fd_, path_, GetParam());
    ASSERT_TRUE(w.Reset(0).ok());
    WriteInPieces(&w, data.substr(0, cut), 2);
    ASSERT_TRUE(w.Finish().ok());
  }
  ASSERT_EQ(fs::file_size(path_), cut);
  ASSERT_GE(Open(), 0);  // a new pull of the same .part
  PartWriter w(fd_, path_, GetParam());
  ASSERT_TRUE(w.Reset(cut).ok());
  WriteInPieces(&w, data.substr(cut), 3);
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(ReadFile(path_), data);
}

TEST_P(PartWriterTest, ResetToZeroAfterATruncateStartsOver) {
  ASSERT_GE(Open(), 0);
  PartWriter w(fd_, path_, GetParam());
  ASSERT_TRUE(w.Reset(0).ok());
  WriteInPieces(&w, RandomBytes(9 << 20, 4), 5);  // another version, abandoned mid-way
  ASSERT_TRUE(w.Reset(0).ok());
  ASSERT_EQ(::ftruncate(fd_, 0), 0);
  std::string data = RandomBytes((5 << 20) + 3, 6);
  WriteInPieces(&w, data, 8);
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(ReadFile(path_), data);
}

TEST_P(PartWriterTest, WritesAfterFinishContinueTheFile) {
  ASSERT_GE(Open(), 0);
  std::string data = RandomBytes((5 << 20) + 100, 9);
  PartWriter w(fd_, path_, GetParam());
  ASSERT_TRUE(w.Reset(0).ok());
  WriteInPieces(&w, data.substr(0, 4099), 10);
  ASSERT_TRUE(w.Finish().ok());
  WriteInPieces(&w, data.substr(4099), 11);
  ASSERT_TRUE(w.Finish().ok());
  EXPECT_EQ(ReadFile(path_), data);
}

TEST_P(PartWriterTest, AFullDiskIsResourceExhaustedNamingTheFile) {
  std::string mnt = dir_ + "/small";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m") != 0) {
    GTEST_SKIP() << "\n*** SKIPPED: cannot mount a 1 MiB tmpfs (need root): " << strerror(errno);
  }
  std::string part = mnt + "/big.part";
  int fd = ::open(part.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  Status s;
  {
    PartWriter w(fd, part, GetParam());
    ASSERT_TRUE(w.Reset(0).ok());
    std::string data = RandomBytes(1 << 20, 12);
    for (int i = 0; i < 8 && s.ok(); ++i) s = w.Write(data.data(), data.size());
    if (s.ok()) s = w.Finish();
  }
  ::close(fd);
  ::umount2(mnt.c_str(), MNT_DETACH);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Code::kResourceExhausted) << s.ToString();
  EXPECT_NE(s.message().find("big.part"), std::string::npos) << s.ToString();
}

TEST(PartWriterDirect, DurableModeUsesODirectOnADiskFilesystem) {
  char tmpl[] = "/tmp/rift_part_writer_XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string path = dir + "/f.part";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  bool direct = PartWriter(fd, path, true).direct();
  bool plain = PartWriter(fd, path, false).direct();
  bool small = PartWriter(fd, path, true, 100 << 10).direct();  // under one 4 MiB block
  ::close(fd);
  fs::remove_all(dir);
  EXPECT_FALSE(plain);
  EXPECT_FALSE(small);
  if (!direct) GTEST_SKIP() << "the filesystem of /tmp refuses O_DIRECT: buffered fallback in use";
}

INSTANTIATE_TEST_SUITE_P(Modes, PartWriterTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Durable" : "Plain"; });

}  // namespace
}  // namespace rift::sync::internal
