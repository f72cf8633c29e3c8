// The push receiver and its routes, with real files in temp dirs and real HTTP on 127.0.0.1
// (port 0): an api::HttpServer with the push routes over a real inventory (the target), pushed
// to by PushFile/PushBatch from another data root with its own inventory (the source).
#include "orchestrator/sync/push.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "orchestrator/api/http_server.h"
#include "orchestrator/inventory/inventory.h"
#include "orchestrator/net/http_client.h"
#include "orchestrator/sync/transfer_io.h"

namespace rift::sync {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
constexpr char kToken[] = "push-token";
constexpr uint64_t kTerm = 7;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(rng());
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

// A data root with an inventory; as a target it also runs a PushReceiver behind real HTTP.
struct Node {
  Node(const std::string& dir, bool serve) : root(dir + "/data") {
    fs::create_directories(root);
    fs::create_directories(dir + "/state");
    inventory::InventoryOptions o;
    o.data_root = root;
    o.db_path = dir + "/state/inventory.db";
    o.quiet_period = std::chrono::milliseconds(0);
    inv = std::move(inventory::Inventory::Open(o).value());
    if (serve) Serve();
  }
  ~Node() { StopServing(); }
  void Serve() {
    PushReceiverOptions ro;
    ro.data_root = root;
    ro.inventory = inv.get();
    ro.claim = [this](const std::string& rel) {
      if (pulling.count(rel)) return false;
      claimed.insert(rel);
      return true;
    };
    ro.release = [this](const std::string& rel) { claimed.erase(rel); };
    receiver = std::make_unique<PushReceiver>(ro);
    router = std::make_unique<api::Router>(kToken);
    RegisterPushRoutes(router.get(), {receiver.get(), [](uint64_t term) -> Status {
                                        if (term < kTerm) return StaleTerm("stale term");
                                        if (term > kTerm) return FailedPrecondition("ahead");
                                        return Status::Ok();
                                      }});
    api::ServerOptions so;
    so.bind_host = "127.0.0.1";
    so.port = port;  // a restart keeps its address
    server = std::make_unique<api::HttpServer>(router.get(), so);
    ASSERT_TRUE(server->Bind().ok());
    ASSERT_TRUE(server->Serve().ok());
    port = server->port();
    url = "http://127.0.0.1:" + std::to_string(port);
  }
  // The target "restarts": its in-memory push state is gone, the .part files stay.
  void StopServing() {
    if (server) server->Stop();
    server.reset();
    router.reset();
    receiver.reset();
  }
  std::string Put(const std::string& rel, const std::string& data) {
    fs::create_directories(fs::path(root + "/" + rel).parent_path());
    std::ofstream(root + "/" + rel, std::ios::binary) << data;
    EXPECT_TRUE(inv->SealNow(rel, 1000).ok());
    return ShaOf(data);
  }
  PushRequest Req(const std::string& rel, const Node& to, uint64_t term = kTerm) const {
    auto rec = inv->Get(rel).value();
    return {{rel, rec.sha256, rec.size, rec.mtime_ns}, to.url, kToken, term};
  }
  PushOptions Opts() const {
    PushOptions o;
    o.data_root = root;
    o.inventory = inv.get();
    return o;
  }

  std::string root, url;
  int port = 0;
  std::unique_ptr<inventory::Inventory> inv;
  std::set<std::string> pulling, claimed;
  std::unique_ptr<PushReceiver> receiver;
  std::unique_ptr<api::Router> router;
  std::unique_ptr<api::HttpServer> server;
};

class PushTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/rift_push_XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // A raw request to the push routes.
  net::HttpResult Call(const Node& n, const std::string& method, const std::string& path,
                       const std::string& body = "", std::string token = kToken,
                       std::optional<uint64_t> term = kTerm) {
    net::ClientOptions co;
    co.auth_token = token;
    co.read_timeout = std::chrono::milliseconds(10000);
    auto c = net::HttpClient::Create(n.url, co).value();
    std::vector<std::pair<std::string, std::string>> h;
    if (term) h.emplace_back("X-RingRift-Term", std::to_string(*term));
    auto r = method == "GET" ? c->Get(path, h) : c->Post(path, body, "application/octet-stream", h);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : net::HttpResult{};
  }
  static std::string Query(const std::string& rel, const std::string& sha, uint64_t size,
                           int64_t offset = -1) {
    std::string q = "/sync/push?path=" + rel + "&sha256=" + sha + "&size=" + std::to_string(size);
    if (offset >= 0) q += "&offset=" + std::to_string(offset);
    return q;
  }
  std::string dir_;
};

