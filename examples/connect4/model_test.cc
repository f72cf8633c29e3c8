#include "examples/connect4/model.h"

#include <gtest/gtest.h>

#include <cmath>

#include "examples/connect4/codec.h"
#include "examples/connect4/play.h"
#include "examples/connect4/rng.h"
#include "examples/connect4/train.h"

namespace rift::c4 {
namespace {

std::vector<Game> RandomGames(BoardSize size, int n, uint64_t seed) {
  std::vector<Game> games;
  for (int i = 0; i < n; ++i) {
    Rng rng(MixSeed(seed, static_cast<uint64_t>(i)));
    games.push_back(PlayGame(size, Player::Random(), Player::Random(), rng));
  }
  return games;
}

Board Play(BoardSize size, const std::vector<int>& moves) {
  Board b(size);
  for (int c : moves) b.Play(c);
  return b;
}

TEST(FeatureSpaceTest, SixBySevenHasSixtyNineWindows) {
  FeatureSpace fs({6, 7});
  EXPECT_EQ(fs.window_count(), 69);
  // bias + first-mover + 2 * 6 rows * 4 mirrored columns + 6 * 36 window classes + 11 threats
  EXPECT_EQ(fs.size(), 2 + 48 + 216 + 11);
  EXPECT_EQ(FeatureSpace({5, 6}).window_count(), 5 * 3 + 2 * 6 + 2 * 2 * 3);
}

TEST(FeatureSpaceTest, MirroredPositionsHaveTheSameValue) {
  Model m = Model::Zero({6, 7});
  Rng rng(5);
  for (double& w : m.weights) w = rng.Normal();
  for (const Game& g : RandomGames({6, 7}, 50, 9)) {
    Board b({6, 7}), mirror({6, 7});
    for (size_t i = 0; i + 1 < g.moves.size(); ++i) {
      b.Play(g.moves[i]);
      mirror.Play(6 - g.moves[i]);
      ASSERT_NEAR(m.Logit(b), m.Logit(mirror), 1e-9);
    }
  }
}

TEST(FeatureSpaceTest, PlayableThreatsAreSeen) {
  FeatureSpace fs({6, 7});
  Model m = Model::Zero({6, 7});
  const int my_playable_threat = fs.size() - 11;
  m.weights[static_cast<size_t>(my_playable_threat)] = 1.0;
  // Player 1 (to move) has three in row 0 with column 3 open: a playable threat.
  EXPECT_DOUBLE_EQ(m.Logit(Play({6, 7}, {0, 0, 1, 1, 2, 6})), 1.0);
  // The same three, but player 2 to move: not the mover's threat.
  EXPECT_DOUBLE_EQ(m.Logit(Play({6, 7}, {0, 0, 1, 1, 2})), 0.0);
}

TEST(PlayTest, ModelPlayersTakeImmediateWinsRandomOnesNeedNot) {
  Model m = Model::Zero({6, 7});
  const Board b = Play({6, 7}, {0, 0, 1, 1, 2, 2});  // player 1 wins with column 3
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Rng rng(seed);
    EXPECT_EQ(ChooseMove(b, Player::Greedy(&m), rng), 3);
    EXPECT_EQ(ChooseMove(b, Player{&m, 2.0, 0.0}, rng), 3);
  }
  int other = 0;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    Rng rng(seed);
    other += ChooseMove(b, Player::Random(), rng) != 3;
  }
  EXPECT_GT(other, 0);
}

TEST(PlayTest, GamesAreDeterministicForASeed) {
  Model m = Model::Zero({6, 7});
  Rng rng(3);
  for (double& w : m.weights) w = 0.3 * rng.Normal();
  const Player p{&m, 0.5, 0.1};
  for (uint64_t seed : {1u, 2u, 99u}) {
    Rng a(seed), b(seed);
    const Game ga = PlayGame({6, 7}, p, Player::Random(), a);
    const Game gb = PlayGame({6, 7}, p, Player::Random(), b);
    EXPECT_EQ(ga.moves, gb.moves);
    EXPECT_EQ(ga.winner, gb.winner);
  }
  Rng a(1), b(2);
  EXPECT_NE(PlayGame({6, 7}, p, p, a).moves, PlayGame({6, 7}, p, p, b).moves);
  const MatchResult r1 = PlayMatch({6, 7}, Player::Greedy(&m), Player::Random(), 40, 7, 4);
  const MatchResult r2 = PlayMatch({6, 7}, Player::Greedy(&m), Player::Random(), 40, 7, 4);
  EXPECT_EQ(r1.wins, r2.wins);
  EXPECT_EQ(r1.draws, r2.draws);
  EXPECT_EQ(r1.wins + r1.losses + r1.draws, 40);
}

