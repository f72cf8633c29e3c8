#pragma once
// The two file formats, both JSON (nlohmann stays in codec.cc):
//   model file: {"format":"rift-c4-model","version":1,"board":"6x7","features":"c4-linear-v1",
//                "weights":[...],"games":G,"positions":P,"loss":L,"method":"sgd","parent":""}
//   game record, one per line of a .jsonl file:
//               {"v":1,"board":"6x7","moves":[3,3,4,...],"winner":1,"model":"<sha|random>",
//                "seed":S,"game":I}
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "examples/connect4/board.h"
#include "examples/connect4/model.h"
#include "examples/connect4/play.h"

namespace rift::c4 {

inline constexpr const char* kModelFormat = "rift-c4-model";
inline constexpr int kModelVersion = 1;
inline constexpr int kRecordVersion = 1;

std::string EncodeModel(const Model& model);
// An error says what is wrong ("weights has 12 entries, expected 277 for board 6x7").
Result<Model> DecodeModel(std::string_view text);
// Errors name the file: "model file m.json: ...".
Result<Model> LoadModel(const std::string& path);
Status SaveModel(const Model& model, const std::string& path);  // atomic replace

struct GameRecord {
  BoardSize board;
  std::vector<int> moves;
  int winner = 0;
  std::string model;  // sha256 prefix of the model file, or "random"
  uint64_t seed = 0;  // the selfplay run's seed
  int64_t game = 0;   // index of the game within the run
};

std::string EncodeRecord(const GameRecord& record);  // one line, no newline
// Parses and checks a record: fields and types, legal moves, a finished game whose winner
// matches the moves.
Result<GameRecord> DecodeRecord(std::string_view line);

struct DataStats {
  int files = 0;
  int64_t games = 0;
  int64_t positions = 0;
  int64_t corrupt = 0;      // lines skipped as unreadable or inconsistent
  int64_t other_board = 0;  // valid records of another board size, skipped
  std::string first_error;  // "file:line: what", for the report
};

// Reads every *.jsonl file under `dirs` (recursively, in path order; *.part files are
// ignored) and keeps the games of `board`. Bad lines are counted, never fatal; a missing or
// unreadable directory is an error.
Result<GameSet> LoadGames(const std::vector<std::string>& dirs, BoardSize board, DataStats* stats);

}  // namespace rift::c4
