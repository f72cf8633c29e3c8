#include "examples/connect4/board.h"

#include <charconv>

namespace rift::c4 {
namespace {

bool ParseInt(std::string_view s, int* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::string BoardSize::Name() const { return std::to_string(rows) + "x" + std::to_string(cols); }

Result<BoardSize> ParseBoardSize(std::string_view text) {
  const size_t x = text.find('x');
  BoardSize size;
  if (x == std::string_view::npos || !ParseInt(text.substr(0, x), &size.rows) ||
      !ParseInt(text.substr(x + 1), &size.cols)) {
    return InvalidArgument("board \"" + std::string(text) +
                           "\": expected ROWSxCOLUMNS such as 6x7");
  }
  if (size.rows < 4 || size.rows > 10 || size.cols < 4 || size.cols > 10 ||
      (size.rows + 1) * size.cols > 64) {
    return InvalidArgument("board \"" + std::string(text) +
                           "\": rows and columns must be 4..10 with (rows+1)*columns <= 64");
  }
  return size;
}

Board::Board(BoardSize size) : rows_(size.rows), cols_(size.cols) {}

uint64_t Board::BottomMask() const {
  uint64_t m = 0;
  for (int c = 0; c < cols_; ++c) m |= Bit(0, c);
  return m;
}

uint64_t Board::FullMask() const { return BottomMask() * ((1ULL << rows_) - 1); }

bool Board::Aligned(uint64_t b) const {
  const int h = rows_ + 1;
  for (int shift : {1, h, h - 1, h + 1}) {
    const uint64_t m = b & (b >> shift);
    if (m & (m >> (2 * shift))) return true;
  }
  return false;
}

bool Board::IsWinningMove(int col) const { return Aligned(Mine() | MoveBit(col)); }

bool Board::Play(int col) {
  const uint64_t bit = MoveBit(col);
  uint64_t& mine = stones_[ply_ & 1];
  mine |= bit;
  mask_ |= bit;
  ++ply_;
  return Aligned(mine);
}

int Board::LegalMoves(int* out) const {
  int n = 0;
  for (int c = 0; c < cols_; ++c) {
    if (CanPlay(c)) out[n++] = c;
  }
  return n;
}

int Board::Cell(int row, int col) const {
  const uint64_t bit = Bit(row, col);
  if (stones_[0] & bit) return 1;
  if (stones_[1] & bit) return 2;
  return 0;
}

std::string Board::ToString() const {
  std::string out;
  for (int r = rows_ - 1; r >= 0; --r) {
    for (int c = 0; c < cols_; ++c) out += ".XO"[Cell(r, c)];
    out += '\n';
  }
  return out;
}

Result<GameEnd> ReplayGame(BoardSize size, const std::vector<int>& moves) {
  Board board(size);
  GameEnd end;
  for (size_t i = 0; i < moves.size(); ++i) {
    if (end.finished) {
      return InvalidArgument("move " + std::to_string(i + 1) + " comes after the game ended");
    }
    const int col = moves[i];
    if (col < 0 || col >= size.cols) {
      return InvalidArgument("move " + std::to_string(i + 1) + ": column " + std::to_string(col) +
                             " is outside 0.." + std::to_string(size.cols - 1));
    }
    if (!board.CanPlay(col)) {
      return InvalidArgument("move " + std::to_string(i + 1) + ": column " + std::to_string(col) +
                             " is full");
    }
    const int mover = board.ToMove();
    if (board.Play(col)) {
      end = {true, mover};
    } else if (board.Full()) {
      end = {true, 0};
    }
  }
  return end;
}

}  // namespace rift::c4
