#include "examples/connect4/model.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <map>
#include <utility>

namespace rift::c4 {
namespace {

// Threat feature offsets from threat_base_.
constexpr int kMyPlayableThreat = 0;
constexpr int kTheirPlayableThreat = 1;
constexpr int kTheirTwoPlayableThreats = 2;
constexpr int kOtherThreats = 3;  // + who * 4 + parity * 2 + me_first
constexpr int kThreatFeatures = 11;

}  // namespace

FeatureSpace::FeatureSpace(BoardSize size) : size_(size) {
  const Board probe(size);
  const int rows = size.rows;
  const int cols = size.cols;
  const int half = (cols + 1) / 2;
  // Cells: class = row * half + min(col, mirror col).
  cell_class_.assign(64, -1);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      const int bit = std::countr_zero(probe.Bit(r, c));
      cell_class_[bit] = r * half + std::min(c, cols - 1 - c);
      parity_mask_[r & 1] |= probe.Bit(r, c);
    }
  }
  // Windows: every 4-in-a-row segment; a window and its mirror image share a class.
  const int dirs[4][2] = {{0, 1}, {1, 0}, {1, 1}, {1, -1}};  // (drow, dcol)
  std::map<uint64_t, int> class_of;
  auto mirror = [&](uint64_t w) {
    uint64_t m = 0;
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < cols; ++c) {
        if (w & probe.Bit(r, c)) m |= probe.Bit(r, cols - 1 - c);
      }
    }
    return m;
  };
  int n_classes = 0;
  for (const auto& d : dirs) {
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < cols; ++c) {
        const int r3 = r + 3 * d[0];
        const int c3 = c + 3 * d[1];
        if (r3 < 0 || r3 >= rows || c3 < 0 || c3 >= cols) continue;
        uint64_t w = 0;
        for (int k = 0; k < 4; ++k) w |= probe.Bit(r + k * d[0], c + k * d[1]);
        const uint64_t key = std::min(w, mirror(w));
        auto [it, added] = class_of.emplace(key, n_classes);
        if (added) ++n_classes;
        windows_.push_back(w);
        window_class_.push_back(it->second);
      }
    }
  }
  cell_base_ = 2;
  window_base_ = cell_base_ + 2 * rows * half;
  threat_base_ = window_base_ + 6 * n_classes;
  n_features_ = threat_base_ + kThreatFeatures;
  // ParseBoardSize's limits keep this far below the buffer size.
  if (2 + rows * cols + static_cast<int>(windows_.size()) + kThreatFeatures > kMaxActiveFeatures) {
    std::abort();
  }
}

int FeatureSpace::Extract(const Board& board, Feature* out) const {
  int n = 0;
  const uint64_t mine = board.Mine();
  const uint64_t theirs = board.Theirs();
  const int me_first = (board.ply() & 1) == 0 ? 1 : 0;
  out[n++] = {0, 1.0f};
  if (me_first) out[n++] = {1, 1.0f};
  for (int who = 0; who < 2; ++who) {
    for (uint64_t b = who == 0 ? mine : theirs; b != 0; b &= b - 1) {
      out[n++] = {cell_base_ + 2 * cell_class_[std::countr_zero(b)] + who, 1.0f};
    }
  }
  uint64_t threat[2] = {0, 0};
  for (size_t i = 0; i < windows_.size(); ++i) {
    const uint64_t w = windows_[i];
    const int a = std::popcount(mine & w);
    const int b = std::popcount(theirs & w);
    if ((a == 0) == (b == 0)) continue;  // empty, or both sides present: dead window
    const int who = a > 0 ? 0 : 1;
    const int k = std::min(3, a + b);
    out[n++] = {window_base_ + 6 * window_class_[i] + 3 * who + (k - 1), 1.0f};
    if (k == 3) threat[who] |= w & ~(mine | theirs);
  }
  const uint64_t playable = board.Playable();
  if (threat[0] & playable) out[n++] = {threat_base_ + kMyPlayableThreat, 1.0f};
  const int their_playable = std::popcount(threat[1] & playable);
  if (their_playable >= 1) out[n++] = {threat_base_ + kTheirPlayableThreat, 1.0f};
  if (their_playable >= 2) out[n++] = {threat_base_ + kTheirTwoPlayableThreats, 1.0f};
  for (int who = 0; who < 2; ++who) {
    for (int parity = 0; parity < 2; ++parity) {
      const int count = std::popcount(threat[who] & ~playable & parity_mask_[parity]);
      if (count > 0) {
        out[n++] = {threat_base_ + kOtherThreats + who * 4 + parity * 2 + me_first,
                    static_cast<float>(count)};
      }
    }
  }
  return n;
}

Model Model::Zero(BoardSize size) {
  Model m;
  m.space = std::make_shared<const FeatureSpace>(size);
  m.weights.assign(static_cast<size_t>(m.space->size()), 0.0);
  return m;
}

double Model::Logit(const Board& board) const {
  Feature buf[kMaxActiveFeatures];
  const int n = space->Extract(board, buf);
  double z = 0;
  for (int i = 0; i < n; ++i) z += weights[static_cast<size_t>(buf[i].index)] * buf[i].value;
  return z;
}

double Sigmoid(double z) {
  if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

}  // namespace rift::c4
