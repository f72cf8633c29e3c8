#include "orchestrator/pipeline/template.h"

#include <gtest/gtest.h>

namespace rift::pipeline {
namespace {

TEST(ShellQuoteTest, SafeWordsStayBareOthersAreSingleQuoted) {
  EXPECT_EQ(ShellQuote("/opt/ringrift/bin"), "/opt/ringrift/bin");
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("x;rm -rf /"), "'x;rm -rf /'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote("$(id)"), "'$(id)'");
}

TEST(ExpandTest, FillsPlaceholdersAndLeavesOtherBracesAlone) {
  Vars v = {{"games", "10"}, {"out_dir", "/d/x y"}};
  auto r = Expand("run --games {games} --out {out_dir} ${HOME} {a,b} {{games}}", v, true);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "run --games 10 --out '/d/x y' ${HOME} {a,b} {games}");
  auto raw = Expand("{out_dir}/sub", v, false);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(*raw, "/d/x y/sub");
}

TEST(ExpandTest, UnknownPlaceholderNamesItAndTheKnownOnes) {
  auto r = Expand("x {gmaes}", {{"games", "1"}}, true);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("{gmaes}"), std::string::npos);
  EXPECT_NE(r.status().message().find("{games}"), std::string::npos);
}

TEST(PlaceholdersTest, ListsEachNameOnceInOrder) {
  EXPECT_EQ(Placeholders("{b} {a} {b} {{c}} {D}"), (std::vector<std::string>{"b", "a"}));
}

TEST(CheckPlaceholdersTest, RefusesPlaceholdersOutsideTheStepsSet) {
  EXPECT_TRUE(CheckPlaceholders("x", "{a} {b}", {"a", "b"}).ok());
  Status st = CheckPlaceholders("pipeline.commands.selfplay", "{a} {candidate}", {"a"});
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find("pipeline.commands.selfplay: unknown placeholder {candidate}"),
            std::string::npos)
      << st.message();
}

}  // namespace
}  // namespace rift::pipeline
