#include "orchestrator/inventory/paths.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "orchestrator/inventory/paths_internal.h"

namespace rift::inventory {
namespace {

namespace fs = std::filesystem;

// tmp/data is the root; tmp/outside holds what must never be reachable.
class PathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "rift-paths-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    tmp_ = tmpl;
    root_ = tmp_ + "/data";
    const std::string out = tmp_ + "/outside";
    fs::create_directories(root_ + "/a");
    fs::create_directories(out + "/dir");
    Write(root_ + "/a/b.jsonl", "inside");
    Write(root_ + "/top.txt", "top");
    Write(out + "/secret", "secret");
    Write(out + "/dir/secret", "secret");
    fs::create_symlink("../outside/secret", root_ + "/link_out_file");
    fs::create_symlink(out + "/dir", root_ + "/link_out_dir");  // absolute target
    fs::create_symlink("../../outside/secret", root_ + "/a/link_up");
    fs::create_symlink("a/b.jsonl", root_ + "/link_in");
    fs::create_symlink("a", root_ + "/link_in_dir");
    fs::create_symlink("chain2", root_ + "/chain1");
    fs::create_symlink("../outside/secret", root_ + "/chain2");
    fs::create_symlink("chain_in2", root_ + "/chain_in1");
    fs::create_symlink("a/b.jsonl", root_ + "/chain_in2");
    fs::create_symlink("../outside/nope", root_ + "/dangling");
    fs::create_symlink("/proc/self/root/etc/passwd", root_ + "/magic");
    ASSERT_EQ(mkfifo((root_ + "/fifo").c_str(), 0600), 0);
  }
  void TearDown() override { fs::remove_all(tmp_); }

  static void Write(const std::string& path, const std::string& data) {
    std::ofstream(path, std::ios::binary) << data;
  }

  std::string tmp_, root_;
};

struct ConfineCase {
  std::string input;
  Code code;
  std::string normalised;  // when ok
};

TEST_F(PathsTest, ConfinePathRefusesEveryTraversalForm) {
  const ConfineCase cases[] = {
      {"a/b.jsonl", Code::kOk, "a/b.jsonl"},
      {"a//b.jsonl", Code::kOk, "a/b.jsonl"},
      {"./a/b.jsonl", Code::kOk, "a/b.jsonl"},
      {"a/./b.jsonl", Code::kOk, "a/b.jsonl"},
      {"a/b.jsonl/", Code::kOk, "a/b.jsonl"},
      {"missing/file", Code::kOk, "missing/file"},  // absent: OpenBeneath answers 404
      {"\xc3\xbc.txt", Code::kOk, "\xc3\xbc.txt"},
      {"link_in", Code::kOk, "link_in"},  // symlinks that stay inside are fine here
      {"link_in_dir/b.jsonl", Code::kOk, "link_in_dir/b.jsonl"},
      {"chain_in1", Code::kOk, "chain_in1"},
      {"", Code::kInvalidArgument, ""},
      {".", Code::kInvalidArgument, ""},
      {"./", Code::kInvalidArgument, ""},
      {"/", Code::kInvalidArgument, ""},
      {"/etc/passwd", Code::kInvalidArgument, ""},
      {"//etc/passwd", Code::kInvalidArgument, ""},
      {"..", Code::kInvalidArgument, ""},
      {"../x", Code::kInvalidArgument, ""},
      {"a/..", Code::kInvalidArgument, ""},
      {"a/../a/b.jsonl", Code::kInvalidArgument, ""},
      {"a/../../x", Code::kInvalidArgument, ""},
      {"a/b/../../../outside/secret", Code::kInvalidArgument, ""},
      {"a\\..\\b", Code::kInvalidArgument, ""},
      {"..\\outside\\secret", Code::kInvalidArgument, ""},
      {"%2e%2e/x", Code::kInvalidArgument, ""},
      {"%2E%2E%2Fx", Code::kInvalidArgument, ""},
      {"a%2fb", Code::kInvalidArgument, ""},
      {"%252e%252e/x", Code::kInvalidArgument, ""},
      {"..%c0%af", Code::kInvalidArgument, ""},
      {std::string("a\0b", 3), Code::kInvalidArgument, ""},
      {std::string("a/b.jsonl\0.png", 14), Code::kInvalidArgument, ""},
      {"a\nb", Code::kInvalidArgument, ""},
      {"a\rb", Code::kInvalidArgument, ""},
      {"a\tb", Code::kInvalidArgument, ""},
      {"a\x7f", Code::kInvalidArgument, ""},
      {std::string(5000, 'a'), Code::kInvalidArgument, ""},
      {[] {
         std::string s;
         while (s.size() <= 4096) s += "a/";
         return s + "x";
       }(),
       Code::kInvalidArgument, ""},
      {std::string(256, 'a'), Code::kInvalidArgument, ""},
      {"link_out_file", Code::kPermissionDenied, ""},
      {"link_out_dir", Code::kPermissionDenied, ""},
      {"link_out_dir/secret", Code::kPermissionDenied, ""},
      {"a/link_up", Code::kPermissionDenied, ""},
      {"link_in_dir/link_up", Code::kPermissionDenied, ""},
      {"chain1", Code::kPermissionDenied, ""},
      {"dangling", Code::kPermissionDenied, ""},
      {"magic", Code::kPermissionDenied, ""},
  };
  for (const ConfineCase& c : cases) {
    auto r = ConfinePath(root_, c.input);
    const std::string shown = c.input.size() > 40 ? c.input.substr(0, 40) + "..." : c.input;
    EXPECT_EQ(r.status().code(), c.code) << "'" << shown << "': " << r.status().ToString();
    if (r.ok()) {
      EXPECT_EQ(*r, c.normalised) << shown;
    } else {
      EXPECT_FALSE(r.status().message().empty());
    }
  }
}

