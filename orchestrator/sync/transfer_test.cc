// Real HTTP on 127.0.0.1 (port 0): an api::HttpServer with the transfer routes over a real
// inventory in a temp dir, pulled by PullFile/PullBatch into another temp data root.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "orchestrator/api/http_server.h"
#include "orchestrator/inventory/inventory.h"
#include "orchestrator/net/http_client.h"
#include "orchestrator/sync/transfer_client.h"
#include "orchestrator/sync/transfer_io.h"
#include "orchestrator/sync/transfer_server.h"

namespace rift::sync {
namespace {

namespace fs = std::filesystem;
constexpr char kToken[] = "secret-token";

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(&s[i], &v, 8);
  }
  return s;
}

std::string ShaOf(const std::string& data) {
  internal::Sha256 h;
  h.Update(data.data(), data.size());
  return h.HexDigest();
}

std::string ReadFile(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// One node: a data root, an inventory and (optionally) a serving HTTP server.
struct Node {
  explicit Node(const std::string& dir, bool serve = true) : root(dir + "/data") {
    fs::create_directories(root);
    fs::create_directories(dir + "/state");
    inventory::InventoryOptions o;
    o.data_root = root;
    o.db_path = dir + "/state/inventory.db";
    o.quiet_period = std::chrono::milliseconds(0);
    inv = std::move(inventory::Inventory::Open(o).value());
    if (!serve) return;
    router = std::make_unique<api::Router>(kToken);
    RegisterTransferRoutes(router.get(), {root, inv.get(), 8, 1000});
    api::ServerOptions so;
    so.bind_host = "127.0.0.1";
    so.port = 0;
    server = std::make_unique<api::HttpServer>(router.get(), so);
    EXPECT_TRUE(server->Bind().ok());
    EXPECT_TRUE(server->Serve().ok());
    url = "http://127.0.0.1:" + std::to_string(server->port());
  }
  // Writes and seals a file; returns its sha256.
  std::string Put(const std::string& rel, const std::string& data) {
    fs::create_directories(fs::path(root + "/" + rel).parent_path());
    std::ofstream(root + "/" + rel, std::ios::binary) << data;
    EXPECT_TRUE(inv->SealNow(rel, 1000).ok());
    return ShaOf(data);
  }
  std::string root, url;
  std::unique_ptr<inventory::Inventory> inv;
  std::unique_ptr<api::Router> router;
  std::unique_ptr<api::HttpServer> server;
};

class TransferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rift_transfer_XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  PullOptions Opts(Node& n) {
    PullOptions o;
    o.data_root = n.root;
    o.inventory = n.inv.get();
    return o;
  }
  net::HttpResult Get(const std::string& url, const std::string& path,
                      std::vector<std::pair<std::string, std::string>> h = {}) {
    net::ClientOptions co;
    co.auth_token = kToken;
    auto c = net::HttpClient::Create(url, co).value();
    net::HttpResult head;
    net::StreamHandlers sh;
    std::string body;
    sh.on_data = [&](const char* d, size_t n) { body.append(d, n); return true; };
    auto r = c->Stream("GET", path, h, sh);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    head = r.value();
    if (head.body.empty()) head.body = body;
    return head;
  }
  std::string dir_;
};

TEST_F(TransferTest, LargeFileArrivesByteIdenticalAndIsRecorded) {
  Node src(dir_ + "/a"), dst(dir_ + "/b", false);
  std::string data = RandomBytes(64 << 20, 1);
  std::string sha = src.Put("selfplay/big.bin", data);
  auto r = PullFile({"selfplay/big.bin", sha, data.size(), {src.url}, kToken}, Opts(dst));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->bytes_received, data.size());
  EXPECT_EQ(ReadFile(dst.root + "/selfplay/big.bin"), data);
  EXPECT_FALSE(fs::exists(dst.root + "/selfplay/big.bin.part"));
  auto rec = dst.inv->Get("selfplay/big.bin");
  ASSERT_TRUE(rec.has_value());
  EXPECT_TRUE(rec->sealed);
  EXPECT_EQ(rec->sha256, sha);
}

