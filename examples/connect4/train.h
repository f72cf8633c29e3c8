#pragma once
// Fitting the value model.
//   SGD: logistic regression on every position of the games (label: 1 if the side to move went
//   on to win, 0 if it lost, 1/2 for a draw), AdaGrad steps; each epoch shuffles the games and
//   the positions within windows of 16384.
//   ES: an antithetic evolution strategy on the weights whose fitness is the win rate of the
//   greedy player against an opponent (the --init model, or the random player); a generation's
//   step is kept only if it does not lose to the current weights on fresh games.
#include <cstdint>
#include <vector>

#include "examples/connect4/model.h"
#include "examples/connect4/play.h"

namespace rift::c4 {

struct SgdOptions {
  int epochs = 4;
  uint64_t seed = 1;
  double learning_rate = 0.05;
  double l2 = 1e-6;
};

struct TrainStats {
  int64_t games = 0;
  int64_t positions = 0;
  double loss = 0;  // mean log loss over the positions after training
};

// Trains `model` in place (starting from its weights) on `games` of its board size.
TrainStats TrainSgd(Model& model, const GameSet& games, const SgdOptions& options);

// Mean log loss of `model` on the positions of `games`.
double MeanLoss(const Model& model, const GameSet& games);

struct EsOptions {
  int generations = 6;
  int pairs = 6;            // perturbation pairs per generation (population = 2 * pairs)
  int games_per_eval = 60;  // games per fitness evaluation
  double sigma = 0.1;       // perturbation scale, relative to the weights' RMS (at least 0.5)
  double step = 1.0;        // step, in units of sigma, along the estimated gradient
  uint64_t seed = 1;
};

struct EsStats {
  int generations = 0;
  int accepted = 0;
  int64_t games_played = 0;
  double win_rate = 0;  // of the final weights against the opponent on fresh games
};

// Tunes `model` in place against `opponent` (a greedy model player or the random player).
EsStats TrainEs(Model& model, const Player& opponent, const EsOptions& options);

}  // namespace rift::c4
