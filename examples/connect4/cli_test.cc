// rift-c4 end to end: in-process through RunC4 with temp dirs, and the real binary for SIGTERM.
#include "examples/connect4/cli.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "examples/connect4/codec.h"
#include "examples/connect4/files.h"

extern char** environ;

namespace rift::c4 {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "c4test.XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return (fs::path(path_) / name).string(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct Outcome {
  int code;
  std::string out;
  std::string err;
  json last;  // the last stdout line, parsed (null if not JSON)
};

Outcome C4(std::vector<std::string> args, const std::atomic<bool>* stop = nullptr) {
  std::ostringstream out, err;
  Outcome r{RunC4(std::move(args), out, err, stop), out.str(), err.str(), nullptr};
  std::string text = r.out;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  const size_t nl = text.rfind('\n');
  r.last = json::parse(nl == std::string::npos ? text : text.substr(nl + 1), nullptr, false);
  return r;
}

std::vector<std::string> Files(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<std::string> Lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

TEST(C4CliTest, SelfplayWritesOneCompleteJsonlFile) {
  TempDir t;
  Outcome r = C4({"selfplay", "--games", "50", "--out-dir", t / "sp", "--seed", "3"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  ASSERT_TRUE(r.last.is_object()) << r.out;
  EXPECT_EQ(r.last["games"], 50);
  EXPECT_EQ(r.last["model"], "random");
  const std::string file = r.last["file"];
  EXPECT_EQ(fs::path(file).parent_path(), fs::path(t / "sp"));
  EXPECT_EQ(fs::path(file).extension(), ".jsonl");
  EXPECT_EQ(fs::path(file).filename().string().rfind("c4-" + std::to_string(::getpid()) + "-", 0),
            0u);
  EXPECT_EQ(Files(t / "sp").size(), 1u);  // no .part left behind
  const auto lines = Lines(file);
  ASSERT_EQ(lines.size(), 50u);
  int64_t positions = 0;
  for (const auto& line : lines) {
    auto rec = DecodeRecord(line);
    ASSERT_TRUE(rec.ok()) << rec.status().ToString();
    EXPECT_EQ(rec->seed, 3u);
    positions += static_cast<int64_t>(rec->moves.size());
  }
  EXPECT_EQ(r.last["positions"], positions);
}

TEST(C4CliTest, SelfplayIsDeterministicForASeedWithAndWithoutAModel) {
  TempDir t;
  ASSERT_EQ(C4({"init", "--out", t / "zero.model"}).code, kExitOk);
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{}, std::vector<std::string>{"--model", t / "zero.model"}}) {
    std::vector<std::string> contents;
    for (const char* dir : {"a", "b"}) {
      std::vector<std::string> args = {"selfplay", "--games", "20", "--out-dir",
                                       t / dir,    "--seed",  "77"};
      args.insert(args.end(), extra.begin(), extra.end());
      Outcome r = C4(args);
      ASSERT_EQ(r.code, kExitOk) << r.err;
      auto text = ReadWholeFile(r.last["file"]);
      ASSERT_TRUE(text.ok());
      contents.push_back(*text);
      fs::remove_all(t / dir);
    }
    EXPECT_EQ(contents[0], contents[1]);
  }
}

TEST(C4CliTest, SelfplayAskedToStopKeepsWhatWasPlayed) {
  TempDir t;
  std::atomic<bool> stop{true};
  Outcome r = C4({"selfplay", "--games", "10", "--out-dir", t / "sp"}, &stop);
  EXPECT_EQ(r.code, kExitOk);
  EXPECT_EQ(r.last["games"], 0);
  EXPECT_EQ(r.last["interrupted"], true);
  EXPECT_TRUE(Files(t / "sp").empty());  // nothing played: no empty file, no .part
}

TEST(C4CliTest, SigtermFinishesTheGameAndRenamesTheFile) {
  TempDir t;
  ASSERT_EQ(C4({"init", "--out", t / "zero.model"}).code, kExitOk);
  const std::string out_dir = t / "sp";
  std::vector<std::string> argv = {RIFT_C4_BINARY, "selfplay", "--games", "100000000",
                                   "--out-dir",    out_dir,    "--model", t / "zero.model"};
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string stdout_path = t / "stdout";
  posix_spawn_file_actions_addopen(&actions, 1, stdout_path.c_str(), O_WRONLY | O_CREAT, 0644);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, cargv[0], &actions, nullptr, cargv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  // Wait (bounded) until the .part file has some games in it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool started = false;
  while (!started && std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(out_dir, ec)) {
      started = started || (e.path().extension() == ".part" && fs::file_size(e.path()) > 4096);
    }
    if (!started) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(started);
  ASSERT_TRUE(WIFEXITED(status)) << "signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  const auto names = Files(out_dir);
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(fs::path(names[0]).extension(), ".jsonl");
  const auto lines = Lines(fs::path(out_dir) / names[0]);
  ASSERT_GT(lines.size(), 0u);
  for (const auto& line : lines) ASSERT_TRUE(DecodeRecord(line).ok()) << line;
  const auto out = Lines(t / "stdout");
  ASSERT_FALSE(out.empty());
  json last = json::parse(out.back());
  EXPECT_EQ(last["interrupted"], true);
  EXPECT_EQ(last["games"], lines.size());
}

TEST(C4CliTest, TrainSkipsCorruptLinesAndReportsThem) {
  TempDir t;
  ASSERT_EQ(C4({"selfplay", "--games", "200", "--out-dir", t / "d/a", "--seed", "1"}).code, 0);
  ASSERT_EQ(C4({"selfplay", "--games", "100", "--out-dir", t / "d/b/c", "--seed", "2"}).code, 0);
  {
    std::ofstream bad(t / "d/b/broken.jsonl");
    bad << "{\"v\":1,\"board\":\"6x7\",\"moves\":[0,0,1\n"
        << "not json at all\n\n"
        << "{\"v\":1,\"board\":\"6x7\",\"moves\":[0,0,1],\"winner\":1,\"model\":\"x\"}\n"
        << "{\"v\":1,\"board\":\"5x6\",\"moves\":[0,0,1,1,2,2,3],\"winner\":1,\"model\":\"x\"}\n";
    std::ofstream part(t / "d/b/ignored.jsonl.part");
    part << "garbage\n";
  }
  Outcome r = C4({"train", "--data", t / "d", "--out", t / "m/cand.model", "--epochs", "2"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.last["games"], 300);
  EXPECT_EQ(r.last["skipped"], 3);
  EXPECT_EQ(r.last["files"], 3);
  EXPECT_EQ(r.last["model"], t / "m/cand.model");
  EXPECT_TRUE(r.last["loss"].is_number());
  EXPECT_GT(r.last["positions"].get<int64_t>(), 300 * 7);
  EXPECT_NE(
      r.err.find("skipped 3 corrupt record line(s); first: " + (t / "d/b/broken.jsonl") + ":1:"),
      std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("skipped 1 record(s) of other board sizes"), std::string::npos);
  auto model = LoadModel(t / "m/cand.model");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ(model->games, 300);
  // Continuing from it accumulates the provenance.
  Outcome again =
      C4({"train", "--data", t / "d/a", "--init", t / "m/cand.model", "--out", t / "m/next.model"});
  ASSERT_EQ(again.code, kExitOk) << again.err;
  EXPECT_EQ(LoadModel(t / "m/next.model")->games, 500);
}

TEST(C4CliTest, TrainWithTheEvolutionStrategy) {
  TempDir t;
  ASSERT_EQ(C4({"selfplay", "--games", "100", "--out-dir", t / "d", "--seed", "1"}).code, 0);
  Outcome r = C4({"train", "--method", "es", "--data", t / "d", "--out", t / "es.model", "--epochs",
                  "1", "--es-pairs", "1", "--es-games", "4"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.last["method"], "es");
  EXPECT_EQ(r.last["opponent"], "random");
  EXPECT_TRUE(r.last["win_rate"].is_number());
  EXPECT_TRUE(LoadModel(t / "es.model").ok());
}

TEST(C4CliTest, OtherBoardSizesWorkEndToEnd) {
  TempDir t;
  ASSERT_EQ(C4({"selfplay", "--games", "100", "--board", "5x6", "--out-dir", t / "d"}).code, 0);
  Outcome wrong = C4({"train", "--data", t / "d", "--out", t / "m.model"});
  EXPECT_EQ(wrong.code, kExitError);
  EXPECT_NE(wrong.err.find("skipped 100 record(s) of other board sizes"), std::string::npos);
  Outcome r = C4({"train", "--data", t / "d", "--out", t / "m.model", "--board", "5x6"});
  ASSERT_EQ(r.code, kExitOk) << r.err;
  EXPECT_EQ(r.last["board"], "5x6");
  Outcome sp = C4({"selfplay", "--games", "10", "--out-dir", t / "e", "--model", t / "m.model"});
  ASSERT_EQ(sp.code, kExitOk) << sp.err;
  EXPECT_EQ(sp.last["board"], "5x6");
  Outcome ev = C4({"eval", "--candidate", t / "m.model", "--games", "10"});
  ASSERT_EQ(ev.code, kExitOk) << ev.err;
  EXPECT_EQ(ev.last["board"], "5x6");
  ASSERT_EQ(C4({"init", "--out", t / "z.model"}).code, kExitOk);
  Outcome mismatch =
      C4({"eval", "--candidate", t / "m.model", "--current", t / "z.model", "--games", "2"});
  EXPECT_EQ(mismatch.code, kExitError);
  EXPECT_NE(mismatch.err.find("5x6"), std::string::npos) << mismatch.err;
}

TEST(C4CliTest, MissingInputsAreErrorsNamingThem) {
  TempDir t;
  Outcome r = C4({"train", "--data", t / "nope", "--out", t / "m.model"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_NE(r.err.find(t / "nope"), std::string::npos) << r.err;
  fs::create_directories(t / "empty");
  r = C4({"train", "--data", t / "empty", "--out", t / "m.model"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_NE(r.err.find("no 6x7 game records"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(t / "m.model"));

  { std::ofstream(t / "corrupt.model") << "{\"format\":\"rift-c4-model\",\"version\":1,\"bo"; }
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"eval", "--candidate", t / "corrupt.model", "--games", "2"},
           {"selfplay", "--games", "1", "--out-dir", t / "sp", "--model", t / "corrupt.model"},
           {"train", "--data", t / "empty", "--out", t / "x", "--init", t / "corrupt.model"},
           {"promote", "--candidate", t / "corrupt.model", "--models-dir", t / "models"}}) {
    r = C4(args);
    EXPECT_EQ(r.code, kExitError) << args[0];
    EXPECT_NE(r.err.find("model file " + (t / "corrupt.model") + ": not valid JSON"),
              std::string::npos)
        << r.err;
  }
  r = C4({"eval", "--candidate", t / "missing.model", "--games", "2"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_NE(r.err.find("model file " + (t / "missing.model")), std::string::npos) << r.err;
}

TEST(C4CliTest, OptionalModelsThatDoNotExistMeanNone) {
  TempDir t;
  const std::string missing = t / "models/current.model";
  Outcome sp = C4({"selfplay", "--games", "20", "--out-dir", t / "d", "--model", missing});
  EXPECT_EQ(sp.code, kExitError);
  sp = C4(
      {"selfplay", "--games", "20", "--out-dir", t / "d", "--model", missing, "--optional-models"});
  ASSERT_EQ(sp.code, kExitOk) << sp.err;
  EXPECT_EQ(sp.last["model"], "random");
  Outcome tr = C4(
      {"train", "--data", t / "d", "--out", t / "c.model", "--init", missing, "--optional-models"});
  ASSERT_EQ(tr.code, kExitOk) << tr.err;
  EXPECT_EQ(LoadModel(t / "c.model")->parent, "");
  Outcome ev = C4({"eval", "--candidate", t / "c.model", "--current", missing, "--games", "4",
                   "--optional-models"});
  ASSERT_EQ(ev.code, kExitOk) << ev.err;
  EXPECT_EQ(ev.last["opponent"], "random");
  // An existing but corrupt model is still an error.
  { std::ofstream(t / "bad.model") << "nonsense"; }
  ev = C4({"eval", "--candidate", t / "c.model", "--current", t / "bad.model", "--games", "4",
           "--optional-models"});
  EXPECT_EQ(ev.code, kExitError);
  // --candidate is never optional.
  ev = C4({"eval", "--candidate", missing, "--games", "4", "--optional-models"});
  EXPECT_EQ(ev.code, kExitError);
}

TEST(C4CliTest, BadFlagsAreUsageErrors) {
  TempDir t;
  ASSERT_EQ(C4({"init", "--out", t / "m.model"}).code, kExitOk);
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"dance"},
      {"selfplay", "--out-dir", t / "sp"},
      {"selfplay", "--games", "-1", "--out-dir", t / "sp"},
      {"selfplay", "--games", "1", "--out-dir", t / "sp", "--players", "3"},
      {"selfplay", "--games", "1", "--out-dir", t / "sp", "--board", "3x3"},
      {"selfplay", "--games", "1", "--out-dir", t / "sp", "--model", t / "m.model", "--board",
       "5x6"},
      {"selfplay", "--games", "1", "--out-dir", t / "sp", "--bogus"},
      {"train", "--data", t / "sp"},
      {"train", "--data", t / "sp", "--out", t / "x", "--method", "magic"},
      {"eval", "--candidate", t / "m.model", "--games", "0"},
      {"eval", "--candidate", t / "m.model", "--games", "4", "--baseline", "perfect"},
      {"eval", "--candidate", t / "m.model", "--games", "4", "--baseline", "random", "--current",
       t / "m.model"},
      {"promote", "--candidate", t / "m.model"},
  };
  for (const auto& args : bad) {
    Outcome r = C4(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(r.code, kExitUsage) << joined << "\n" << r.err;
    EXPECT_FALSE(r.err.empty()) << joined;
  }
  EXPECT_FALSE(fs::exists(t / "sp"));
}

TEST(C4CliTest, EvalPrintsTheContractLine) {
  TempDir t;
  ASSERT_EQ(C4({"selfplay", "--games", "300", "--out-dir", t / "d", "--seed", "5"}).code, 0);
  ASSERT_EQ(C4({"train", "--data", t / "d", "--out", t / "cand.model"}).code, 0);
  ASSERT_EQ(C4({"init", "--out", t / "zero.model"}).code, 0);
  const std::string zero_sha = Sha256Hex(*ReadWholeFile(t / "zero.model"));
  const std::string cand_sha = Sha256Hex(*ReadWholeFile(t / "cand.model"));
  for (const auto& opponent : std::vector<std::vector<std::string>>{
           {}, {"--baseline", "random"}, {"--current", t / "zero.model"}}) {
    std::vector<std::string> args = {
        "eval", "--candidate", t / "cand.model", "--games", "31", "--seed", "9"};
    args.insert(args.end(), opponent.begin(), opponent.end());
    Outcome r = C4(args);
    ASSERT_EQ(r.code, kExitOk) << r.err;
    const json& j = r.last;
    ASSERT_TRUE(j.is_object()) << r.out;
    EXPECT_EQ(j["games"], 31);
    const int w = j["wins"], l = j["losses"], d = j["draws"];
    EXPECT_EQ(w + l + d, 31);
    EXPECT_DOUBLE_EQ(j["win_rate"].get<double>(), (w + d / 2.0) / 31);
    const bool vs_current = !opponent.empty() && opponent[0] == "--current";
    EXPECT_EQ(j["opponent"], vs_current ? zero_sha.substr(0, 16) : std::string("random"));
    EXPECT_EQ(j["candidate"], cand_sha.substr(0, 16));
    EXPECT_EQ(C4(args).out, r.out);  // deterministic for a seed
  }
}

TEST(C4CliTest, PromoteInstallsAtomicallyAndKeepsHistory) {
  TempDir t;
  ASSERT_EQ(C4({"init", "--out", t / "a.model"}).code, 0);
  ASSERT_EQ(C4({"selfplay", "--games", "50", "--out-dir", t / "d", "--seed", "5"}).code, 0);
  ASSERT_EQ(C4({"train", "--data", t / "d", "--out", t / "b.model"}).code, 0);
  const std::string models = t / "models";

  Outcome first = C4({"promote", "--candidate", t / "a.model", "--models-dir", models});
  ASSERT_EQ(first.code, kExitOk) << first.err;
  const std::string sha_a = Sha256Hex(*ReadWholeFile(t / "a.model"));
  EXPECT_EQ(first.last["sha256"], sha_a);
  EXPECT_TRUE(first.last["previous"].is_null());
  EXPECT_EQ(first.last["promoted"], models + "/current.model");
  EXPECT_EQ(*ReadWholeFile(models + "/current.model"), *ReadWholeFile(t / "a.model"));

  Outcome second = C4({"promote", "--candidate", t / "b.model", "--models-dir", models});
  ASSERT_EQ(second.code, kExitOk) << second.err;
  const std::string sha_b = Sha256Hex(*ReadWholeFile(t / "b.model"));
  EXPECT_EQ(second.last["previous"], sha_a);
  EXPECT_EQ(second.last["history"], models + "/history/" + sha_b + ".model");
  EXPECT_EQ(*ReadWholeFile(models + "/current.model"), *ReadWholeFile(t / "b.model"));
  EXPECT_EQ(Files(models), (std::vector<std::string>{"current.model", "history"}));
  std::vector<std::string> history = {sha_a + ".model", sha_b + ".model"};
  std::sort(history.begin(), history.end());
  EXPECT_EQ(Files(models + "/history"), history);

  // A corrupt candidate changes nothing.
  { std::ofstream(t / "bad.model") << "{\"format\":\"rift-c4-model\"}"; }
  Outcome bad = C4({"promote", "--candidate", t / "bad.model", "--models-dir", models});
  EXPECT_EQ(bad.code, kExitError);
  EXPECT_NE(bad.err.find("nothing promoted"), std::string::npos) << bad.err;
  EXPECT_EQ(*ReadWholeFile(models + "/current.model"), *ReadWholeFile(t / "b.model"));
  EXPECT_EQ(Files(models), (std::vector<std::string>{"current.model", "history"}));
  EXPECT_EQ(Files(models + "/history").size(), 2u);
}

}  // namespace
}  // namespace rift::c4
