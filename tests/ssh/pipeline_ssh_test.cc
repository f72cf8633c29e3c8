// `riftctl pipeline` and `riftctl ssh` against real sshd servers on 127.0.0.1: every "host" is
// an sshd with its own host key and its own ringrift_path. Commands are riftctl as a library
// (in-process) or as a process when the test kills it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "cli/riftctl.h"
#include "orchestrator/pipeline/hashing.h"
#include "orchestrator/pipeline/state.h"
#include "tests/harness/cluster.h"
#include "tests/ssh/sshd.h"

namespace rift::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Test workload in sh. Selfplay waits for {ringrift_path}/gate when it exists as a directory
// flag "hold" (bounded), then writes {games} records via a .part file.
constexpr char kSelfplay[] = R"(echo x >> {ringrift_path}/launches
      n=0; while [ -f {ringrift_path}/hold ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done
      mkdir -p {out_dir} && i=0
      while [ $i -lt {games} ]; do i=$((i+1)); echo "{\"seed\":{seed},\"i\":$i}"; done > {out_dir}/g.jsonl.part
      mv {out_dir}/g.jsonl.part {out_dir}/g-{seed}.jsonl)";
constexpr char kTrain[] = R"(echo x >> {ringrift_path}/trains
      n=0; while [ -f {ringrift_path}/hold-train ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done
      mkdir -p $(dirname {candidate})
      find {data_dir} -name '*.jsonl' -exec cat {{}} + | wc -l | tr -d ' ' > {candidate}
      echo '{"records":'$(cat {candidate})'}')";
constexpr char kPromote[] =
    R"(mkdir -p {models_dir} && cp {candidate} {models_dir}/cur.tmp && mv {models_dir}/cur.tmp {models_dir}/current.model)";