TEST_F(TransferTest, APullNeverReplacesALocallyChangedFileButReplacesASealedOldVersion) {
  Node src(dir_ + "/a"), dst(dir_ + "/b", false);
  std::string v1 = src.Put("training/x.bin", "version one");
  // dst holds v1, sealed; then rewrites it locally (newer data, not yet sealed).
  dst.Put("training/x.bin", "version one");
  std::ofstream(dst.root + "/training/x.bin", std::ios::binary | std::ios::trunc)
      << "version two, written here";
  auto r = PullFile({"training/x.bin", v1, 11, {src.url}, kToken}, Opts(dst));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition) << r.status().ToString();
  EXPECT_EQ(ReadFile(dst.root + "/training/x.bin"), "version two, written here");
  EXPECT_FALSE(fs::exists(dst.root + "/training/x.bin.part"));
  // The same in a batch.
  BatchRequest batch{{{"training/x.bin", v1, 11}}, {src.url}, kToken};
  auto b = PullBatch(batch, Opts(dst));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->files_ok, 0u);
  EXPECT_EQ(ReadFile(dst.root + "/training/x.bin"), "version two, written here");

  // A new version from elsewhere does replace a sealed old version that is unchanged on disk,
  // and takes the source's mtime.
  Node old(dir_ + "/c", false);
  old.Put("training/x.bin", "version zero");
  const int64_t source_mtime = 1'600'000'000'000'000'000;
  auto ok = PullFile({"training/x.bin", v1, 11, {src.url}, kToken, source_mtime}, Opts(old));
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ReadFile(old.root + "/training/x.bin"), "version one");
  EXPECT_EQ(old.inv->Get("training/x.bin")->mtime_ns, source_mtime);
}

TEST_F(TransferTest, RangesAnswer206And416WithTheEtag) {
  Node src(dir_ + "/a");
  std::string data = RandomBytes(1000, 2);
  std::string sha = src.Put("games/g.bin", data);
  auto full = Get(src.url, "/sync/file?path=games/g.bin");
  EXPECT_EQ(full.status, 200);
  EXPECT_EQ(full.body, data);
  EXPECT_EQ(full.headers["etag"], "\"" + sha + "\"");
  EXPECT_EQ(full.headers["accept-ranges"], "bytes");
  auto part = Get(src.url, "/sync/file?path=games/g.bin", {{"Range", "bytes=10-19"}});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body, data.substr(10, 10));
  EXPECT_EQ(part.headers["content-range"], "bytes 10-19/1000");
  auto tail = Get(src.url, "/sync/file?path=games/g.bin", {{"Range", "bytes=-5"}});
  EXPECT_EQ(tail.body, data.substr(995));
  auto over = Get(src.url, "/sync/file?path=games/g.bin", {{"Range", "bytes=990-5000"}});
  EXPECT_EQ(over.status, 206);
  EXPECT_EQ(over.headers["content-range"], "bytes 990-999/1000");
  auto bad = Get(src.url, "/sync/file?path=games/g.bin", {{"Range", "bytes=1000-"}});
  EXPECT_EQ(bad.status, 416);
  EXPECT_EQ(bad.headers["content-range"], "bytes */1000");
  auto multi = Get(src.url, "/sync/file?path=games/g.bin", {{"Range", "bytes=0-1,5-6"}});
  EXPECT_EQ(multi.status, 200);
  EXPECT_EQ(multi.body, data);
  auto stale = Get(src.url, "/sync/file?path=games/g.bin", {{"If-Match", "\"abc\""}});
  EXPECT_EQ(stale.status, 412);
}

// PullFile reads bodies with HttpClient::Download (plain socket): same answers as Stream().
TEST_F(TransferTest, DownloadAnswersLikeStream) {
  Node src(dir_ + "/a");
  std::string data = RandomBytes(3 << 20, 7);
  src.Put("games/d.bin", data);
  net::ClientOptions co;
  co.auth_token = kToken;
  auto c = net::HttpClient::Create(src.url, co).value();
  std::vector<std::vector<std::pair<std::string, std::string>>> cases = {
      {}, {{"Range", "bytes=10-19"}}, {{"Range", "bytes=5000000-"}}, {{"If-Match", "\"abc\""}}};
  for (const auto& h : cases) {
    for (std::string path : {"/sync/file?path=games/d.bin", "/sync/file?path=../x"}) {
      auto want = Get(src.url, path, h);
      std::string body;
      size_t pieces = 0;
      net::StreamHandlers sh;
      sh.on_data = [&](const char* d, size_t n) {
        body.append(d, n);
        ++pieces;
        return true;
      };
      auto got = c->Download(path, h, sh, 1 << 20);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      if (got->body.empty()) got->body = body;
      EXPECT_EQ(got->status, want.status) << path;
      EXPECT_EQ(got->body, want.body) << path;
      EXPECT_EQ(got->headers["etag"], want.headers["etag"]);
      EXPECT_EQ(got->headers["content-range"], want.headers["content-range"]);
      if (want.status == 200) {
        EXPECT_LE(pieces, 4u);  // 1 MiB pieces, not 4 KiB ones
      }
    }
  }
  auto nobody = net::HttpClient::Create("http://127.0.0.1:1", co).value();
  net::StreamHandlers sh;
  sh.on_data = [](const char*, size_t) { return true; };
  EXPECT_FALSE(nobody->Download("/sync/file?path=x", {}, sh).ok());
  net::ClientOptions bad = co;
  bad.auth_token = "wrong";
  auto r = net::HttpClient::Create(src.url, bad).value()->Download("/sync/file?path=games/d.bin",
                                                                   {}, sh);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401);
}

