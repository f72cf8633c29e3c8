#pragma once
// Players and games. The random player picks a uniformly random legal column. A model player
// takes an immediate win when it has one; otherwise it scores every legal move by a one-ply
// lookahead (the model's value of the position after the move, from the opponent's side,
// negated) and plays the best (ties broken at random), or, for selfplay, samples with a
// softmax temperature and an epsilon of uniformly random moves so games differ.
#include <cstdint>
#include <span>
#include <vector>

#include "examples/connect4/board.h"
#include "examples/connect4/model.h"
#include "examples/connect4/rng.h"

namespace rift::c4 {

// Selfplay's exploration defaults (the logit scale; tuned so a selfplay -> train iteration
// gains the most against the model that played).
inline constexpr double kSelfplayTemperature = 0.2;
inline constexpr double kSelfplayEpsilon = 0.05;

struct Player {
  const Model* model = nullptr;  // nullptr: uniform random player
  double temperature = 0;        // 0: greedy
  double epsilon = 0;            // chance of a uniformly random move

  static Player Random() { return {}; }
  static Player Greedy(const Model* m) { return {m, 0, 0}; }
};

// The column `player` plays in `board` (not finished, not full).
int ChooseMove(const Board& board, const Player& player, Rng& rng);

struct Game {
  std::vector<int> moves;
  int winner = 0;  // 1, 2, or 0 for a draw
};

// Finished games packed one byte per move (what training holds in memory: about 30 bytes a
// game on 6x7, so millions of games fit).
class GameSet {
 public:
  GameSet() = default;
  explicit GameSet(const std::vector<Game>& games) {
    for (const Game& g : games) Add(g.moves, g.winner);
  }
  void Add(const std::vector<int>& moves, int winner) {
    for (int m : moves) moves_.push_back(static_cast<uint8_t>(m));
    end_.push_back(moves_.size());
    winner_.push_back(static_cast<int8_t>(winner));
  }
  size_t size() const { return winner_.size(); }
  bool empty() const { return winner_.empty(); }
  int64_t positions() const { return static_cast<int64_t>(moves_.size()); }
  std::span<const uint8_t> moves(size_t i) const {
    const size_t begin = i == 0 ? 0 : end_[i - 1];
    return {moves_.data() + begin, end_[i] - begin};
  }
  int winner(size_t i) const { return winner_[i]; }

 private:
  std::vector<uint8_t> moves_;
  std::vector<size_t> end_;
  std::vector<int8_t> winner_;
};

// Plays one game from the empty board (after `opening`, which must not end the game) between
// `first` (player 1) and `second` (player 2).
Game PlayGame(BoardSize size, const Player& first, const Player& second, Rng& rng,
              const std::vector<int>& opening = {});

struct MatchResult {
  int games = 0;
  int wins = 0;  // of the candidate
  int losses = 0;
  int draws = 0;
  double WinRate() const { return games == 0 ? 0.0 : (wins + 0.5 * draws) / games; }
};

// `candidate` against `opponent` over `games` games, alternating colours (the candidate moves
// first in even-numbered games). Each pair of games shares a random opening of `opening_plies`
// moves, so deterministic players still meet varied positions and neither colour is favoured.
// Deterministic for a given seed.
MatchResult PlayMatch(BoardSize size, const Player& candidate, const Player& opponent, int games,
                      uint64_t seed, int opening_plies);

}  // namespace rift::c4