TEST(TrainTest, TrainingOnRandomGamesBeatsTheUntrainedModel) {
  const BoardSize size{6, 7};
  const GameSet games(RandomGames(size, 2000, 2024));
  Model untrained = Model::Zero(size);
  Model trained = Model::Zero(size);
  const TrainStats stats = TrainSgd(trained, games, SgdOptions{});
  EXPECT_EQ(stats.games, 2000);
  EXPECT_GT(stats.positions, 2000 * 7);
  EXPECT_LT(stats.loss, std::log(2.0));  // better than predicting 1/2 everywhere
  EXPECT_NEAR(MeanLoss(untrained, games), std::log(2.0), 1e-9);

  const double before =
      PlayMatch(size, Player::Greedy(&untrained), Player::Random(), 200, 11, 4).WinRate();
  const double after =
      PlayMatch(size, Player::Greedy(&trained), Player::Random(), 200, 11, 4).WinRate();
  std::printf("win rate vs random over 200 games: untrained %.3f, trained %.3f\n", before, after);
  EXPECT_GT(after, 0.9);
  EXPECT_GT(after, before + 0.1);
  const double head_to_head =
      PlayMatch(size, Player::Greedy(&trained), Player::Greedy(&untrained), 200, 12, 4).WinRate();
  EXPECT_GT(head_to_head, 0.75);
}

TEST(TrainTest, TrainingIsDeterministicForASeed) {
  const GameSet games(RandomGames({5, 6}, 200, 1));
  Model a = Model::Zero({5, 6}), b = Model::Zero({5, 6}), c = Model::Zero({5, 6});
  SgdOptions o;
  o.seed = 4;
  TrainSgd(a, games, o);
  TrainSgd(b, games, o);
  o.seed = 5;
  TrainSgd(c, games, o);
  EXPECT_EQ(a.weights, b.weights);
  EXPECT_NE(a.weights, c.weights);
}

TEST(TrainTest, EvolutionStrategyIsDeterministicAndReportsItsWork) {
  Model base = Model::Zero({6, 7});
  TrainSgd(base, GameSet(RandomGames({6, 7}, 300, 8)), SgdOptions{});
  EsOptions o;
  o.generations = 2;
  o.pairs = 2;
  o.games_per_eval = 10;
  Model a = base, b = base;
  const EsStats sa = TrainEs(a, Player::Random(), o);
  const EsStats sb = TrainEs(b, Player::Random(), o);
  EXPECT_EQ(a.weights, b.weights);
  EXPECT_EQ(sa.generations, 2);
  EXPECT_EQ(sa.accepted, sb.accepted);
  // 2 generations x 2 pairs x 2 signs x 10 games, 20 final games, and 2 x 20 check games for
  // each generation whose pairs told the directions apart.
  const int64_t base_games = 2 * 2 * 2 * 10 + 20;
  EXPECT_GE(sa.games_played, base_games);
  EXPECT_LE(sa.games_played, base_games + 2 * 40);
  EXPECT_EQ((sa.games_played - base_games) % 40, 0);
  EXPECT_EQ(a.weights != base.weights, sa.accepted > 0);
  EXPECT_GE(sa.win_rate, 0.0);
  EXPECT_LE(sa.win_rate, 1.0);
}

TEST(CodecTest, ModelRoundTripsExactly) {
  Model m = Model::Zero({5, 6});
  Rng rng(1);
  for (double& w : m.weights) w = rng.Normal() / 3;
  m.games = 12;
  m.positions = 345;
  m.loss = 0.61;
  m.method = "sgd";
  m.parent = "abc";
  auto back = DecodeModel(EncodeModel(m));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->board(), m.board());
  EXPECT_EQ(back->weights, m.weights);
  EXPECT_EQ(back->games, 12);
  EXPECT_EQ(back->positions, 345);
  EXPECT_DOUBLE_EQ(back->loss, 0.61);
  EXPECT_EQ(back->method, "sgd");
  EXPECT_EQ(back->parent, "abc");
}

