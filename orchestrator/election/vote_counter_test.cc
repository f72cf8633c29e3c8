#include "orchestrator/election/vote_counter.h"

#include <gtest/gtest.h>

namespace rift::election {
namespace {

TEST(VoteCounterTest, TwoGrantsOfThreeDecide) {
  VoteCounter c(3);
  EXPECT_TRUE(c.Register("n1", true));
  EXPECT_EQ(c.decision(), VoteDecision::kUndecided);
  EXPECT_TRUE(c.Register("n2", true));
  EXPECT_EQ(c.decision(), VoteDecision::kGranted);
}

TEST(VoteCounterTest, TwoDenialsOfThreeLose) {
  VoteCounter c(3);
  c.Register("n1", true);
  c.Register("n2", false);
  EXPECT_EQ(c.decision(), VoteDecision::kUndecided);
  c.Register("n3", false);
  EXPECT_EQ(c.decision(), VoteDecision::kDenied);
}

TEST(VoteCounterTest, ADuplicateAnswerIsNotCountedTwice) {
  VoteCounter c(5);
  EXPECT_TRUE(c.Register("n1", true));
  EXPECT_TRUE(c.Register("n2", true));
  EXPECT_FALSE(c.Register("n2", true));
  EXPECT_FALSE(c.Register("n2", false));
  EXPECT_EQ(c.granted(), 2u);
  EXPECT_EQ(c.denied(), 0u);
  EXPECT_EQ(c.decision(), VoteDecision::kUndecided);
}

TEST(VoteCounterTest, MajoritiesForOneThreeFourAndFiveVoters) {
  struct Case {
    size_t voters, majority;
  };
  for (Case c : {Case{1, 1}, Case{3, 2}, Case{4, 3}, Case{5, 3}}) {
    EXPECT_EQ(VoteCounter(c.voters).majority(), c.majority) << c.voters;
  }
  VoteCounter solo(1);
  solo.Register("n1", true);
  EXPECT_EQ(solo.decision(), VoteDecision::kGranted);
}

TEST(VoteCounterTest, AnEvenSplitOfFourIsDeniedOnlyWhenAMajorityIsOutOfReach) {
  VoteCounter c(4);
  c.Register("n1", true);
  c.Register("n2", false);
  EXPECT_EQ(c.decision(), VoteDecision::kUndecided);
  c.Register("n3", false);
  EXPECT_EQ(c.decision(), VoteDecision::kDenied);
}

}  // namespace
}  // namespace rift::election
