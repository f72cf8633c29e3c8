// The example workload's speed and learning curve; prints figures, asserts nothing.
//   c4_bench speed     games/s of random and model-guided selfplay (in memory and through the
//                      rift-c4 command, which writes and fsyncs its file), eval games/s, SGD
//                      positions/s and record parsing/s
//   c4_bench quality   win rate against the random player after training on more games, and
//                      five selfplay -> train -> eval -> promote iterations
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "examples/connect4/cli.h"
#include "examples/connect4/codec.h"
#include "examples/connect4/play.h"
#include "examples/connect4/train.h"

using namespace rift::c4;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::vector<Game> Selfplay(const Player& p, int n, uint64_t seed, size_t* bytes = nullptr) {
  std::vector<Game> games;
  GameRecord rec;
  for (int i = 0; i < n; ++i) {
    Rng rng(MixSeed(seed, static_cast<uint64_t>(i)));
    games.push_back(PlayGame({6, 7}, p, p, rng));
    rec.moves = games.back().moves;
    rec.winner = games.back().winner;
    const std::string line = EncodeRecord(rec);  // the cost of the record, not of the disk
    if (bytes != nullptr) *bytes += line.size() + 1;
  }
  return games;
}

struct TempDir {
  std::string path;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "c4bench.XXXXXX").string();
    path = ::mkdtemp(t.data());
  }
  ~TempDir() { fs::remove_all(path); }
};

double CliGamesPerSecond(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  const auto t = Clock::now();
  if (RunC4(args, out, err) != kExitOk) {
    std::fprintf(stderr, "rift-c4 failed: %s\n", err.str().c_str());
    return 0;
  }
  const int games = std::stoi(args[2]);
  return games / Since(t);
}

void Speed() {
  TempDir dir;
  size_t bytes = 0;
  auto t = Clock::now();
  const std::vector<Game> random_games = Selfplay(Player::Random(), 100000, 1, &bytes);
  double s = Since(t);
  std::printf("random_selfplay_games_s %.0f\n", 100000 / s);
  std::printf("record_bytes_per_game %.1f\n", static_cast<double>(bytes) / 100000);
  std::printf("cli_random_selfplay_games_s %.0f\n",
              CliGamesPerSecond({"selfplay", "--games", "100000", "--out-dir", dir.path + "/random",
                                 "--seed", "1"}));

  Model model = Model::Zero({6, 7});
  const GameSet train_set(std::vector<Game>(random_games.begin(), random_games.begin() + 20000));
  const int64_t positions = train_set.positions();
  SgdOptions sgd;
  t = Clock::now();
  TrainSgd(model, train_set, sgd);
  s = Since(t);
  std::printf("sgd_positions_s %.0f   (%lld positions x %d epochs, %.2f s)\n",
              static_cast<double>(positions) * sgd.epochs / s, static_cast<long long>(positions),
              sgd.epochs, s);
  const std::string model_path = dir.path + "/m.model";
  if (!SaveModel(model, model_path).ok()) return;

  const Player explore{&model, kSelfplayTemperature, kSelfplayEpsilon};
  t = Clock::now();
  Selfplay(explore, 20000, 2);
  std::printf("model_selfplay_games_s %.0f\n", 20000 / Since(t));
  std::printf("cli_model_selfplay_games_s %.0f\n",
              CliGamesPerSecond({"selfplay", "--games", "20000", "--out-dir", dir.path + "/model",
                                 "--model", model_path, "--seed", "2"}));
  t = Clock::now();
  PlayMatch({6, 7}, Player::Greedy(&model), Player::Greedy(&model), 20000, 3, 4);
  std::printf("eval_model_vs_model_games_s %.0f\n", 20000 / Since(t));

  DataStats stats;
  t = Clock::now();
  auto loaded = LoadGames({dir.path + "/random"}, {6, 7}, &stats);
  s = Since(t);
  std::printf("records_parsed_s %.0f   (%lld games, %.2f s)\n",
              static_cast<double>(stats.games) / s, static_cast<long long>(stats.games), s);
}

double VsRandom(const Model& m, uint64_t seed) {
  return PlayMatch(m.board(), Player::Greedy(&m), Player::Random(), 1000, seed, 4).WinRate();
}

void Quality() {
  const std::vector<Game> games = Selfplay(Player::Random(), 20000, 7);
  std::printf("win rate against the random player (1000 games, greedy one-ply player):\n");
  std::printf("  untrained (immediate wins only)  %.3f\n", VsRandom(Model::Zero({6, 7}), 11));
  for (int n : {100, 300, 1000, 3000, 20000}) {
    Model m = Model::Zero({6, 7});
    const TrainStats st =
        TrainSgd(m, GameSet(std::vector<Game>(games.begin(), games.begin() + n)), SgdOptions{});
    std::printf("  trained on %5d random games     %.3f   (loss %.4f)\n", n, VsRandom(m, 11),
                st.loss);
  }

  std::printf(
      "iterations: 2000 selfplay games with the current model -> train --init current "
      "-> eval 1000 games vs current -> promote at >= 0.55:\n");
  Model current = Model::Zero({6, 7});
  TrainSgd(current, GameSet(std::vector<Game>(games.begin(), games.begin() + 2000)), SgdOptions{});
  const Model first = current;
  std::printf("  iteration 0: trained on 2000 random games; vs random %.3f\n",
              VsRandom(current, 11));
  for (int it = 1; it <= 5; ++it) {
    const GameSet fresh(Selfplay(Player{&current, kSelfplayTemperature, kSelfplayEpsilon}, 2000,
                                 100 + static_cast<uint64_t>(it)));
    Model cand = current;
    SgdOptions o;
    o.seed = static_cast<uint64_t>(it);
    const TrainStats st = TrainSgd(cand, fresh, o);
    const double vs_current =
        PlayMatch(cand.board(), Player::Greedy(&cand), Player::Greedy(&current), 1000, 99, 4)
            .WinRate();
    const double vs_first =
        PlayMatch(cand.board(), Player::Greedy(&cand), Player::Greedy(&first), 1000, 98, 4)
            .WinRate();
    const bool promote = vs_current >= 0.55;
    std::printf(
        "  iteration %d: loss %.4f, vs current %.3f, vs iteration 0 %.3f, vs random "
        "%.3f -> %s\n",
        it, st.loss, vs_current, vs_first, VsRandom(cand, 11),
        promote ? "promoted" : "kept current");
    if (promote) current = cand;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string what = argc > 1 ? argv[1] : "speed";
  if (what == "speed") {
    Speed();
  } else if (what == "quality") {
    Quality();
  } else {
    std::fprintf(stderr, "usage: c4_bench [speed|quality]\n");
    return 2;
  }
  return 0;
}
