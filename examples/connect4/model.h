#pragma once
// The value model: a linear function of board features, squashed by the logistic function into
// the probability that the side to move wins (a draw counts one half). Features are taken from
// the side to move's point of view and are mirror-symmetric (a cell or four-window and its
// left-right mirror share one weight):
//   bias, "side to move moved first",
//   per cell class: a stone of mine / of theirs,
//   per four-window class: k = 1..3 of mine and none of theirs / the same for theirs,
//   threats (a window with three of one side and an empty fourth cell): mine playable now,
//   theirs playable now (>= 1, >= 2), and the other threat cells counted by owner, row parity
//   and who moved first.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "examples/connect4/board.h"

namespace rift::c4 {

struct Feature {
  int index;
  float value;
};

// Room for FeatureSpace::Extract's output on any supported board (the largest needs 176).
inline constexpr int kMaxActiveFeatures = 256;

// The feature layout of one board size. Immutable after construction; thread-safe.
class FeatureSpace {
 public:
  explicit FeatureSpace(BoardSize size);

  BoardSize board() const { return size_; }
  int size() const { return n_features_; }
  int window_count() const { return static_cast<int>(windows_.size()); }  // 69 on 6x7
  // Writes the active features of `board` (side to move's view) to `out`, which has room for
  // kMaxActiveFeatures; returns how many.
  int Extract(const Board& board, Feature* out) const;

 private:
  BoardSize size_;
  std::vector<uint64_t> windows_;
  std::vector<int> window_class_;
  std::vector<int> cell_class_;  // by bit index; -1 for sentinels
  uint64_t parity_mask_[2] = {0, 0};
  int cell_base_ = 2;
  int window_base_ = 0;
  int threat_base_ = 0;
  int n_features_ = 0;
};

// Identifies the feature set in model files; bump when the layout changes.
inline constexpr const char* kFeatureSetName = "c4-linear-v1";

struct Model {
  std::shared_ptr<const FeatureSpace> space;
  std::vector<double> weights;
  // Provenance, kept in the model file.
  int64_t games = 0;      // games trained on, cumulative over --init chains
  int64_t positions = 0;  // positions trained on, cumulative
  double loss = 0;        // log loss of the last training run
  std::string method = "none";
  std::string parent;  // sha256 of the --init model, if any

  // An untrained model: all weights zero.
  static Model Zero(BoardSize size);
  BoardSize board() const { return space->board(); }
  // w . features(board); positive means the side to move is favoured.
  double Logit(const Board& board) const;
};

double Sigmoid(double z);

}  // namespace rift::c4
