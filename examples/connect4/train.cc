#include "examples/connect4/train.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "examples/connect4/rng.h"

namespace rift::c4 {
namespace {

struct Position {
  Board board;
  float label;  // from the side to move: 1 win, 0 loss, 0.5 draw
};

// Appends the positions of game `i` (each before its move) to `out`.
void AppendPositions(BoardSize size, const GameSet& games, size_t i, std::vector<Position>* out) {
  Board board(size);
  const int winner = games.winner(i);
  for (uint8_t col : games.moves(i)) {
    const float label = winner == 0 ? 0.5f : (winner == board.ToMove() ? 1.0f : 0.0f);
    out->push_back({board, label});
    board.Play(col);
  }
}

double LogLoss(double p, double y) {
  constexpr double kEps = 1e-12;
  return -(y * std::log(p + kEps) + (1 - y) * std::log(1 - p + kEps));
}

// Positions are shuffled within a window of this many (games are shuffled whole), so memory
// stays at the packed games plus one window.
constexpr size_t kShuffleWindow = 16384;

struct Sgd {
  Model& model;
  const SgdOptions& options;
  std::vector<double> sum_sq;
  Feature buf[kMaxActiveFeatures];

  void Step(const Position& p) {
    const int n = model.space->Extract(p.board, buf);
    double z = 0;
    for (int k = 0; k < n; ++k) {
      z += model.weights[static_cast<size_t>(buf[k].index)] * buf[k].value;
    }
    const double err = Sigmoid(z) - p.label;
    for (int k = 0; k < n; ++k) {
      const size_t w = static_cast<size_t>(buf[k].index);
      const double g = err * buf[k].value + options.l2 * model.weights[w];
      sum_sq[w] += g * g;
      model.weights[w] -= options.learning_rate * g / (std::sqrt(sum_sq[w]) + 1e-8);
    }
  }
};

template <typename T>
void Shuffle(std::vector<T>& v, Rng& rng) {
  for (size_t i = v.size(); i > 1; --i) {
    std::swap(v[i - 1], v[static_cast<size_t>(rng.Below(static_cast<int>(i)))]);
  }
}

}  // namespace

double MeanLoss(const Model& model, const GameSet& games) {
  if (games.positions() == 0) return 0;
  std::vector<Position> positions;
  double total = 0;
  for (size_t i = 0; i < games.size(); ++i) {
    positions.clear();
    AppendPositions(model.board(), games, i, &positions);
    for (const Position& p : positions) {
      total += LogLoss(Sigmoid(model.Logit(p.board)), p.label);
    }
  }
  return total / static_cast<double>(games.positions());
}

TrainStats TrainSgd(Model& model, const GameSet& games, const SgdOptions& options) {
  Sgd sgd{model, options, std::vector<double>(model.weights.size(), 0.0), {}};
  std::vector<uint32_t> order(games.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<uint32_t>(i);
  std::vector<Position> window;
  window.reserve(kShuffleWindow + 64);
  Rng rng(options.seed);
  auto flush = [&] {
    Shuffle(window, rng);
    for (const Position& p : window) sgd.Step(p);
    window.clear();
  };
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    Shuffle(order, rng);
    for (uint32_t g : order) {
      AppendPositions(model.board(), games, g, &window);
      if (window.size() >= kShuffleWindow) flush();
    }
    flush();
  }
  TrainStats stats;
  stats.games = static_cast<int64_t>(games.size());
  stats.positions = games.positions();
  stats.loss = MeanLoss(model, games);
  return stats;
}

namespace {

constexpr int kEsOpeningPlies = 4;

double Fitness(const Model& base, const std::vector<double>& w, const Player& opponent, int games,
               uint64_t seed) {
  Model m = base;
  m.weights = w;
  return PlayMatch(m.board(), Player::Greedy(&m), opponent, games, seed, kEsOpeningPlies).WinRate();
}

}  // namespace

EsStats TrainEs(Model& model, const Player& opponent, const EsOptions& options) {
  EsStats stats;
  const size_t d = model.weights.size();
  std::vector<double> w = model.weights;
  Rng rng(options.seed);
  std::vector<std::vector<double>> eps(static_cast<size_t>(options.pairs), std::vector<double>(d));
  std::vector<double> trial(d);
  double rms = 0;
  for (double x : w) rms += x * x;
  rms = d == 0 ? 0 : std::sqrt(rms / static_cast<double>(d));
  const double sigma = options.sigma * std::max(rms, 0.5);
  for (int gen = 0; gen < options.generations; ++gen) {
    const uint64_t gen_seed = MixSeed(options.seed, static_cast<uint64_t>(gen) + 1);
    std::vector<double> grad(d, 0.0);
    for (int k = 0; k < options.pairs; ++k) {
      std::vector<double>& e = eps[static_cast<size_t>(k)];
      for (double& x : e) x = rng.Normal();
      double f[2];
      for (int sign = 0; sign < 2; ++sign) {
        for (size_t i = 0; i < d; ++i) trial[i] = w[i] + (sign == 0 ? 1 : -1) * sigma * e[i];
        f[sign] = Fitness(model, trial, opponent, options.games_per_eval, MixSeed(gen_seed, 0));
      }
      stats.games_played += 2 * options.games_per_eval;
      for (size_t i = 0; i < d; ++i) grad[i] += (f[0] - f[1]) * e[i];
    }
    ++stats.generations;
    double norm = 0;
    for (double g : grad) norm += g * g;
    if (norm == 0) continue;  // no pair told the two directions apart
    const double scale = options.step * sigma * std::sqrt(static_cast<double>(d) / norm);
    for (size_t i = 0; i < d; ++i) trial[i] = w[i] + scale * grad[i];
    const uint64_t check_seed = MixSeed(gen_seed, 1);
    const int check_games = 2 * options.games_per_eval;
    const double f_new = Fitness(model, trial, opponent, check_games, check_seed);
    const double f_old = Fitness(model, w, opponent, check_games, check_seed);
    stats.games_played += 2 * check_games;
    if (f_new >= f_old) {
      w = trial;
      ++stats.accepted;
    }
  }
  model.weights = w;
  const int final_games = 2 * options.games_per_eval;
  stats.win_rate = Fitness(model, w, opponent, final_games, MixSeed(options.seed, 0xfeed));
  stats.games_played += final_games;
  return stats;
}

}  // namespace rift::c4
