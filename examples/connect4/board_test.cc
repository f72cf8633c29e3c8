#include "examples/connect4/board.h"

#include <gtest/gtest.h>

#include "examples/connect4/rng.h"

namespace rift::c4 {
namespace {

// Plays `moves`; returns the winner (0 if none) and checks that only the last move won.
int Winner(BoardSize size, const std::vector<int>& moves) {
  Board b(size);
  for (size_t i = 0; i < moves.size(); ++i) {
    EXPECT_TRUE(b.CanPlay(moves[i])) << "move " << i;
    const int mover = b.ToMove();
    const bool last = i + 1 == moves.size();
    EXPECT_EQ(b.IsWinningMove(moves[i]), b.IsWinningMove(moves[i]));  // pure
    const bool predicted = b.IsWinningMove(moves[i]);
    const bool won = b.Play(moves[i]);
    EXPECT_EQ(predicted, won) << "move " << i;
    if (won) {
      EXPECT_TRUE(last) << "won early at move " << i << "\n" << b.ToString();
      return mover;
    }
  }
  return 0;
}

TEST(BoardTest, WinsInEveryDirection) {
  const BoardSize s{6, 7};
  EXPECT_EQ(Winner(s, {0, 0, 1, 1, 2, 2, 3}), 1);              // horizontal
  EXPECT_EQ(Winner(s, {6, 5, 6, 5, 6, 5, 6}), 1);              // vertical
  EXPECT_EQ(Winner(s, {0, 1, 1, 2, 2, 3, 2, 3, 3, 6, 3}), 1);  // diagonal /
  EXPECT_EQ(Winner(s, {6, 5, 5, 4, 4, 3, 4, 3, 3, 0, 3}), 1);  // diagonal \ .
  EXPECT_EQ(Winner(s, {0, 1, 2, 3, 0, 1, 2, 3}), 0);           // none
  EXPECT_EQ(Winner(s, {6, 0, 5, 1, 6, 2, 5, 3}), 2);           // player 2 horizontal
}

TEST(BoardTest, NoWinAcrossTheColumnBoundary) {
  // Player 1 ends with the top three cells of column 0 and the bottom cell of column 1: in the
  // bit layout those are neighbours only through the empty sentinel bit.
  EXPECT_EQ(Winner({6, 7}, {1, 0, 6, 0, 6, 0, 0, 5, 0, 5, 0}), 0);
}

// Four in a row by scanning the grid cell by cell.
bool NaiveWin(const Board& b, int player) {
  const int dirs[4][2] = {{0, 1}, {1, 0}, {1, 1}, {1, -1}};
  for (int r = 0; r < b.rows(); ++r) {
    for (int c = 0; c < b.cols(); ++c) {
      for (const auto& d : dirs) {
        int k = 0;
        while (k < 4 && r + k * d[0] < b.rows() && c + k * d[1] >= 0 && c + k * d[1] < b.cols() &&
               b.Cell(r + k * d[0], c + k * d[1]) == player) {
          ++k;
        }
        if (k == 4) return true;
      }
    }
  }
  return false;
}

TEST(BoardTest, BitboardAgreesWithANaiveScanOnRandomGames) {
  for (BoardSize s :
       {BoardSize{6, 7}, BoardSize{5, 6}, BoardSize{7, 8}, BoardSize{4, 10}, BoardSize{10, 5}}) {
    Rng rng(42);
    for (int game = 0; game < 300; ++game) {
      Board b(s);
      int legal[16];
      while (!b.Full()) {
        const int col = legal[rng.Below(b.LegalMoves(legal))];
        const int mover = b.ToMove();
        const bool won = b.Play(col);
        ASSERT_EQ(won, NaiveWin(b, mover)) << s.Name() << " game " << game << "\n" << b.ToString();
        if (won) break;
      }
    }
  }
}

TEST(BoardTest, FullBoardIsADraw) {
  const std::vector<int> draw = {0, 3, 0, 6, 1, 3, 0, 5, 4, 1, 1, 1, 1, 2, 4, 3, 5, 2, 3, 3, 1,
                                 0, 0, 5, 3, 0, 2, 6, 6, 2, 2, 6, 6, 4, 6, 2, 4, 4, 5, 5, 4, 5};
  ASSERT_EQ(draw.size(), 42u);
  EXPECT_EQ(Winner({6, 7}, draw), 0);
  auto end = ReplayGame({6, 7}, draw);
  ASSERT_TRUE(end.ok()) << end.status().ToString();
  EXPECT_TRUE(end->finished);
  EXPECT_EQ(end->winner, 0);
  Board b({6, 7});
  for (int c : draw) b.Play(c);
  EXPECT_TRUE(b.Full());
  int legal[16];
  EXPECT_EQ(b.LegalMoves(legal), 0);
}

TEST(BoardTest, IllegalMovesAreRejectedWithTheMoveNumber) {
  const BoardSize s{6, 7};
  auto out_of_range = ReplayGame(s, {3, 7});
  ASSERT_FALSE(out_of_range.ok());
  EXPECT_NE(out_of_range.status().message().find("move 2: column 7 is outside 0..6"),
            std::string::npos);
  auto full = ReplayGame(s, {2, 2, 2, 2, 2, 2, 2});
  ASSERT_FALSE(full.ok());
  EXPECT_NE(full.status().message().find("move 7: column 2 is full"), std::string::npos);
  auto after = ReplayGame(s, {0, 0, 1, 1, 2, 2, 3, 3});
  ASSERT_FALSE(after.ok());
  EXPECT_NE(after.status().message().find("after the game ended"), std::string::npos);
  EXPECT_FALSE(ReplayGame(s, {-1}).ok());
  Board b(s);
  for (int i = 0; i < 6; ++i) b.Play(4);
  EXPECT_FALSE(b.CanPlay(4));
  EXPECT_FALSE(b.CanPlay(-1));
  EXPECT_FALSE(b.CanPlay(7));
  auto unfinished = ReplayGame(s, {0, 1, 2});
  ASSERT_TRUE(unfinished.ok());
  EXPECT_FALSE(unfinished->finished);
}

TEST(BoardTest, OtherSizesPlayByTheSameRules) {
  const BoardSize s{5, 6};
  EXPECT_EQ(Winner(s, {5, 4, 5, 4, 5, 4, 5}), 1);              // vertical in the last column
  EXPECT_EQ(Winner(s, {0, 5, 1, 5, 2, 4, 3}), 1);              // horizontal
  EXPECT_EQ(Winner(s, {5, 4, 4, 3, 3, 2, 3, 2, 2, 0, 2}), 1);  // diagonal
  Board b(s);
  for (int i = 0; i < 5; ++i) b.Play(0);
  EXPECT_FALSE(b.CanPlay(0));
}

TEST(BoardTest, ParsesBoardSizes) {
  auto b = ParseBoardSize("6x7");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->rows, 6);
  EXPECT_EQ(b->cols, 7);
  EXPECT_EQ(b->Name(), "6x7");
  EXPECT_TRUE(ParseBoardSize("5x6").ok());
  EXPECT_TRUE(ParseBoardSize("7x8").ok());
  for (const char* bad : {"", "6", "6x", "x7", "3x7", "6x3", "8x8", "6x7x", "six", "6 x7"}) {
    EXPECT_FALSE(ParseBoardSize(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace rift::c4