TEST_F(PushTest, AFileArrivesInChunksVerifiedRenamedAndRecordedWithTheSourceMtime) {
  Node src(dir_ + "/src", false), dst(dir_ + "/dst", true);
  std::string data = RandomBytes((5 << 20) + 123, 1);
  std::string sha = src.Put("selfplay/a/big.bin", data);
  PushOptions o = src.Opts();
  o.chunk_bytes = 1 << 19;
  int chunks = 0;
  o.progress = [&](uint64_t, uint64_t) { return ++chunks > 0; };
  auto r = PushFile(src.Req("selfplay/a/big.bin", dst), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->bytes_sent, data.size());
  EXPECT_EQ(r->bytes_resumed, 0u);
  EXPECT_EQ(chunks, 11);  // the Begin answer, then 10 full chunks (the 11th completes)
  EXPECT_EQ(ReadFile(dst.root + "/selfplay/a/big.bin"), data);
  EXPECT_FALSE(fs::exists(dst.root + "/selfplay/a/big.bin.part"));
  auto rec = dst.inv->Get("selfplay/a/big.bin");
  ASSERT_TRUE(rec.has_value());
  EXPECT_TRUE(rec->sealed);
  EXPECT_EQ(rec->sha256, sha);
  EXPECT_EQ(rec->mtime_ns, src.inv->Get("selfplay/a/big.bin")->mtime_ns);
  EXPECT_TRUE(dst.claimed.empty());
  EXPECT_EQ(dst.receiver->Figures().files_received, 1u);
  // Pushing it again sends nothing: the target holds this version.
  auto again = PushFile(src.Req("selfplay/a/big.bin", dst), src.Opts());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(again->already_held);
  EXPECT_EQ(again->bytes_sent, 0u);
  // An empty file completes with one empty chunk.
  src.Put("logs/empty.log", "");
  ASSERT_TRUE(PushFile(src.Req("logs/empty.log", dst), src.Opts()).ok());
  EXPECT_TRUE(fs::exists(dst.root + "/logs/empty.log"));
  EXPECT_TRUE(dst.inv->Get("logs/empty.log")->sealed);
}

TEST_F(PushTest, AnInterruptedPushResumesFromTheTargetsPartEvenAfterTheTargetRestarts) {
  Node src(dir_ + "/src", false), dst(dir_ + "/dst", true);
  std::string data = RandomBytes(6 << 20, 2);
  src.Put("training/r.bin", data);
  PushOptions stop = src.Opts();
  stop.chunk_bytes = 1 << 19;
  stop.progress = [](uint64_t done, uint64_t) { return done < (2 << 20); };
  auto first = PushFile(src.Req("training/r.bin", dst), stop);
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), Code::kUnavailable);
  EXPECT_FALSE(fs::exists(dst.root + "/training/r.bin"));
  EXPECT_EQ(fs::file_size(dst.root + "/training/r.bin.part"), uint64_t{2} << 20);
  // Resumed by the same receiver.
  stop.progress = [](uint64_t done, uint64_t) { return done < (4 << 20); };
  auto second = PushFile(src.Req("training/r.bin", dst), stop);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(fs::file_size(dst.root + "/training/r.bin.part"), uint64_t{4} << 20);
  // The target restarts: the kept prefix is hashed again and the push completes.
  dst.StopServing();
  dst.Serve();
  auto third = PushFile(src.Req("training/r.bin", dst), src.Opts());
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_EQ(third->bytes_resumed, uint64_t{4} << 20);
  EXPECT_EQ(third->bytes_sent, data.size() - (uint64_t{4} << 20));
  EXPECT_EQ(ReadFile(dst.root + "/training/r.bin"), data);
  EXPECT_EQ(dst.inv->Get("training/r.bin")->sha256, ShaOf(data));
}

