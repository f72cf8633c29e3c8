#pragma once
// Connect Four rules on a bitboard. A board of R rows x C columns keeps one bit per cell in
// column-major order with one empty sentinel bit on top of each column, so (R+1)*C <= 64; the
// sentinel makes the four-in-a-row test a handful of shifts. Players are 1 (moves first) and 2.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "orchestrator/base/status.h"

namespace rift::c4 {

struct BoardSize {
  int rows = 6;
  int cols = 7;
  std::string Name() const;  // "6x7" (rows x columns)
  bool operator==(const BoardSize&) const = default;
};

// Parses "6x7" (rows x columns). Rows and columns are 4..10 with (rows+1)*cols <= 64.
Result<BoardSize> ParseBoardSize(std::string_view text);

class Board {
 public:
  explicit Board(BoardSize size = {});

  BoardSize size() const { return {rows_, cols_}; }
  int rows() const { return rows_; }
  int cols() const { return cols_; }
  int ply() const { return ply_; }
  int ToMove() const { return 1 + (ply_ & 1); }  // 1 or 2
  bool Full() const { return ply_ == rows_ * cols_; }

  bool CanPlay(int col) const { return col >= 0 && col < cols_ && (mask_ & TopBit(col)) == 0; }
  // Would the side to move win by playing `col`? Precondition: CanPlay(col).
  bool IsWinningMove(int col) const;
  // Plays `col` for the side to move; returns true when the move completes four in a row.
  // Precondition: CanPlay(col).
  bool Play(int col);
  // Legal columns, ascending; returns how many were written to `out` (room for cols()).
  int LegalMoves(int* out) const;

  // Stones of the side to move / of the other side / of player 1 or 2.
  uint64_t Mine() const { return stones_[ply_ & 1]; }
  uint64_t Theirs() const { return stones_[(ply_ & 1) ^ 1]; }
  uint64_t Stones(int player) const { return stones_[player - 1]; }
  uint64_t Occupied() const { return mask_; }
  int Cell(int row, int col) const;  // 0 empty, 1 or 2; row 0 is the bottom

  // Bit layout helpers shared with the feature extractor.
  int ColumnStride() const { return rows_ + 1; }
  uint64_t Bit(int row, int col) const { return 1ULL << (col * (rows_ + 1) + row); }
  uint64_t BottomMask() const;
  uint64_t FullMask() const;  // every cell, no sentinels
  // Empty cells a stone can drop into now (one per column that is not full).
  uint64_t Playable() const { return (mask_ + BottomMask()) & FullMask(); }

  // Text picture, top row first, '.' empty, 'X' player 1, 'O' player 2 (for tests and errors).
  std::string ToString() const;

 private:
  uint64_t TopBit(int col) const { return 1ULL << (col * (rows_ + 1) + rows_ - 1); }
  uint64_t MoveBit(int col) const {
    const uint64_t column = ((1ULL << rows_) - 1) << (col * (rows_ + 1));
    return (mask_ + (1ULL << (col * (rows_ + 1)))) & column;
  }
  bool Aligned(uint64_t b) const;

  int rows_;
  int cols_;
  int ply_ = 0;
  uint64_t stones_[2] = {0, 0};
  uint64_t mask_ = 0;
};

// How a move sequence from the empty board ends.
struct GameEnd {
  bool finished = false;  // someone won or the board is full
  int winner = 0;         // 1, 2, or 0 (draw, or not finished)
};

// Replays `moves`; an error names the first illegal move (out of range, full column, or a move
// after the game ended).
Result<GameEnd> ReplayGame(BoardSize size, const std::vector<int>& moves);

}  // namespace rift::c4
