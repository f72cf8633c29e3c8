#include "orchestrator/sync/transfer_range.h"

#include <gtest/gtest.h>

namespace rift::sync {
namespace {

struct Case {
  const char* header;
  uint64_t size;
  RangeKind kind;
  uint64_t offset, length;
};

TEST(TransferRangeTest, ParsesSingleRangesAndRejectsTheRest) {
  const Case cases[] = {
      {"", 100, RangeKind::kNone, 0, 0},
      {"bytes=0-9", 100, RangeKind::kSingle, 0, 10},
      {"bytes=90-", 100, RangeKind::kSingle, 90, 10},
      {"bytes=-10", 100, RangeKind::kSingle, 90, 10},
      {"bytes=-1000", 100, RangeKind::kSingle, 0, 100},
      {"bytes=50-1000", 100, RangeKind::kSingle, 50, 50},
      {"BYTES=1-1", 100, RangeKind::kSingle, 1, 1},
      {"bytes=100-", 100, RangeKind::kUnsatisfiable, 0, 0},
      {"bytes=100-200", 100, RangeKind::kUnsatisfiable, 0, 0},
      {"bytes=-0", 100, RangeKind::kUnsatisfiable, 0, 0},
      {"bytes=0-", 0, RangeKind::kUnsatisfiable, 0, 0},
      {"bytes=-5", 0, RangeKind::kUnsatisfiable, 0, 0},
      {"bytes=0-1,5-6", 100, RangeKind::kNone, 0, 0},
      {"bytes=9-2", 100, RangeKind::kNone, 0, 0},
      {"bytes=a-b", 100, RangeKind::kNone, 0, 0},
      {"items=0-1", 100, RangeKind::kNone, 0, 0},
      {"bytes=+1-2", 100, RangeKind::kNone, 0, 0},
      {"bytes=99999999999999999999-", 100, RangeKind::kNone, 0, 0},
  };
  for (const Case& c : cases) {
    RangeSpec r = ParseRange(c.header, c.size);
    EXPECT_EQ(r.kind, c.kind) << c.header;
    if (c.kind == RangeKind::kSingle) {
      EXPECT_EQ(r.offset, c.offset) << c.header;
      EXPECT_EQ(r.length, c.length) << c.header;
    }
  }
  EXPECT_EQ(ContentRange({RangeKind::kSingle, 90, 10}, 100), "bytes 90-99/100");
}

TEST(TransferRangeTest, IfMatchComparesTheQuotedSha) {
  EXPECT_TRUE(IfMatchAccepts("", "abc"));
  EXPECT_TRUE(IfMatchAccepts("*", "abc"));
  EXPECT_TRUE(IfMatchAccepts("\"abc\"", "abc"));
  EXPECT_TRUE(IfMatchAccepts("\"x\", W/\"abc\"", "abc"));
  EXPECT_FALSE(IfMatchAccepts("\"abd\"", "abc"));
}

}  // namespace
}  // namespace rift::sync
