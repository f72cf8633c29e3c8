#include "examples/connect4/play.h"

#include <cmath>

namespace rift::c4 {

int ChooseMove(const Board& board, const Player& player, Rng& rng) {
  int legal[16];
  const int n = board.LegalMoves(legal);
  if (player.model == nullptr) return legal[rng.Below(n)];

  int wins[16];
  int n_wins = 0;
  for (int i = 0; i < n; ++i) {
    if (board.IsWinningMove(legal[i])) wins[n_wins++] = legal[i];
  }
  if (n_wins > 0) return wins[rng.Below(n_wins)];
  if (player.epsilon > 0 && rng.Uniform() < player.epsilon) return legal[rng.Below(n)];

  double score[16];
  double best = -1e300;
  for (int i = 0; i < n; ++i) {
    Board next = board;
    next.Play(legal[i]);
    score[i] = -player.model->Logit(next);
    if (score[i] > best) best = score[i];
  }
  if (player.temperature > 0) {
    double weight[16];
    double total = 0;
    for (int i = 0; i < n; ++i) {
      weight[i] = std::exp((score[i] - best) / player.temperature);
      total += weight[i];
    }
    double pick = rng.Uniform() * total;
    for (int i = 0; i < n; ++i) {
      pick -= weight[i];
      if (pick < 0) return legal[i];
    }
    return legal[n - 1];
  }
  int ties[16];
  int n_ties = 0;
  for (int i = 0; i < n; ++i) {
    if (score[i] >= best - 1e-12) ties[n_ties++] = legal[i];
  }
  return ties[rng.Below(n_ties)];
}

Game PlayGame(BoardSize size, const Player& first, const Player& second, Rng& rng,
              const std::vector<int>& opening) {
  Board board(size);
  Game game;
  for (int col : opening) {
    game.moves.push_back(col);
    board.Play(col);
  }
  while (!board.Full()) {
    const Player& p = board.ToMove() == 1 ? first : second;
    const int col = ChooseMove(board, p, rng);
    const int mover = board.ToMove();
    game.moves.push_back(col);
    if (board.Play(col)) {
      game.winner = mover;
      break;
    }
  }
  return game;
}

namespace {

// Random moves that neither win nor fill the board.
std::vector<int> RandomOpening(BoardSize size, int plies, Rng& rng) {
  Board board(size);
  std::vector<int> moves;
  int legal[16];
  for (int i = 0; i < plies && board.ply() + 1 < size.rows * size.cols; ++i) {
    const int n = board.LegalMoves(legal);
    int safe[16];
    int n_safe = 0;
    for (int k = 0; k < n; ++k) {
      if (!board.IsWinningMove(legal[k])) safe[n_safe++] = legal[k];
    }
    if (n_safe == 0) break;
    const int col = safe[rng.Below(n_safe)];
    board.Play(col);
    moves.push_back(col);
  }
  return moves;
}

}  // namespace

MatchResult PlayMatch(BoardSize size, const Player& candidate, const Player& opponent, int games,
                      uint64_t seed, int opening_plies) {
  MatchResult r;
  std::vector<int> opening;
  for (int i = 0; i < games; ++i) {
    if (i % 2 == 0) {
      Rng opening_rng(MixSeed(seed, 2 * static_cast<uint64_t>(i)));
      opening = RandomOpening(size, opening_plies, opening_rng);
    }
    Rng rng(MixSeed(seed, 2 * static_cast<uint64_t>(i) + 1));
    const bool cand_first = i % 2 == 0;
    const Game g = cand_first ? PlayGame(size, candidate, opponent, rng, opening)
                              : PlayGame(size, opponent, candidate, rng, opening);
    ++r.games;
    const int cand = cand_first ? 1 : 2;
    if (g.winner == 0) {
      ++r.draws;
    } else if (g.winner == cand) {
      ++r.wins;
    } else {
      ++r.losses;
    }
  }
  return r;
}

}  // namespace rift::c4