TEST_F(TransferTest, TraversalUnsealedChangedAndTokenlessAreRefused) {
  Node src(dir_ + "/a");
  src.Put("games/g.bin", "hello");
  std::ofstream(dir_ + "/a/secret") << "outside";
  fs::create_symlink(dir_ + "/a/secret", src.root + "/games/link");
  std::ofstream(src.root + "/games/new.bin") << "growing";
  EXPECT_EQ(Get(src.url, "/sync/file?path=../secret").status, 400);
  EXPECT_EQ(Get(src.url, "/sync/file?path=%2e%2e/secret").status, 400);
  EXPECT_EQ(Get(src.url, "/sync/file?path=" + dir_ + "/a/secret").status, 400);
  EXPECT_EQ(Get(src.url, "/sync/file?path=games/link").status, 403);
  EXPECT_EQ(Get(src.url, "/sync/file?path=games/none").status, 404);
  EXPECT_EQ(Get(src.url, "/sync/file?path=games/new.bin").status, 404);  // never scanned
  std::ofstream(src.root + "/games/g.bin", std::ios::app) << "more";
  EXPECT_EQ(Get(src.url, "/sync/file?path=games/g.bin").status, 409);
  auto c = net::HttpClient::Create(src.url, {}).value();
  EXPECT_EQ(c->Get("/sync/file?path=games/g.bin").value().status, 401);
}

TEST_F(TransferTest, InterruptedPullResumesWithRange) {
  Node src(dir_ + "/a"), dst(dir_ + "/b", false);
  std::string data = RandomBytes(8 << 20, 3);
  std::string sha = src.Put("selfplay/r.bin", data);
  PullRequest req{"selfplay/r.bin", sha, data.size(), {src.url}, kToken};
  PullOptions o = Opts(dst);
  o.progress = [](const std::string&, uint64_t done, uint64_t) { return done < (5 << 20); };
  auto first = PullFile(req, o);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), Code::kUnavailable);
  EXPECT_FALSE(fs::exists(dst.root + "/selfplay/r.bin"));
  uint64_t kept = fs::file_size(dst.root + "/selfplay/r.bin.part");
  EXPECT_GE(kept, uint64_t{5} << 20);
  auto second = PullFile(req, Opts(dst));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->bytes_resumed, kept);
  EXPECT_EQ(second->bytes_received, data.size() - kept);
  EXPECT_EQ(ReadFile(dst.root + "/selfplay/r.bin"), data);
}

TEST_F(TransferTest, SourceDyingMidTransferFailsOverToTheNext) {
  Node a(dir_ + "/a"), b(dir_ + "/b"), dst(dir_ + "/c", false);
  std::string data = RandomBytes(8 << 20, 4);
  std::string sha = a.Put("selfplay/f.bin", data);
  b.Put("selfplay/f.bin", data);
  PullOptions o = Opts(dst);
  o.progress = [&](const std::string& src, uint64_t done, uint64_t) {
    if (src == a.url && done >= (3 << 20)) {
      a.server->Stop();  // the first holder dies
      return false;
    }
    return true;
  };
  auto r = PullFile({"selfplay/f.bin", sha, data.size(), {a.url, b.url}, kToken}, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->source, b.url);
  EXPECT_LT(r->bytes_received, data.size() + (1 << 20));
  EXPECT_EQ(ReadFile(dst.root + "/selfplay/f.bin"), data);
}

TEST_F(TransferTest, ShaMismatchDiscardsThePartAndNeverCreatesTheFile) {
  Node src(dir_ + "/a"), dst(dir_ + "/b", false);
  std::string data = RandomBytes(1 << 20, 5);
  src.Put("selfplay/x.bin", data);
  std::string wrong = ShaOf("something else");
  // The source's If-Match check refuses another version: 412, nothing written.
  auto r = PullFile({"selfplay/x.bin", wrong, data.size(), {src.url}, kToken}, Opts(dst));
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(fs::exists(dst.root + "/selfplay/x.bin"));
  // A .part holding corrupt bytes (resumed prefix) is caught by the final hash.
  std::string sha = ShaOf(data);
  fs::create_directories(dst.root + "/selfplay");
  std::ofstream(dst.root + "/selfplay/x.bin.part") << std::string(1000, 'z');
  r = PullFile({"selfplay/x.bin", sha, data.size(), {src.url}, kToken}, Opts(dst));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInternal);
  EXPECT_NE(r.status().message().find(sha), std::string::npos);
  EXPECT_FALSE(fs::exists(dst.root + "/selfplay/x.bin.part"));
  EXPECT_FALSE(fs::exists(dst.root + "/selfplay/x.bin"));
}