TEST_F(PushTest, AChunkAtAnotherOffsetIsRefusedWithTheOffsetToContinueFrom) {
  Node dst(dir_ + "/dst", true);
  std::string data = RandomBytes(3000, 3);
  std::string sha = ShaOf(data);
  auto ok = Call(dst, "POST", Query("games/o.bin", sha, 3000, 0), data.substr(0, 1000));
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(json::parse(ok.body)["offset"], 1000);
  auto gap = Call(dst, "POST", Query("games/o.bin", sha, 3000, 2000), data.substr(2000));
  EXPECT_EQ(gap.status, 409) << gap.body;
  EXPECT_EQ(json::parse(gap.body)["offset"], 1000);
  auto begin = Call(dst, "GET", Query("games/o.bin", sha, 3000));
  ASSERT_EQ(begin.status, 200);
  EXPECT_EQ(json::parse(begin.body)["offset"], 1000);
  auto past = Call(dst, "POST", Query("games/o.bin", sha, 3000, 1000), std::string(2001, 'x'));
  EXPECT_EQ(past.status, 400) << past.body;
  auto rest = Call(dst, "POST", Query("games/o.bin", sha, 3000, 1000), data.substr(1000));
  ASSERT_EQ(rest.status, 200) << rest.body;
  EXPECT_TRUE(json::parse(rest.body)["complete"].get<bool>());
  EXPECT_EQ(ReadFile(dst.root + "/games/o.bin"), data);
}

TEST_F(PushTest, AWrongDigestIsRefusedAndThePartRemoved) {
  Node dst(dir_ + "/dst", true);
  std::string data = RandomBytes(4096, 4);
  std::string claimed = ShaOf("something else entirely");
  auto r = Call(dst, "POST", Query("selfplay/x.bin", claimed, data.size(), 0), data);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("sha256 mismatch"), std::string::npos) << r.body;
  EXPECT_FALSE(fs::exists(dst.root + "/selfplay/x.bin.part"));
  EXPECT_FALSE(fs::exists(dst.root + "/selfplay/x.bin"));
  EXPECT_FALSE(dst.inv->Get("selfplay/x.bin").has_value());
  EXPECT_TRUE(dst.claimed.empty());
  EXPECT_EQ(dst.receiver->Figures().failed, 1u);
  // A .part with corrupt bytes (from before a restart) is caught the same way.
  std::string sha = ShaOf(data);
  fs::create_directories(dst.root + "/selfplay");
  std::ofstream(dst.root + "/selfplay/y.bin.part") << std::string(100, 'z');
  auto begin = Call(dst, "GET", Query("selfplay/y.bin", sha, data.size()));
  ASSERT_EQ(begin.status, 200);
  EXPECT_EQ(json::parse(begin.body)["offset"], 100);
  auto end = Call(dst, "POST", Query("selfplay/y.bin", sha, data.size(), 100), data.substr(100));
  EXPECT_EQ(end.status, 400) << end.body;
  EXPECT_FALSE(fs::exists(dst.root + "/selfplay/y.bin.part"));
  EXPECT_FALSE(fs::exists(dst.root + "/selfplay/y.bin"));
  // A batch file whose bytes do not match its header is refused alone.
  std::string good = "good bytes", bad = "bad bytes";
  std::string body =
      json{{"path", "logs/good.log"}, {"sha256", ShaOf(good)}, {"size", good.size()}}.dump() +
      "\n" + good +
      json{{"path", "logs/bad.log"}, {"sha256", ShaOf("other")}, {"size", bad.size()}}.dump() +
      "\n" + bad;
  auto b = Call(dst, "POST", "/sync/push-batch", body);
  ASSERT_EQ(b.status, 200) << b.body;
  json files = json::parse(b.body)["files"];
  EXPECT_TRUE(files[0]["ok"].get<bool>());
  EXPECT_FALSE(files[1]["ok"].get<bool>());
  EXPECT_EQ(ReadFile(dst.root + "/logs/good.log"), good);
  EXPECT_FALSE(fs::exists(dst.root + "/logs/bad.log"));
  EXPECT_FALSE(fs::exists(dst.root + "/logs/bad.log.part"));
}