TEST_F(PathsTest, ConfinePathWorksWhenTheRootItselfIsASymlink) {
  fs::create_symlink(root_, tmp_ + "/data-link");
  auto r = ConfinePath(tmp_ + "/data-link", "link_in");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ConfinePath(tmp_ + "/data-link", "link_out_file").status().code(),
            Code::kPermissionDenied);
}

struct OpenCase {
  std::string rel;
  Code code;
  std::string content;  // when ok
};

std::string ReadAll(int fd) {
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

// OpenBeneath refuses every symlink, inside or not: the inventory never indexes symlinks, so no
// served path needs one, and refusing them removes any reasoning about where they point.
void CheckOpen(const std::string& root,
               const std::function<Result<int>(const std::string&, const std::string&)>& open) {
  const OpenCase cases[] = {
      {"a/b.jsonl", Code::kOk, "inside"},
      {"top.txt", Code::kOk, "top"},
      {"missing", Code::kNotFound, ""},
      {"a/missing", Code::kNotFound, ""},
      {"missing/x", Code::kNotFound, ""},
      {"top.txt/x", Code::kNotFound, ""},
      {"a", Code::kInvalidArgument, ""},     // a directory
      {"fifo", Code::kInvalidArgument, ""},  // must not block either
      {"link_out_file", Code::kPermissionDenied, ""},
      {"link_out_dir/secret", Code::kPermissionDenied, ""},
      {"a/link_up", Code::kPermissionDenied, ""},
      {"chain1", Code::kPermissionDenied, ""},
      {"dangling", Code::kPermissionDenied, ""},
      {"magic", Code::kPermissionDenied, ""},
      {"link_in", Code::kPermissionDenied, ""},
      {"link_in_dir/b.jsonl", Code::kPermissionDenied, ""},
      {"chain_in1", Code::kPermissionDenied, ""},
  };
  for (const OpenCase& c : cases) {
    auto r = open(root, c.rel);
    EXPECT_EQ(r.status().code(), c.code) << c.rel << ": " << r.status().ToString();
    if (r.ok()) {
      EXPECT_EQ(ReadAll(*r), c.content) << c.rel;
      ::close(*r);
    }
  }
}

TEST_F(PathsTest, OpenBeneathOpensOnlyRegularFilesWithoutSymlinks) {
  CheckOpen(root_, [](const std::string& root, const std::string& rel) {
    return OpenBeneath(root, rel);
  });
}

TEST_F(PathsTest, TheFallbackWalkAgreesWithOpenat2) {
  CheckOpen(root_, [](const std::string& root, const std::string& rel) {
    return internal::OpenBeneathWalk(root, rel);
  });
}

TEST_F(PathsTest, OpenBeneathRevalidatesRawPaths) {
  for (const char* raw : {"../outside/secret", "/etc/passwd", "a/../../outside/secret", "%2e%2e/x",
                          "a\\..\\b"}) {
    auto r = OpenBeneath(root_, raw);
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << raw;
    if (r.ok()) ::close(*r);
  }
  auto r = OpenBeneath(root_, "a//b.jsonl");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(ReadAll(*r), "inside");
  ::close(*r);
}

TEST_F(PathsTest, OpenBeneathFollowsARootThatIsASymlink) {
  fs::create_symlink(root_, tmp_ + "/data-link");
  auto r = OpenBeneath(tmp_ + "/data-link", "a/b.jsonl");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ::close(*r);
}

}  // namespace
}  // namespace rift::inventory
