#include "orchestrator/inventory/inventory.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <gtest/gtest.h>

namespace rift::inventory {
namespace {

namespace fs = std::filesystem;

const char kShaAbc[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const char kShaAbd[] = "a52d159f262b2c6ddb724a61840befc36eb30c88877a4030b65cbe86298449c9";
constexpr int64_t kQuiet = 30000;

class InventoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "rift-inv-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    tmp_ = tmpl;
    root_ = tmp_ + "/data";
    fs::create_directories(root_);
    Reopen();
  }
  void TearDown() override {
    inv_.reset();
    fs::remove_all(tmp_);
  }

  void Reopen() {
    inv_.reset();
    InventoryOptions o;
    o.data_root = root_;
    o.db_path = tmp_ + "/state/inventory.db";
    o.quiet_period = std::chrono::milliseconds(kQuiet);
    auto r = Inventory::Open(o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    inv_ = std::move(r).value();
  }

  // Writes `data` at `rel`; a distinct explicit mtime makes "changed" deterministic even when
  // two writes land in the same clock tick.
  void Write(const std::string& rel, const std::string& data, int64_t mtime_s = 0) {
    const std::string path = root_ + "/" + rel;
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
    if (mtime_s) SetMtime(rel, mtime_s);
  }
  void Append(const std::string& rel, const std::string& data) {
    std::ofstream(root_ + "/" + rel, std::ios::binary | std::ios::app) << data;
  }
  void SetMtime(const std::string& rel, int64_t mtime_s) {
    struct timespec ts[2] = {{mtime_s, 0}, {mtime_s, 0}};
    ASSERT_EQ(utimensat(AT_FDCWD, (root_ + "/" + rel).c_str(), ts, 0), 0);
  }

  ScanStats ScanAt(int64_t now_ms) {
    auto r = inv_->Scan(now_ms);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : ScanStats{};
  }

  FileRecord MustGet(const std::string& rel) {
    auto r = inv_->Get(rel);
    EXPECT_TRUE(r.has_value()) << rel;
    return r.value_or(FileRecord{});
  }

  std::string tmp_, root_;
  std::unique_ptr<Inventory> inv_;
};

TEST_F(InventoryTest, NewFileIsUnsealedUntilTheQuietPeriodThenSealedWithItsSha256) {
  Write("selfplay/g1.jsonl", "abc");
  ScanStats s = ScanAt(1000);
  EXPECT_EQ(s.files, 1u);
  EXPECT_EQ(s.changed, 1u);
  EXPECT_EQ(s.hashed, 0u);
  FileRecord f = MustGet("selfplay/g1.jsonl");
  EXPECT_FALSE(f.sealed);
  EXPECT_EQ(f.sha256, "");
  EXPECT_EQ(f.klass, "selfplay");
  EXPECT_EQ(f.size, 3u);
  EXPECT_EQ(f.version, 0u);
  EXPECT_TRUE(inv_->Sealed().empty());

  s = ScanAt(1000 + kQuiet - 1);
  EXPECT_EQ(s.sealed, 0u);
  EXPECT_FALSE(MustGet("selfplay/g1.jsonl").sealed);

  s = ScanAt(1000 + kQuiet);
  EXPECT_EQ(s.hashed, 1u);
  EXPECT_EQ(s.sealed, 1u);
  EXPECT_EQ(s.bytes_hashed, 3u);
  f = MustGet("selfplay/g1.jsonl");
  EXPECT_TRUE(f.sealed);
  EXPECT_EQ(f.sha256, kShaAbc);
  EXPECT_EQ(f.version, 1u);
  EXPECT_EQ(inv_->Sealed().size(), 1u);
  EXPECT_EQ(inv_->Sealed("selfplay").size(), 1u);
  EXPECT_TRUE(inv_->Sealed("models").empty());
}

TEST_F(InventoryTest, GrowingFileStaysUnsealedUntilItStops) {
  Write("selfplay/g.jsonl", "a");
  ScanAt(0);
  for (int i = 1; i <= 3; ++i) {
    Append("selfplay/g.jsonl", "b");
    ScanStats s = ScanAt(i * kQuiet);
    EXPECT_EQ(s.changed, 1u);
    EXPECT_EQ(s.sealed, 0u);
    EXPECT_FALSE(MustGet("selfplay/g.jsonl").sealed);
  }
  ScanStats s = ScanAt(4 * kQuiet);
  EXPECT_EQ(s.sealed, 1u);
  FileRecord f = MustGet("selfplay/g.jsonl");
  EXPECT_EQ(f.size, 4u);
  EXPECT_TRUE(f.sealed);
}

TEST_F(InventoryTest, ChangedSealedFileGetsANewVersionAndDropsOldHolders) {
  Write("training/t.npz", "abc", 1000);
  ScanAt(0);
  ScanAt(kQuiet);
  ASSERT_EQ(MustGet("training/t.npz").sha256, kShaAbc);
  ASSERT_TRUE(inv_->AddHolder("training/t.npz", {"n1", kShaAbc, 5}).ok());
  ASSERT_TRUE(inv_->AddHolder("training/t.npz", {"n2", kShaAbc, 6}).ok());
  ASSERT_EQ(inv_->Holders("training/t.npz").size(), 2u);

  Write("training/t.npz", "abd", 2000);  // same size: only the mtime tells
  ScanStats s = ScanAt(2 * kQuiet);
  EXPECT_EQ(s.changed, 1u);
  FileRecord f = MustGet("training/t.npz");
  EXPECT_FALSE(f.sealed);
  EXPECT_EQ(f.sha256, "");
  EXPECT_EQ(f.version, 1u);
  EXPECT_TRUE(inv_->Sealed().empty());

  ScanAt(3 * kQuiet);
  f = MustGet("training/t.npz");
  EXPECT_TRUE(f.sealed);
  EXPECT_EQ(f.sha256, kShaAbd);
  EXPECT_EQ(f.version, 2u);
  EXPECT_TRUE(inv_->Holders("training/t.npz").empty());
}

TEST_F(InventoryTest, TouchedButIdenticalFileKeepsItsVersionAndHolders) {
  Write("models/m.pt", "abc", 1000);
  ScanAt(0);
  ScanAt(kQuiet);
  ASSERT_TRUE(inv_->AddHolder("models/m.pt", {"n1", kShaAbc, 5}).ok());
  SetMtime("models/m.pt", 3000);
  ScanAt(2 * kQuiet);
  EXPECT_FALSE(MustGet("models/m.pt").sealed);
  ScanAt(3 * kQuiet);
  FileRecord f = MustGet("models/m.pt");
  EXPECT_TRUE(f.sealed);
  EXPECT_EQ(f.version, 1u);
  EXPECT_EQ(inv_->Holders("models/m.pt").size(), 1u);
}

TEST_F(InventoryTest, UnchangedFilesAreNotRehashedOnRescan) {
  for (int i = 0; i < 20; ++i) Write("games/g" + std::to_string(i), "x" + std::to_string(i));
  ScanAt(0);
  EXPECT_EQ(ScanAt(kQuiet).hashed, 20u);
  for (int round = 2; round < 5; ++round) {
    ScanStats s = ScanAt(round * kQuiet);
    EXPECT_EQ(s.files, 20u);
    EXPECT_EQ(s.hashed, 0u);
    EXPECT_EQ(s.changed, 0u);
    EXPECT_EQ(s.sealed, 0u);
    EXPECT_EQ(s.bytes_hashed, 0u);
  }
}

TEST_F(InventoryTest, TenThousandFileRescanHashesNothing) {
  constexpr int kFiles = 10000;
  for (int i = 0; i < kFiles; ++i) {
    Write("selfplay/d" + std::to_string(i / 100) + "/g" + std::to_string(i) + ".jsonl",
          std::string(64, static_cast<char>('a' + i % 26)));
  }
  ScanStats first = ScanAt(0);
  ScanStats seal = ScanAt(kQuiet);
  EXPECT_EQ(seal.hashed, static_cast<uint64_t>(kFiles));
  ScanStats rescan = ScanAt(2 * kQuiet);
  EXPECT_EQ(rescan.files, static_cast<uint64_t>(kFiles));
  EXPECT_EQ(rescan.hashed, 0u);
  EXPECT_EQ(rescan.changed, 0u);
  std::printf("10k files: first scan %lld ms, hash+seal %lld ms, no-change rescan %lld ms\n",
              static_cast<long long>(first.took.count()), static_cast<long long>(seal.took.count()),
              static_cast<long long>(rescan.took.count()));
  EXPECT_EQ(inv_->Sealed("selfplay").size(), static_cast<size_t>(kFiles));
}

TEST_F(InventoryTest, DeletedFileBecomesATombstoneInTheManifest) {
  Write("games/g.db", "abc");
  ScanAt(0);
  ScanAt(kQuiet);
  const uint64_t cursor = inv_->ManifestSince(0).next_cursor;
  fs::remove(root_ + "/games/g.db");
  ScanStats s = ScanAt(2 * kQuiet);
  EXPECT_EQ(s.removed, 1u);
  Manifest m = inv_->ManifestSince(cursor);
  ASSERT_EQ(m.records.size(), 1u);
  EXPECT_EQ(m.records[0].path, "games/g.db");
  EXPECT_TRUE(m.records[0].deleted);
  EXPECT_FALSE(m.records[0].sealed);
  EXPECT_TRUE(inv_->Sealed().empty());
  EXPECT_EQ(ScanAt(3 * kQuiet).removed, 0u);  // a tombstone is written once

  Write("games/g.db", "abc");  // comes back: indexed again, sealed again as the same version
  ScanAt(4 * kQuiet);
  EXPECT_FALSE(MustGet("games/g.db").deleted);
  ScanAt(5 * kQuiet);
  EXPECT_TRUE(MustGet("games/g.db").sealed);
  EXPECT_EQ(MustGet("games/g.db").version, 1u);
}

TEST_F(InventoryTest, ManifestPagesByCursorInSeqOrder) {
  for (int i = 0; i < 25; ++i) Write("games/g" + std::to_string(i), "x");
  ScanAt(0);
  std::set<std::string> paths;
  uint64_t cursor = 0, last_seq = 0;
  std::vector<size_t> pages;
  for (;;) {
    Manifest m = inv_->ManifestSince(cursor, 10);
    pages.push_back(m.records.size());
    for (const FileRecord& r : m.records) {
      EXPECT_GT(r.seq, last_seq);
      last_seq = r.seq;
      paths.insert(r.path);
    }
    cursor = m.next_cursor;
    if (!m.more) break;
  }
  EXPECT_EQ(pages, (std::vector<size_t>{10, 10, 5}));
  EXPECT_EQ(paths.size(), 25u);
  Manifest end = inv_->ManifestSince(cursor, 10);
  EXPECT_TRUE(end.records.empty());
  EXPECT_FALSE(end.more);
  EXPECT_EQ(end.next_cursor, cursor);

  ScanAt(kQuiet);  // sealing is a change: all 25 come again, after the cursor
  EXPECT_EQ(inv_->ManifestSince(cursor, 100).records.size(), 25u);
}

TEST_F(InventoryTest, PartFilesDotFilesAndSymlinksAreIgnored) {
  Write("selfplay/ok.jsonl", "abc");
  Write("selfplay/incoming.jsonl.part", "ab");
  Write(".hidden", "x");
  Write(".git/config", "x");
  Write("selfplay/.lock", "x");
  Write("selfplay/100%.txt", "x");
  fs::create_symlink("ok.jsonl", root_ + "/selfplay/link.jsonl");
  fs::create_symlink(root_ + "/selfplay", root_ + "/linked-dir");
  ScanStats s = ScanAt(0);
  EXPECT_EQ(s.files, 1u);
  Manifest m = inv_->ManifestSince(0);
  ASSERT_EQ(m.records.size(), 1u);
  EXPECT_EQ(m.records[0].path, "selfplay/ok.jsonl");
  EXPECT_FALSE(inv_->SealNow("selfplay/incoming.jsonl.part", 1).ok());
}

TEST_F(InventoryTest, ReopenKeepsStateAndSeqKeepsGrowing) {
  Write("models/m.pt", "abc");
  ScanAt(0);
  ScanAt(kQuiet);
  ASSERT_TRUE(inv_->AddHolder("models/m.pt", {"n1", kShaAbc, 5}).ok());
  const uint64_t seq = MustGet("models/m.pt").seq;
  Reopen();
  FileRecord f = MustGet("models/m.pt");
  EXPECT_TRUE(f.sealed);
  EXPECT_EQ(f.sha256, kShaAbc);
  EXPECT_EQ(inv_->Holders("models/m.pt").size(), 1u);
  EXPECT_EQ(ScanAt(2 * kQuiet).hashed, 0u);
  Write("models/n.pt", "x");
  ScanAt(3 * kQuiet);
  EXPECT_GT(MustGet("models/n.pt").seq, seq);
}

TEST_F(InventoryTest, RecordReceivedSealsWithoutRehashing) {
  Write("selfplay/r.jsonl", "abc");
  struct stat st {};
  ASSERT_EQ(::stat((root_ + "/selfplay/r.jsonl").c_str(), &st), 0);
  const int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  ASSERT_TRUE(inv_->RecordReceived("selfplay/r.jsonl", 3, mtime, kShaAbc, 10).ok());
  FileRecord f = MustGet("selfplay/r.jsonl");
  EXPECT_TRUE(f.sealed);
  EXPECT_EQ(f.version, 1u);
  EXPECT_EQ(f.sha256, kShaAbc);
  ScanStats s = ScanAt(20);
  EXPECT_EQ(s.hashed, 0u);
  EXPECT_EQ(s.changed, 0u);
  EXPECT_TRUE(MustGet("selfplay/r.jsonl").sealed);

  EXPECT_EQ(inv_->RecordReceived("../x", 3, mtime, kShaAbc, 10).code(), Code::kInvalidArgument);
  EXPECT_EQ(inv_->RecordReceived("selfplay/r.jsonl", 3, mtime, "abc", 10).code(),
            Code::kInvalidArgument);
  EXPECT_EQ(inv_->AddHolder("selfplay/r.jsonl", {"", kShaAbc, 1}).code(),
            Code::kInvalidArgument);
}

TEST_F(InventoryTest, RecordReceivedBatchSealsEveryValidFileAndRefusesTheRest) {
  std::vector<Inventory::Received> files;
  for (int i = 0; i < 3; ++i) {
    std::string rel = "selfplay/b" + std::to_string(i) + ".jsonl";
    Write(rel, "abc");
    struct stat st {};
    ASSERT_EQ(::stat((root_ + "/" + rel).c_str(), &st), 0);
    files.push_back({rel, 3, static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
                                 st.st_mtim.tv_nsec,
                     kShaAbc});
  }
  files.push_back({"../escape", 3, 0, kShaAbc});
  files.push_back({"selfplay/bad-sha.jsonl", 3, 0, "abc"});
  std::vector<Status> st = inv_->RecordReceivedBatch(files, 10);
  ASSERT_EQ(st.size(), 5u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(st[i].ok()) << st[i].ToString();
    FileRecord f = MustGet(files[i].path);
    EXPECT_TRUE(f.sealed);
    EXPECT_EQ(f.sha256, kShaAbc);
  }
  EXPECT_EQ(st[3].code(), Code::kInvalidArgument);
  EXPECT_EQ(st[4].code(), Code::kInvalidArgument);
  EXPECT_EQ(ScanAt(20).hashed, 0u);  // recorded files are not rehashed
}

TEST_F(InventoryTest, SealNowSealsAtOnce) {
  Write("selfplay/s.jsonl", "abc");
  ASSERT_TRUE(inv_->SealNow("selfplay/s.jsonl", 5).ok());
  FileRecord f = MustGet("selfplay/s.jsonl");
  EXPECT_TRUE(f.sealed);
  EXPECT_EQ(f.sha256, kShaAbc);
  EXPECT_EQ(f.version, 1u);
  ScanStats s = ScanAt(6);
  EXPECT_EQ(s.hashed, 0u);
  EXPECT_EQ(s.changed, 0u);
  ASSERT_TRUE(inv_->SealNow("selfplay/s.jsonl", 7).ok());  // idempotent
  EXPECT_EQ(MustGet("selfplay/s.jsonl").seq, f.seq);

  EXPECT_EQ(inv_->SealNow("selfplay/missing", 5).code(), Code::kNotFound);
  EXPECT_EQ(inv_->SealNow("../s.jsonl", 5).code(), Code::kInvalidArgument);
  fs::create_symlink("s.jsonl", root_ + "/selfplay/l.jsonl");
  EXPECT_EQ(inv_->SealNow("selfplay/l.jsonl", 5).code(), Code::kPermissionDenied);
}

TEST_F(InventoryTest, RecordDeletedTombstonesAtOnce) {
  Write("logs/a.log", "abc");
  ASSERT_TRUE(inv_->SealNow("logs/a.log", 1).ok());
  fs::remove(root_ + "/logs/a.log");
  ASSERT_TRUE(inv_->RecordDeleted("logs/a.log", 2).ok());
  EXPECT_TRUE(MustGet("logs/a.log").deleted);
  EXPECT_TRUE(inv_->RecordDeleted("logs/a.log", 3).ok());  // idempotent
  EXPECT_EQ(inv_->RecordDeleted("logs/none.log", 3).code(), Code::kNotFound);
  EXPECT_EQ(ScanAt(4).removed, 0u);
}

TEST_F(InventoryTest, MissingDataRootFailsTheScanWithoutTombstoning) {
  Write("games/g", "abc");
  ScanAt(0);
  fs::rename(root_, tmp_ + "/unmounted");
  auto r = inv_->Scan(kQuiet);
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(MustGet("games/g").deleted);
}

// Smoke test for the locking (meaningful under ASan/TSan): scans race recorders and readers.
TEST_F(InventoryTest, ScansRaceRecordersAndReadersSafely) {
  for (int i = 0; i < 200; ++i) Write("games/g" + std::to_string(i), "abc");
  std::thread scanner([&] {
    for (int round = 0; round < 5; ++round) ScanAt(round * kQuiet);
  });
  for (int i = 0; i < 200; ++i) {
    const std::string p = "games/g" + std::to_string(i);
    EXPECT_TRUE(inv_->AddHolder(p, {"n1", kShaAbc, i}).ok());
    (void)inv_->Get(p);
    (void)inv_->ManifestSince(0, 50);
    if (i % 10 == 0) {
      EXPECT_TRUE(inv_->SealNow(p, i).ok());
    }
  }
  scanner.join();
  ScanAt(10 * kQuiet);
  EXPECT_EQ(inv_->Sealed("selfplay").size(), 200u);
  for (const FileRecord& f : inv_->Sealed()) EXPECT_EQ(f.sha256, kShaAbc) << f.path;
  // Seqs are unique and the manifest holds exactly one record per path.
  std::set<uint64_t> seqs;
  Manifest m = inv_->ManifestSince(0, 1000);
  for (const FileRecord& f : m.records) seqs.insert(f.seq);
  EXPECT_EQ(seqs.size(), 200u);
  EXPECT_EQ(m.records.size(), 200u);
}

}  // namespace
}  // namespace rift::inventory