TEST_F(PushTest, TraversalTokensAndTermsAreChecked) {
  Node dst(dir_ + "/dst", true);
  fs::create_directories(dir_ + "/outside");
  fs::create_directory_symlink(dir_ + "/outside", dst.root + "/escape");
  std::string sha = ShaOf("x");
  for (std::string bad : {"../x", "%2e%2e/x", "selfplay/../../x", "/etc/passwd", ""}) {
    EXPECT_EQ(Call(dst, "POST", Query(bad, sha, 1, 0), "x").status, 400) << bad;
    EXPECT_EQ(Call(dst, "GET", Query(bad, sha, 1)).status, 400) << bad;
  }
  EXPECT_EQ(Call(dst, "POST", Query("escape/x", sha, 1, 0), "x").status, 403);
  EXPECT_TRUE(fs::is_empty(dir_ + "/outside"));
  EXPECT_EQ(Call(dst, "POST", Query("games/x", "nothex", 1, 0), "x").status, 400);
  EXPECT_EQ(Call(dst, "POST", "/sync/push?path=games/x&sha256=" + sha + "&offset=0", "x").status,
            400);  // no size
  // Tokens: missing and wrong -> 401, nothing written.
  EXPECT_EQ(Call(dst, "POST", Query("games/x", sha, 1, 0), "x", "").status, 401);
  EXPECT_EQ(Call(dst, "POST", Query("games/x", sha, 1, 0), "x", "wrong").status, 401);
  EXPECT_EQ(Call(dst, "POST", "/sync/push-batch", "", "wrong").status, 401);
  // Terms: missing 400, stale 409, ahead 412.
  EXPECT_EQ(Call(dst, "POST", Query("games/x", sha, 1, 0), "x", kToken, std::nullopt).status, 400);
  EXPECT_EQ(Call(dst, "POST", Query("games/x", sha, 1, 0), "x", kToken, kTerm - 1).status, 409);
  EXPECT_EQ(Call(dst, "GET", Query("games/x", sha, 1), "", kToken, kTerm + 1).status, 412);
  EXPECT_EQ(Call(dst, "POST", "/sync/push-batch", "", kToken, kTerm - 1).status, 409);
  EXPECT_FALSE(fs::exists(dst.root + "/games"));
  // A malformed batch body.
  EXPECT_EQ(Call(dst, "POST", "/sync/push-batch", "not json\n").status, 400);
  EXPECT_EQ(Call(dst, "POST", "/sync/push-batch",
                 json{{"path", "games/y"}, {"sha256", sha}, {"size", 100}}.dump() + "\nshort")
                .status,
            400);
  // A PushFile with a stale term is refused as such.
  Node src(dir_ + "/src", false);
  src.Put("games/z.bin", "zzz");
  auto r = PushFile(src.Req("games/z.bin", dst, kTerm - 1), src.Opts());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kStaleTerm) << r.status().ToString();
}

TEST_F(PushTest, ALocallyChangedFileIsNeverReplacedButASealedOldVersionIs) {
  Node src(dir_ + "/src", false), dst(dir_ + "/dst", true);
  src.Put("training/x.bin", "version one");
  dst.Put("training/x.bin", "version zero");
  // dst rewrites it locally: newer data, not sealed yet.
  std::ofstream(dst.root + "/training/x.bin", std::ios::trunc) << "version two, written here";
  auto r = PushFile(src.Req("training/x.bin", dst), src.Opts());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition) << r.status().ToString();
  EXPECT_EQ(ReadFile(dst.root + "/training/x.bin"), "version two, written here");
  EXPECT_FALSE(fs::exists(dst.root + "/training/x.bin.part"));
  auto batch = PushBatch({src.Req("training/x.bin", dst)}, src.Opts());
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->failed.size(), 1u);
  EXPECT_EQ(batch->failed[0].second.code(), Code::kFailedPrecondition);
  EXPECT_EQ(ReadFile(dst.root + "/training/x.bin"), "version two, written here");
  // Once sealed there and unchanged on disk, it is an old version: a pushed version may
  // replace it (the planner decides which version is current).
  ASSERT_TRUE(dst.inv->SealNow("training/x.bin", 2000).ok());
  auto ok = PushFile(src.Req("training/x.bin", dst), src.Opts());
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ReadFile(dst.root + "/training/x.bin"), "version one");
  // The source refuses to push a file that changed since it was sealed.
  std::ofstream(src.root + "/training/x.bin", std::ios::app) << " and more";
  PushRequest stale = src.Req("training/x.bin", dst);
  auto refused = PushFile(stale, src.Opts());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kFailedPrecondition);
}

TEST_F(PushTest, APathBeingPulledOrWrittenIsBusy) {
  Node dst(dir_ + "/dst", true);
  std::string data = RandomBytes(2000, 5);
  std::string sha = ShaOf(data);
  dst.pulling.insert("selfplay/p.bin");
  auto r = Call(dst, "POST", Query("selfplay/p.bin", sha, data.size(), 0), data);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_FALSE(fs::exists(dst.root + "/selfplay/p.bin.part"));
  dst.pulling.clear();
  // While a push is in progress its path stays claimed (a pull would be refused), until it
  // completes or is idle too long.
  ASSERT_EQ(
      Call(dst, "POST", Query("selfplay/p.bin", sha, data.size(), 0), data.substr(0, 10)).status,
      200);
  EXPECT_EQ(dst.claimed.count("selfplay/p.bin"), 1u);
  ASSERT_EQ(dst.receiver->Active().size(), 1u);
  EXPECT_EQ(dst.receiver->Active()[0].offset, 10u);
  ASSERT_EQ(
      Call(dst, "POST", Query("selfplay/p.bin", sha, data.size(), 10), data.substr(10)).status,
      200);
  EXPECT_TRUE(dst.claimed.empty());
  EXPECT_TRUE(dst.receiver->Active().empty());
}

