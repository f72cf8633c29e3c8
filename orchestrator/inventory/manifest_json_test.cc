#include "orchestrator/inventory/manifest_json.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>

namespace rift::inventory {
namespace {

using nlohmann::json;

json Dom(const FileRecord& r) {
  return {{"path", r.path},     {"size", r.size},       {"mtime_ns", r.mtime_ns},
          {"sha256", r.sha256}, {"class", r.klass},     {"version", r.version},
          {"sealed", r.sealed}, {"deleted", r.deleted}, {"seq", r.seq}};
}

TEST(ManifestJson, ReadsBackAsTheSameRecordsAsTheDomEncoding) {
  std::vector<FileRecord> recs;
  FileRecord a;
  a.path = "selfplay/run 1/g\"ames\\0.jsonl";
  a.size = std::numeric_limits<uint64_t>::max();
  a.mtime_ns = std::numeric_limits<int64_t>::min();
  a.sha256 = std::string(64, 'a');
  a.klass = "selfplay";
  a.version = 3;
  a.sealed = true;
  a.seq = 12345678901234ULL;
  recs.push_back(a);
  FileRecord b;
  b.path = std::string("logs/ctl\x01\x1f\b\f\n\r\t/\xc3\xa9t\xc3\xa9/\xf0\x9f\x8e\xb2.log");
  b.mtime_ns = -1;
  b.deleted = true;
  recs.push_back(b);
  FileRecord c;  // invalid UTF-8: a lone continuation byte, a truncated sequence, an overlong
  c.path = std::string("tmp/\x80x\xe2\x82/\xc0\xaf/\xed\xa0\x80");
  recs.push_back(c);
  recs.push_back(FileRecord{});

  std::string text = RecordsJson(recs);
  json got = json::parse(text);  // throws (fails the test) on anything malformed
  ASSERT_EQ(got.size(), recs.size());
  for (size_t i = 0; i < recs.size(); ++i) {
    // The DOM of the same record, through the replacement handler as api::Json sends it.
    json want = json::parse(Dom(recs[i]).dump(-1, ' ', false, json::error_handler_t::replace));
    EXPECT_EQ(got[i], want) << i << ": " << got[i].dump();
  }
  EXPECT_EQ(RecordsJson({}), "[]");
}

TEST(ManifestJson, APageParsesBackIntoTheRecordsAndFields) {
  std::vector<FileRecord> recs(3);
  recs[0].path = "selfplay/a\"b.jsonl";
  recs[0].size = 4096;
  recs[0].mtime_ns = -5;
  recs[0].sha256 = std::string(64, 'f');
  recs[0].klass = "selfplay";
  recs[0].version = 2;
  recs[0].sealed = true;
  recs[0].seq = 7;
  recs[1].path = "models/\xc3\xa9.bin";
  recs[1].deleted = true;
  recs[1].seq = 8;
  recs[2].path = "tmp/x";
  recs[2].mtime_ns = std::numeric_limits<int64_t>::max();
  std::string body = "{\"records\":" + RecordsJson(recs) +
                     R"(,"next_cursor":8,"more":true,"disk":{"total":100,"free":40},)"
                     R"("watermarks":{"high":0.85,"low":0.7},"node_id":"n1","training":["n2"],)"
                     R"("outbound_only":false})";
  auto page = ParseManifestPage(body);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->records.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const FileRecord& g = page->records[i];
    EXPECT_EQ(g.path, recs[i].path);
    EXPECT_EQ(g.size, recs[i].size);
    EXPECT_EQ(g.mtime_ns, recs[i].mtime_ns);
    EXPECT_EQ(g.sha256, recs[i].sha256);
    EXPECT_EQ(g.klass, recs[i].klass);
    EXPECT_EQ(g.version, recs[i].version);
    EXPECT_EQ(g.sealed, recs[i].sealed);
    EXPECT_EQ(g.deleted, recs[i].deleted);
    EXPECT_EQ(g.seq, recs[i].seq);
  }
  EXPECT_TRUE(page->has_records);
  EXPECT_EQ(page->Unsigned("next_cursor", 0), 8u);
  EXPECT_TRUE(page->Bool("more", false));
  EXPECT_EQ(page->Unsigned("disk.free", 0), 40u);
  EXPECT_EQ(page->Unsigned("disk.total", 0), 100u);
  EXPECT_DOUBLE_EQ(page->Number("watermarks.high", 0), 0.85);
  EXPECT_DOUBLE_EQ(page->Number("disk.total", 0), 100.0);
  EXPECT_EQ(page->String("node_id", ""), "n1");
  EXPECT_FALSE(page->Bool("outbound_only", true));
  EXPECT_EQ(page->Unsigned("missing", 9), 9u);
  EXPECT_EQ(page->Unsigned("node_id", 9), 9u);    // another type: the default
  EXPECT_EQ(page->fields.count("training"), 0u);  // arrays other than records are skipped
}

TEST(ManifestJson, MalformedPagesAreRefusedSayingWhere) {
  struct Case {
    std::string body, want;
  } cases[] = {
      {"", "invalid JSON at byte"},
      {"{\"records\":[{\"path\":\"a\"}", "invalid JSON at byte"},
      {"[]", "expected a JSON object"},
      {"7", "expected a JSON object"},
      {R"({"records":[{"path":"a","size":-1}]})", "records[0].size: expected an unsigned integer"},
      {R"({"records":[{"path":"a"},{"path":5}]})", "records[1].path: expected a string"},
      {R"({"records":[{"sealed":"yes"}]})", "records[0].sealed: expected true or false"},
      {R"({"records":[{"mtime_ns":1.5}]})", "records[0].mtime_ns: expected an integer"},
      {R"({"records":[{"size":[1]}]})", "records[0].size: unexpected array"},
      {R"({"records":[{"sha256":{"x":1}}]})", "records[0].sha256: unexpected object"},
      {R"({"records":[3]})", "records[0]: expected an object"},
      {R"({"records":[[1]]})", "records[0]: expected an object"},
  };
  for (const Case& c : cases) {
    auto page = ParseManifestPage(c.body);
    ASSERT_FALSE(page.ok()) << c.body;
    EXPECT_EQ(page.status().code(), Code::kInvalidArgument);
    EXPECT_NE(page.status().message().find(c.want), std::string::npos)
        << c.body << " -> " << page.status().message();
  }
  // Unknown fields, also nested ones, are ignored.
  auto page = ParseManifestPage(
      R"({"records":[{"path":"a","extra":{"b":[1,{"c":2}]},"more":[3]}],"x":{"y":[{"z":1}]}})");
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->records.size(), 1u);
  EXPECT_EQ(page->records[0].path, "a");
  EXPECT_FALSE(page->Bool("more", false));
}

}  // namespace
}  // namespace rift::inventory
