#include "orchestrator/base/status.h"

#include <gtest/gtest.h>

namespace rift {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgument("odd: " + std::to_string(x));
  return x / 2;
}

Result<int> Quarter(int x) {
  RIFT_ASSIGN_OR_RETURN(int h, Half(x));
  RIFT_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(StatusTest, OkIsDefault) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, ErrorCarriesCodeNameAndMessage) {
  Status s = NotLeader("ask n2");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(CodeName(s.code()), "NOT_LEADER");
  EXPECT_EQ(s.ToString(), "NOT_LEADER: ask n2");
}

TEST(ResultTest, AssignOrReturnPropagatesTheFirstError) {
  EXPECT_EQ(*Quarter(8), 2);
  Result<int> r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "odd: 3");
}

}  // namespace
}  // namespace rift