TEST_F(TransferTest, DiskFullFailsClearlyAndLeavesNothing) {
  Node src(dir_ + "/a");
  std::string data = RandomBytes(4 << 20, 6);
  std::string sha = src.Put("selfplay/big.bin", data);
  std::string mnt = dir_ + "/small";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m") != 0) {
    GTEST_SKIP() << "\n*** SKIPPED: cannot mount a 1 MiB tmpfs (need root): " << strerror(errno);
  }
  Node dst(mnt, false);
  auto r = PullFile({"selfplay/big.bin", sha, data.size(), {src.url}, kToken}, Opts(dst));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted) << r.status().ToString();
  EXPECT_NE(r.status().message().find("big.bin.part"), std::string::npos);
  EXPECT_FALSE(fs::exists(dst.root + "/selfplay/big.bin.part"));
  EXPECT_FALSE(fs::exists(dst.root + "/selfplay/big.bin"));
  EXPECT_TRUE(fs::exists(src.root + "/selfplay/big.bin"));
  dst.inv.reset();
  ::umount2(mnt.c_str(), MNT_DETACH);
}

TEST_F(TransferTest, BatchOfTwoThousandSmallFiles) {
  Node src(dir_ + "/a"), dst(dir_ + "/b", false);
  BatchRequest req{{}, {src.url}, kToken};
  for (int i = 0; i < 2000; ++i) {
    std::string rel = "selfplay/d" + std::to_string(i % 7) + "/f" + std::to_string(i);
    std::string data = RandomBytes(64 + i % 300, 100 + i);
    req.files.push_back({rel, src.Put(rel, data), data.size()});
  }
  req.files.push_back({"selfplay/missing", ShaOf("x"), 1});
  auto r = PullBatch(req, Opts(dst));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->files_ok, 2000u);
  ASSERT_EQ(r->failed.size(), 1u);
  EXPECT_EQ(r->failed[0].first, "selfplay/missing");
  for (int i = 0; i < 2000; i += 97) {
    const BatchFile& f = req.files[i];
    EXPECT_EQ(ShaOf(ReadFile(dst.root + "/" + f.path)), f.sha256);
    EXPECT_TRUE(dst.inv->Get(f.path).has_value());
  }
}

TEST_F(TransferTest, BatchRefusesSymlinkedDirectoriesAndLocalChangesFileByFile) {
  Node src(dir_ + "/a"), dst(dir_ + "/b", false);
  const int64_t mtime = 1600000000123456789;
  BatchRequest req{{}, {src.url}, kToken};
  for (std::string rel : {"selfplay/b/f2", "selfplay/a/f1", "selfplay/c/f4", "selfplay/c/f3"}) {
    std::string data = "data of " + rel;
    req.files.push_back({rel, src.Put(rel, data), data.size(), mtime});
  }
  req.files.push_back({"selfplay/../../secret", ShaOf("x"), 1});
  // In the destination: selfplay/b is a symlink (to a directory inside the root: still
  // refused), selfplay/c/f4 was written locally and never recorded.
  fs::create_directories(dst.root + "/real_b");
  fs::create_directories(dst.root + "/selfplay/c");
  fs::create_directory_symlink(dst.root + "/real_b", dst.root + "/selfplay/b");
  std::ofstream(dst.root + "/selfplay/c/f4") << "local";

  auto r = PullBatch(req, Opts(dst));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->files_ok, 2u);
  std::map<std::string, Code> failed;
  for (const auto& [path, s] : r->failed) failed[path] = s.code();
  EXPECT_EQ(failed.size(), 3u);
  EXPECT_EQ(failed["selfplay/b/f2"], Code::kPermissionDenied);
  EXPECT_EQ(failed["selfplay/c/f4"], Code::kFailedPrecondition);
  EXPECT_TRUE(failed.count("selfplay/../../secret"));
  EXPECT_TRUE(fs::is_empty(dst.root + "/real_b"));
  EXPECT_EQ(ReadFile(dst.root + "/selfplay/c/f4"), "local");
  for (std::string rel : {"selfplay/a/f1", "selfplay/c/f3"}) {
    EXPECT_EQ(ReadFile(dst.root + "/" + rel), "data of " + rel);
    struct stat st {};
    ASSERT_EQ(::stat((dst.root + "/" + rel).c_str(), &st), 0);
    EXPECT_EQ(st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec, mtime);  // the source's
    auto rec = dst.inv->Get(rel);
    ASSERT_TRUE(rec.has_value());
    EXPECT_TRUE(rec->sealed);
    EXPECT_EQ(rec->mtime_ns, mtime);
  }
  for (const auto& e : fs::recursive_directory_iterator(dst.root)) {
    EXPECT_NE(e.path().extension(), ".part") << e.path();
  }
}

}  // namespace
}  // namespace rift::sync