TEST(CodecTest, CorruptModelsSayWhatIsWrong) {
  const std::string good = EncodeModel(Model::Zero({6, 7}));
  auto expect_error = [](std::string_view text, const std::string& what) {
    auto m = DecodeModel(text);
    ASSERT_FALSE(m.ok()) << text.substr(0, 80);
    EXPECT_NE(m.status().message().find(what), std::string::npos) << m.status().message();
  };
  expect_error(good.substr(0, good.size() / 2), "not valid JSON");
  expect_error("[]", "not a JSON object");
  std::string wrong_format = good;
  wrong_format.replace(wrong_format.find("rift-c4-model"), 13, "something-els");
  expect_error(wrong_format, "format");
  std::string wrong_board = good;
  wrong_board.replace(wrong_board.find("\"6x7\""), 5, "\"5x6\"");
  expect_error(wrong_board, "weights has 277 entries, expected");
  std::string bad_weight = good;
  bad_weight.replace(bad_weight.find("[0.0"), 4, "[\"x\"");
  expect_error(bad_weight, "weights[0] is not a finite number");
  std::string bad_version = good;
  bad_version.replace(bad_version.find("\"version\":1"), 11, "\"version\":9");
  expect_error(bad_version, "version 9 is not supported");
}

TEST(CodecTest, RecordsRoundTrip) {
  GameRecord r;
  r.board = {6, 7};
  r.moves = {0, 0, 1, 1, 2, 2, 3};
  r.winner = 1;
  r.model = "0123456789abcdef";
  r.seed = 18446744073709551615ULL;
  r.game = 41;
  const std::string line = EncodeRecord(r);
  EXPECT_EQ(line,
            "{\"v\":1,\"board\":\"6x7\",\"moves\":[0,0,1,1,2,2,3],\"winner\":1,\"model\":"
            "\"0123456789abcdef\",\"seed\":18446744073709551615,\"game\":41}");
  auto back = DecodeRecord(line);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->moves, r.moves);
  EXPECT_EQ(back->winner, 1);
  EXPECT_EQ(back->model, r.model);
  EXPECT_EQ(back->seed, r.seed);
  EXPECT_EQ(back->game, 41);
}

TEST(CodecTest, InconsistentRecordsAreRejected) {
  const std::string ok =
      "{\"v\":1,\"board\":\"6x7\",\"moves\":[0,0,1,1,2,2,3],\"winner\":1,"
      "\"model\":\"random\",\"seed\":1}";
  ASSERT_TRUE(DecodeRecord(ok).ok());
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"{\"v\":1,\"board\":\"6x7\",\"moves\":[0,0,1,1,2,2,3],\"winner\":2,\"model\":\"r\"}",
       "winner is 2 but the moves give 1"},
      {"{\"v\":1,\"board\":\"6x7\",\"moves\":[0,0,1],\"winner\":0,\"model\":\"r\"}",
       "do not finish"},
      {"{\"v\":1,\"board\":\"6x7\",\"moves\":[0,9],\"winner\":0,\"model\":\"r\"}",
       "column 9 is outside"},
      {"{\"v\":1,\"board\":\"6x7\",\"moves\":[4294967296],\"winner\":0,\"model\":\"r\"}",
       "outside"},
      {"{\"v\":1,\"board\":\"6x7\",\"winner\":0,\"model\":\"r\"}", "moves"},
      {"{\"v\":2,\"board\":\"6x7\",\"moves\":[],\"winner\":0,\"model\":\"r\"}", "version"},
      {"{\"v\":1,\"board\":\"9x9\",\"moves\":[],\"winner\":0,\"model\":\"r\"}", "board"},
      {"{\"v\":1,\"board\":\"6x7\",\"moves\":[0,0,1,1,2,2,3", "not valid JSON"},
      {"", "not valid JSON"},
  };
  for (const auto& [line, what] : bad) {
    auto r = DecodeRecord(line);
    ASSERT_FALSE(r.ok()) << line;
    EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace rift::c4