TEST_F(PushTest, IdlePushesAreForgottenAndTheirClaimsReleased) {
  Node dst(dir_ + "/dst", false);
  PushReceiverOptions ro;
  ro.data_root = dst.root;
  ro.inventory = dst.inv.get();
  std::set<std::string> claimed;
  ro.claim = [&](const std::string& rel) { return claimed.insert(rel).second; };
  ro.release = [&](const std::string& rel) { claimed.erase(rel); };
  ro.idle_timeout = std::chrono::milliseconds(0);
  PushReceiver rx(ro);
  std::string data = "0123456789";
  PushFileInfo f{"games/i.bin", ShaOf(data), data.size(), 0};
  auto p = rx.Write(f, 0, std::string_view(data).substr(0, 4));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(claimed.size(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  rx.ExpireIdle();
  EXPECT_TRUE(claimed.empty());
  EXPECT_TRUE(rx.Active().empty());
  EXPECT_EQ(fs::file_size(dst.root + "/games/i.bin.part"), 4u);  // kept for a resume
  auto rest = rx.Write(f, 4, std::string_view(data).substr(4));
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  EXPECT_TRUE(rest->complete);
  EXPECT_EQ(ReadFile(dst.root + "/games/i.bin"), data);
}

TEST_F(PushTest, ABatchOfSmallFilesArrivesInFewRequests) {
  Node src(dir_ + "/src", false), dst(dir_ + "/dst", true);
  std::vector<PushRequest> files;
  std::map<std::string, std::string> content;
  for (int i = 0; i < 600; ++i) {
    std::string rel = "selfplay/b" + std::to_string(i % 5) + "/g" + std::to_string(i) + ".jsonl";
    content[rel] = RandomBytes(100 + (i * 37) % 5000, 100 + i);
    src.Put(rel, content[rel]);
    files.push_back(src.Req(rel, dst));
  }
  files.push_back(
      {{"selfplay/too-big.bin", ShaOf("x"), kPushChunkBytes, 0}, dst.url, kToken, kTerm});
  auto r = PushBatch(files, src.Opts());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->files_ok, 600u);
  ASSERT_EQ(r->failed.size(), 1u);
  EXPECT_EQ(r->failed[0].first, "selfplay/too-big.bin");
  for (const auto& [rel, data] : content) {
    ASSERT_EQ(ReadFile(dst.root + "/" + rel), data) << rel;
    auto rec = dst.inv->Get(rel);
    ASSERT_TRUE(rec && rec->sealed) << rel;
    EXPECT_EQ(rec->sha256, ShaOf(data));
    EXPECT_EQ(rec->mtime_ns, src.inv->Get(rel)->mtime_ns);
  }
  EXPECT_TRUE(dst.claimed.empty());
  // Under the body cap: 600 files of ~2.6 KiB on average take a couple of requests.
  auto counts = dst.router->RequestCounts();
  EXPECT_LE((counts[{"/sync/push-batch", 200}]), 3u);
}

TEST_F(PushTest, DiskFullFailsClearlyAndLeavesNothing) {
  Node src(dir_ + "/src", false);
  std::string data = RandomBytes(4 << 20, 6);
  src.Put("selfplay/big.bin", data);
  std::string mnt = dir_ + "/small";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m") != 0) {
    GTEST_SKIP() << "\n*** SKIPPED: cannot mount a 1 MiB tmpfs (need root): " << strerror(errno);
  }
  {
    Node dst(mnt, true);
    auto r = PushFile(src.Req("selfplay/big.bin", dst), src.Opts());
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kResourceExhausted) << r.status().ToString();
    EXPECT_NE(r.status().message().find("disk full"), std::string::npos) << r.status().ToString();
    EXPECT_FALSE(fs::exists(dst.root + "/selfplay/big.bin.part"));
    EXPECT_FALSE(fs::exists(dst.root + "/selfplay/big.bin"));
    EXPECT_TRUE(dst.claimed.empty());
  }
  EXPECT_EQ(ReadFile(src.root + "/selfplay/big.bin"), data);  // the source keeps its copy
  ::umount2(mnt.c_str(), MNT_DETACH);
}

}  // namespace
}  // namespace rift::sync