std::string CurrentUser() {
  const passwd* pw = getpwuid(getuid());
  return pw != nullptr ? pw->pw_name : "root";
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

int Lines(const std::string& path) {
  std::ifstream in(path);
  int n = 0;
  for (std::string l; std::getline(in, l);) ++n;
  return n;
}

std::string Indent(const std::string& text) {
  std::string out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out += "      " + l + "\n";
  return out;
}

struct Host {
  std::string id;
  std::string path;  // ringrift_path
  std::unique_ptr<SshdHost> sshd;
};

class PipelineSshTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = SshdUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << why;
    tmp_ = std::make_unique<TempDir>("rift-ssh");
    root_ = tmp_->path();
    fs::create_directories(root_ + "/client");
    ASSERT_TRUE(MakeKey(root_ + "/client/id_ed25519"));
    for (const std::string id : {"h1", "h2"}) {
      Host h;
      h.id = id;
      h.path = root_ + "/" + id + "/ringrift";
      fs::create_directories(h.path);
      fs::create_directories(root_ + "/" + id + "/sshd");
      h.sshd =
          std::make_unique<SshdHost>(root_ + "/" + id + "/sshd", root_ + "/client/id_ed25519.pub");
      std::string error;
      ASSERT_TRUE(h.sshd->Start(&error)) << error;
      hosts_.push_back(std::move(h));
    }
    fs::create_directories(root_ + "/coord");
    known_hosts_ = root_ + "/known_hosts";
    state_ = root_ + "/coord/state/pipeline.json";
  }

  void TearDown() override {
    // Release anything still held so no detached test process outlives the test for long.
    for (auto& h : hosts_) {
      std::error_code ec;
      fs::remove(h.path + "/hold", ec);
      fs::remove(h.path + "/hold-train", ec);
    }
  }

  // distributed_hosts.yaml with both hosts; `pipeline_extra` is appended to `pipeline:`.
  std::string WriteYaml(const std::string& pipeline_extra, bool sh_commands = true) {
    std::ostringstream y;
    y << "hosts:\n";
    for (const auto& h : hosts_) {
      y << "  " << h.id << ":\n"
        << "    ssh_host: 127.0.0.1\n"
        << "    ssh_port: " << h.sshd->port() << "\n"
        << "    ssh_user: " << CurrentUser() << "\n"
        << "    ssh_key: " << root_ << "/client/id_ed25519\n"
        << "    ringrift_path: " << h.path << "\n"
        << "    role: " << (h.id == training_host_ ? "selfplay,nn_training" : "selfplay") << "\n"
        << "    status: ready\n";
    }
    y << "pipeline:\n"
      << "  games: " << games_ << "\n"
      << "  known_hosts: " << known_hosts_ << "\n"
      << "  state_file: " << state_ << "\n"
      << "  poll_interval_ms: 100\n"
      << "  retry_backoff_ms: 50\n"
      << "  retries: 1\n"
      << "  connect_timeout_s: 5\n"
      << "  local_bin_dir: " << root_ << "/nobin\n";
    if (training_host_.empty()) y << "  training_host: local\n";
    if (sh_commands) {
      y << "  commands:\n"
        << "    selfplay: |-\n"
        << Indent(kSelfplay) << "    train: |-\n"
        << Indent(kTrain) << "    eval: echo '{\"win_rate\":0.9}'\n"
        << "    eval_baseline: echo '{\"win_rate\":0.8}'\n"
        << "    promote: " << kPromote << "\n";
    }
    y << pipeline_extra;
    const std::string path = root_ + "/hosts.yaml";
    std::ofstream(path) << y.str();
    return path;
  }

  int Riftctl(std::vector<std::string> args, std::string* out = nullptr,
              std::string* err = nullptr) {
    std::ostringstream o, e;
    cli::Environment env = {{"HOME", root_ + "/home"}, {"RINGRIFT_DIR", root_ + "/coord"}};
    int code = cli::RunRiftctl(std::move(args), o, e, env);
    if (out) *out = o.str();
    if (err) *err = e.str();
    last_output_ = o.str() + e.str();
    return code;
  }

  // riftctl as a child process (so a test can kill -9 it); output in <root>/riftctl-N.log.
  pid_t SpawnRiftctl(const std::vector<std::string>& args) {
    const std::string log = root_ + "/riftctl-" + std::to_string(++spawned_) + ".log";
    pid_t pid = fork();
    if (pid == 0) {
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<std::string> argv = {RIFT_RIFTCTL_PATH};
      argv.insert(argv.end(), args.begin(), args.end());
      std::vector<char*> cargv;
      for (auto& a : argv) cargv.push_back(a.data());
      cargv.push_back(nullptr);
      setenv("RINGRIFT_DIR", (root_ + "/coord").c_str(), 1);
      execv(cargv[0], cargv.data());
      _exit(127);
    }
    return pid;
  }

  void KillAndReap(pid_t pid) {
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
  }

  std::optional<pipeline::RunState> State() const {
    auto s = pipeline::LoadState(state_);
    if (!s.ok() || !s->has_value()) return std::nullopt;
    return **s;
  }
  bool PhaseIs(const std::string& phase, const std::string& status) const {
    auto s = State();
    if (!s) return false;
    const auto* p = s->FindPhase(phase);
    return p != nullptr && p->status == status;
  }

  // Records in the coordinator's content-addressed store, and its files (each checked to be
  // named by its content).
  std::pair<int64_t, int> StoreRecords() const {
    int64_t records = 0;
    int files = 0;
    const std::string store = root_ + "/coord/pipeline/pulled";
    std::error_code ec;
    for (fs::recursive_directory_iterator it(store, ec), end; !ec && it != end; it.increment(ec)) {
      if (!it->is_regular_file()) continue;
      auto h = pipeline::HashFile(it->path().string());
      EXPECT_TRUE(h.ok());
      EXPECT_EQ(h->sha256 + ".jsonl", it->path().filename().string());
      records += static_cast<int64_t>(h->lines);
      ++files;
    }
    return {records, files};
  }

  // SHA-256 of every finished selfplay file on the hosts.
  std::set<std::string> HostDataShas() const {
    std::set<std::string> shas;
    for (const auto& h : hosts_) {
      std::error_code ec;
      for (fs::recursive_directory_iterator it(h.path + "/data/selfplay", ec), end;
           !ec && it != end; it.increment(ec)) {
        if (it->path().extension() != ".jsonl") continue;
        shas.insert(pipeline::HashFile(it->path().string())->sha256);
      }
    }
    return shas;
  }
  std::set<std::string> StoreShas() const {
    std::set<std::string> shas;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(root_ + "/coord/pipeline/pulled", ec), end;
         !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file()) shas.insert(it->path().stem().string());
    }
    return shas;
  }

  void ExpectNoTemporaries() const {
    for (const auto& e : fs::recursive_directory_iterator(root_)) {
      const std::string name = e.path().filename().string();
      EXPECT_EQ(name.find(".part"), std::string::npos) << e.path();
    }
  }

  void TrustAll(const std::string& yaml) {
    for (const auto& h : hosts_) {
      ASSERT_EQ(Riftctl({"ssh", "trust", h.id, "--hosts", yaml}), 0) << last_output_;
    }
  }

  std::unique_ptr<TempDir> tmp_;
  std::string root_, known_hosts_, state_, last_output_;
  std::vector<Host> hosts_;
  std::string training_host_;  // "" = train on the coordinator
  int games_ = 5;
  int spawned_ = 0;
};

