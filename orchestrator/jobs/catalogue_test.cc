// The catalogue's pure parts: built-ins, merging, template expansion and its errors, result
// parsing, nvidia-smi parsing.
#include <gtest/gtest.h>

#include <algorithm>

#include "orchestrator/jobs/catalogue.h"
#include "orchestrator/jobs/gpu.h"
#include "orchestrator/jobs/manager.h"

namespace rift::jobs {
namespace {

using settings::JobArg;
using settings::JobKind;

CommandContext Ctx() {
  return {"n1", "n1-1-abcd", "/rr", "/rr/data", "/rr/data/models", "/opt/bin", ""};
}

const JobKind& Builtin(const std::vector<JobKind>& c, const std::string& name) {
  for (const auto& k : c) {
    if (k.name == name) return k;
  }
  throw std::runtime_error("no kind " + name);
}

TEST(CatalogueTest, BuiltinsCoverTheContractsKinds) {
  auto c = BuiltinCatalogue();
  for (const char* kind : {"selfplay", "gpu_selfplay", "fallback_selfplay", "training.nnue",
                           "training.cmaes", "eval", "promote"}) {
    EXPECT_NO_THROW(Builtin(c, kind)) << kind;
  }
  EXPECT_EQ(Builtin(c, "gpu_selfplay").gpus, 1);
}

TEST(CatalogueTest, BuiltinSelfplayRunsTheExampleWorkloadIntoItsOutDir) {
  auto cmd = BuildCommand(Builtin(BuiltinCatalogue(), "selfplay"), {{"games", "50"}}, Ctx(), 42);
  ASSERT_TRUE(cmd.ok()) << cmd.status().ToString();
  EXPECT_EQ(cmd->out_dir, "selfplay/n1/n1-1-abcd");
  EXPECT_EQ(cmd->out_dir_abs, "/rr/data/selfplay/n1/n1-1-abcd");
  std::vector<std::string> want = {"/opt/bin/rift-c4", "selfplay", "--games", "50",
                                   "--out-dir", "/rr/data/selfplay/n1/n1-1-abcd",
                                   "--board", "6x7", "--players", "2", "--seed", "42",
                                   "--model", "/rr/data/models/current.model",
                                   "--optional-models"};
  EXPECT_EQ(cmd->argv, want);
  // An empty model drops the optional [--model, {model}] group: the random player.
  auto random = BuildCommand(Builtin(BuiltinCatalogue(), "selfplay"), {{"model", ""}}, Ctx(), 42);
  ASSERT_TRUE(random.ok());
  EXPECT_EQ(std::count(random->argv.begin(), random->argv.end(), "--model"), 0);
  EXPECT_EQ(cmd->cwd, "/rr");
  EXPECT_EQ(cmd->params.at("seed"), "42");

  auto with_model = BuildCommand(Builtin(BuiltinCatalogue(), "selfplay"),
                                 {{"model", "/m/current.model"}, {"seed", "7"}}, Ctx(), 42);
  ASSERT_TRUE(with_model.ok());
  ASSERT_GE(with_model->argv.size(), 3u);
  EXPECT_EQ(with_model->argv[with_model->argv.size() - 3], "--model");
  EXPECT_EQ(with_model->argv[with_model->argv.size() - 2], "/m/current.model");
  EXPECT_EQ(with_model->params.at("seed"), "7");
}

TEST(CatalogueTest, DefaultParamsMayUseBuiltinsButRequestParamsAreLiteral) {
  auto cmd = BuildCommand(Builtin(BuiltinCatalogue(), "training.nnue"), {}, Ctx(), 1);
  ASSERT_TRUE(cmd.ok()) << cmd.status().ToString();
  EXPECT_EQ(cmd->params.at("data"), "/rr/data/selfplay");
  JobKind k;
  k.name = "echo";
  k.argv = {{{"/bin/echo"}, false}, {{"{text}"}, false}};
  cmd = BuildCommand(k, {{"text", "{node}"}}, Ctx(), 1);
  ASSERT_TRUE(cmd.ok()) << cmd.status().ToString();
  EXPECT_EQ(cmd->argv[1], "{node}");
}

TEST(CatalogueTest, BadTemplatesAndParamsAreErrorsNamingTheProblem) {
  JobKind k;
  k.name = "custom";
  k.argv = {{{"/bin/run"}, false}, {{"--x={mystery}"}, false}};
  auto cmd = BuildCommand(k, {}, Ctx(), 1);
  ASSERT_EQ(cmd.status().code(), Code::kInvalidArgument);
  EXPECT_NE(cmd.status().message().find("unknown placeholder {mystery}"), std::string::npos)
      << cmd.status().message();

  k.argv = {{{"/bin/run"}, false}, {{"{model}"}, false}};
  cmd = BuildCommand(k, {}, Ctx(), 1);
  ASSERT_EQ(cmd.status().code(), Code::kInvalidArgument);
  EXPECT_NE(cmd.status().message().find("missing param 'model'"), std::string::npos)
      << cmd.status().message();

  k.argv = {{{"/bin/run"}, false}, {{"{unclosed"}, false}};
  EXPECT_EQ(BuildCommand(k, {}, Ctx(), 1).status().code(), Code::kInvalidArgument);

  k.argv = {{{"/bin/run"}, false}};
  cmd = BuildCommand(k, {{"node", "other"}}, Ctx(), 1);
  ASSERT_EQ(cmd.status().code(), Code::kInvalidArgument);
  EXPECT_NE(cmd.status().message().find("reserved"), std::string::npos);
  EXPECT_EQ(BuildCommand(k, {{"bad name", "x"}}, Ctx(), 1).status().code(),
            Code::kInvalidArgument);

  // A param cannot move the output out of the data root.
  k.out_dir = "selfplay/{board}";
  for (const char* board : {"../../etc", "..", "x/../../../y"}) {
    cmd = BuildCommand(k, {{"board", board}}, Ctx(), 1);
    EXPECT_EQ(cmd.status().code(), Code::kInvalidArgument) << board;
  }
  cmd = BuildCommand(k, {{"board", "a/../b"}}, Ctx(), 1);
  ASSERT_TRUE(cmd.ok());
  EXPECT_EQ(cmd->out_dir, "selfplay/b");
  k.out_dir = "x/{out_dir}";
  EXPECT_EQ(BuildCommand(k, {}, Ctx(), 1).status().code(), Code::kInvalidArgument);
}

TEST(CatalogueTest, OptionalGroupsDropOnMissingOrEmptyValuesAndEnvExpands) {
  JobKind k;
  k.name = "gpu";
  k.argv = {{{"/bin/run"}, false}, {{"--gpu", "{gpu}"}, true}, {{"--n", "{n}"}, true}};
  k.env = {{"WHERE", "{node}:{out_dir}"}};
  k.cwd = "work";
  auto cmd = BuildCommand(k, {{"n", ""}}, Ctx(), 1);
  ASSERT_TRUE(cmd.ok()) << cmd.status().ToString();
  EXPECT_EQ(cmd->argv, std::vector<std::string>{"/bin/run"});
  EXPECT_EQ(cmd->out_dir, "jobs/gpu/n1/n1-1-abcd");  // the default out_dir
  EXPECT_EQ(cmd->env.at("WHERE"), "n1:/rr/data/jobs/gpu/n1/n1-1-abcd");
  EXPECT_EQ(cmd->cwd, "/rr/work");
  CommandContext ctx = Ctx();
  ctx.gpu = "0,1";
  cmd = BuildCommand(k, {{"n", "3"}}, ctx, 1);
  ASSERT_TRUE(cmd.ok());
  EXPECT_EQ(cmd->argv, (std::vector<std::string>{"/bin/run", "--gpu", "0,1", "--n", "3"}));
}

TEST(CatalogueTest, ConfiguredKindsReplaceBuiltinsOfTheSameName) {
  JobKind mine;
  mine.name = "selfplay";
  mine.argv = {{{"/bin/true"}, false}};
  JobKind extra = mine;
  extra.name = "custom";
  auto merged = MergeCatalogue({mine, extra});
  EXPECT_EQ(merged.size(), BuiltinCatalogue().size() + 1);
  EXPECT_EQ(Builtin(merged, "selfplay").argv.size(), 1u);
  EXPECT_EQ(Builtin(merged, "eval").argv.front().words.front(), "{bin_dir}/rift-c4");
}

TEST(ResultTest, TheLastJsonObjectLineIsTheResult) {
  EXPECT_EQ(ParseResult("progress\n{\"games\":3}\n"), "{\"games\":3}");
  EXPECT_EQ(ParseResult("{\"a\":1}\n{\"b\":2}\n  \n"), "{\"b\":2}");
  EXPECT_EQ(ParseResult("{\"a\":1}\nwarning: late stderr\n[job-shim] stop\n"), "{\"a\":1}");
  EXPECT_EQ(ParseResult("no json here\n[1,2]\n"), "");
  EXPECT_EQ(ParseResult("{broken\n"), "");
  EXPECT_EQ(ParseResult(""), "");
}

TEST(GpuTest, NvidiaSmiCsvIsParsed) {
  auto g = ParseNvidiaSmi(
      "0, NVIDIA A100-SXM4-40GB, 40960 MiB\n"
      "1, NVIDIA GeForce RTX 4090, 24564 MiB\n"
      "garbage line\n"
      "No devices were found\n");
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].index, "0");
  EXPECT_EQ(g[0].name, "NVIDIA A100-SXM4-40GB");
  EXPECT_EQ(g[0].memory_mib, 40960u);
  EXPECT_EQ(g[1].index, "1");
  EXPECT_TRUE(ParseNvidiaSmi("").empty());
}

}  // namespace
}  // namespace rift::jobs