TEST_F(PipelineSshTest, UnknownHostKeysAreRefusedUntilTrusted) {
  const std::string yaml = WriteYaml("");
  std::string out, err;
  EXPECT_EQ(Riftctl({"pipeline", "run", "--hosts", yaml}, &out, &err), 1) << out << err;
  const std::string fp1 = Fingerprint(hosts_[0].sshd->host_key_pub());
  ASSERT_FALSE(fp1.empty());
  EXPECT_NE(err.find("host key of h1"), std::string::npos) << err;
  EXPECT_NE(err.find(fp1), std::string::npos) << err;
  EXPECT_NE(err.find("riftctl ssh trust h1"), std::string::npos) << err;
  // Nothing ran on either host and nothing was written to known_hosts.
  EXPECT_FALSE(fs::exists(hosts_[0].path + "/launches"));
  EXPECT_FALSE(fs::exists(hosts_[1].path + "/launches"));
  EXPECT_FALSE(fs::exists(known_hosts_) && !Read(known_hosts_).empty());

  // A fingerprint checked out of band that does not match: nothing recorded.
  EXPECT_EQ(
      Riftctl({"ssh", "trust", "h1", "--hosts", yaml, "--fingerprint", "SHA256:nope"}, &out, &err),
      1);
  EXPECT_NE(err.find("not the expected SHA256:nope"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(known_hosts_) && !Read(known_hosts_).empty());

  EXPECT_EQ(Riftctl({"ssh", "trust", "h1", "--hosts", yaml, "--fingerprint", fp1}, &out, &err), 0)
      << err;
  EXPECT_NE(out.find("trusted h1"), std::string::npos) << out;
  EXPECT_NE(out.find(fp1), std::string::npos) << out;
  EXPECT_EQ(Riftctl({"ssh", "trust", "h2", "--hosts", yaml, "-o", "json"}, &out, &err), 0) << err;
  json j = json::parse(out);
  EXPECT_EQ(j["fingerprint"], Fingerprint(hosts_[1].sshd->host_key_pub()));
  EXPECT_TRUE(j["recorded"].get<bool>());
  EXPECT_EQ(Riftctl({"ssh", "trust", "h2", "--hosts", yaml}, &out, &err), 0) << err;
  EXPECT_NE(out.find("already trusted"), std::string::npos) << out;
  EXPECT_EQ(Lines(known_hosts_), 2);

  EXPECT_EQ(Riftctl({"ssh", "check", "--hosts", yaml}, &out, &err), 0) << out << err;
  EXPECT_NE(out.find("known"), std::string::npos) << out;
  // The run that was refused continues now.
  EXPECT_EQ(Riftctl({"pipeline", "run", "--hosts", yaml, "--resume"}, &out, &err), 0) << out << err;
  EXPECT_EQ(StoreRecords(), std::make_pair(int64_t{10}, 2));
}

TEST_F(PipelineSshTest, AChangedHostKeyIsRefusedEverywhere) {
  const std::string yaml = WriteYaml("");
  TrustAll(yaml);
  const std::string before = Read(known_hosts_);
  hosts_[0].sshd->Stop();
  ASSERT_TRUE(hosts_[0].sshd->NewHostKey());
  std::string error;
  ASSERT_TRUE(hosts_[0].sshd->Start(&error)) << error;
  const std::string fp = Fingerprint(hosts_[0].sshd->host_key_pub());

  std::string out, err;
  EXPECT_EQ(Riftctl({"ssh", "check", "h1", "--hosts", yaml}, &out, &err), 1) << out << err;
  EXPECT_NE(out.find("changed"), std::string::npos) << out;
  EXPECT_EQ(Riftctl({"pipeline", "run", "--hosts", yaml}, &out, &err), 1) << out << err;
  EXPECT_NE(err.find("host key of h1"), std::string::npos) << err;
  EXPECT_NE(err.find("CHANGED"), std::string::npos) << err;
  EXPECT_NE(err.find(fp), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(hosts_[0].path + "/launches"));
  // `ssh trust` does not paper over it either.
  EXPECT_EQ(Riftctl({"ssh", "trust", "h1", "--hosts", yaml}, &out, &err), 1) << out << err;
  EXPECT_NE(err.find("CHANGED"), std::string::npos) << err;
  EXPECT_EQ(Read(known_hosts_), before);
}

TEST_F(PipelineSshTest, AFullIterationOverTwoHostsWithTheExampleWorkload) {
#ifndef RIFT_C4_PATH
  GTEST_SKIP() << "rift-c4 is not built in this tree";
#else
  // Each host finds the workload under {ringrift_path}/bin; h1 trains (remote training, so the
  // data is staged there and the model fetched back before the push).
  for (const auto& h : hosts_) {
    fs::create_directories(h.path + "/bin");
    fs::create_symlink(RIFT_C4_PATH, h.path + "/bin/rift-c4");
  }
  training_host_ = "h1";
  games_ = 20;
  const std::string yaml = WriteYaml("  eval_games: 10\n  promote_threshold: 0.0\n", false);
  TrustAll(yaml);
  std::string out, err;
  ASSERT_EQ(Riftctl({"pipeline", "run", "--hosts", yaml, "-o", "json"}, &out, &err), 0)
      << out << err;
  json j = json::parse(out);
  EXPECT_TRUE(j["ok"].get<bool>());
  EXPECT_TRUE(j["completed"].get<bool>());
  EXPECT_EQ(j["pulled_records"], 40);
  EXPECT_EQ(j["pulled_files"], 2);
  EXPECT_EQ(j["training_host"], "h1");
  EXPECT_EQ(j["eval_mode"], "baseline");
  EXPECT_TRUE(j["promoted"].get<bool>());
  for (const auto& phase : pipeline::PhaseNames()) {
    EXPECT_EQ(j["phases"][phase]["status"], "done") << phase;
  }
  // Every finished game file on the hosts is in the store once, byte for byte.
  EXPECT_EQ(StoreRecords(), std::make_pair(int64_t{40}, 2));
  EXPECT_EQ(StoreShas(), HostDataShas());
  // The promoted model is current on both hosts and is the one training produced.
  const std::string model = j["model_sha"];
  for (const auto& h : hosts_) {
    auto sha = pipeline::HashFile(h.path + "/data/models/current.model");
    ASSERT_TRUE(sha.ok()) << h.id;
    EXPECT_EQ(sha->sha256, model) << h.id;
  }
  ExpectNoTemporaries();

  // A second iteration plays with the promoted model, evaluates against it, and pulls only
  // its own new games.
  ASSERT_EQ(Riftctl({"pipeline", "run", "--hosts", yaml, "-o", "json"}, &out, &err), 0)
      << out << err;
  j = json::parse(out);
  EXPECT_EQ(j["eval_mode"], "current");
  EXPECT_EQ(StoreRecords(), std::make_pair(int64_t{80}, 4));
  EXPECT_EQ(StoreShas(), HostDataShas());
#endif
}

TEST_F(PipelineSshTest, AKilledRunResumesWithoutRepeatingPhasesOrDuplicatingData) {
  training_host_ = "h2";  // remote training, killed while it runs
  const std::string yaml = WriteYaml("");
  TrustAll(yaml);
  for (const auto& h : hosts_) std::ofstream(h.path + "/hold") << "";
  std::ofstream(hosts_[1].path + "/hold-train") << "";

  // 1. Killed while waiting for games: selfplay keeps running on the hosts.
  pid_t pid = SpawnRiftctl({"pipeline", "run", "--hosts", yaml});
  ASSERT_TRUE(WaitFor([&] { return PhaseIs("wait", "running"); }, std::chrono::seconds(60)))
      << Read(root_ + "/riftctl-1.log");
  KillAndReap(pid);
  EXPECT_TRUE(PhaseIs("selfplay", "done"));

  std::string out, err;
  EXPECT_EQ(Riftctl({"pipeline", "run", "--hosts", yaml}, &out, &err), 1);
  EXPECT_NE(err.find("unfinished"), std::string::npos) << err;

  // 2. Resumed, then killed again while training runs on h2.
  for (const auto& h : hosts_) fs::remove(h.path + "/hold");
  pid = SpawnRiftctl({"pipeline", "run", "--hosts", yaml, "--resume"});
  ASSERT_TRUE(
      WaitFor([&] { return PhaseIs("train", "running") && fs::exists(hosts_[1].path + "/trains"); },
              std::chrono::seconds(60)))
      << Read(root_ + "/riftctl-2.log");
  KillAndReap(pid);

  // 3. Resumed to the end: it re-attaches to the same training.
  fs::remove(hosts_[1].path + "/hold-train");
  ASSERT_EQ(Riftctl({"pipeline", "run", "--hosts", yaml, "--resume", "-o", "json"}, &out, &err), 0)
      << out << err;
  json j = json::parse(out);
  EXPECT_EQ(j["skipped"], json({"selfplay", "wait", "pull"}));
  EXPECT_EQ(j["ran"], json({"train", "eval", "promote", "push"}));
  EXPECT_EQ(j["phases"]["train"]["attempt"], 1);
  EXPECT_EQ(Lines(hosts_[0].path + "/launches"), 1);
  EXPECT_EQ(Lines(hosts_[1].path + "/launches"), 1);
  EXPECT_EQ(Lines(hosts_[1].path + "/trains"), 1);
  EXPECT_EQ(StoreRecords(), std::make_pair(int64_t{10}, 2));
  EXPECT_EQ(Read(hosts_[0].path + "/data/models/current.model"), "10\n");
  EXPECT_EQ(Read(hosts_[1].path + "/data/models/current.model"), "10\n");

  // Pulling again adds nothing.
  ASSERT_EQ(Riftctl({"pipeline", "run", "--hosts", yaml, "--phase", "pull"}, &out, &err), 0)
      << out << err;
  EXPECT_EQ(StoreRecords(), std::make_pair(int64_t{10}, 2));
  ExpectNoTemporaries();

  // The state as the operator sees it.
  ASSERT_EQ(Riftctl({"pipeline", "status", "--hosts", yaml}, &out, &err), 0) << err;
  EXPECT_NE(out.find("(completed)"), std::string::npos) << out;
  EXPECT_NE(out.find("10 records in 2 files"), std::string::npos) << out;
  EXPECT_NE(out.find("0 new files"), std::string::npos) << out;
}

TEST_F(PipelineSshTest, AnUnreachableHostIsRetriedReportedAndCaughtUpOnResume) {
  const std::string yaml = WriteYaml("");
  TrustAll(yaml);
  hosts_[1].sshd->Stop();
  std::string out, err;
  EXPECT_EQ(Riftctl({"ssh", "check", "h2", "--hosts", yaml}, &out, &err), 3) << out << err;

  // h1 alone plays; the push to h2 fails after its retries (exit 3: unreachable).
  EXPECT_EQ(Riftctl({"pipeline", "run", "--hosts", yaml}, &out, &err), 3) << out << err;
  EXPECT_NE(out.find("retry 1/1"), std::string::npos) << out;
  EXPECT_NE(err.find("h2"), std::string::npos) << err;
  auto s = State();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->NextPhase(), "push");
  EXPECT_NE(s->phases.at("selfplay").detail.find("unreachable: h2"), std::string::npos);
  EXPECT_EQ(StoreRecords(), std::make_pair(int64_t{5}, 1));

  std::string error;
  ASSERT_TRUE(hosts_[1].sshd->Start(&error)) << error;
  EXPECT_EQ(Riftctl({"pipeline", "run", "--hosts", yaml, "--resume"}, &out, &err), 0) << out << err;
  EXPECT_EQ(Read(hosts_[1].path + "/data/models/current.model"), "5\n");
  EXPECT_FALSE(fs::exists(hosts_[1].path + "/launches"));
}

}  // namespace
}  // namespace rift::testing
