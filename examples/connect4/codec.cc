#include "examples/connect4/codec.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "examples/connect4/files.h"

namespace rift::c4 {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

Status Bad(const std::string& what) { return InvalidArgument(what); }

// Reads an integer field; missing or non-integer is an error naming the field.
Status GetInt(const json& j, const char* key, int64_t* out) {
  auto it = j.find(key);
  if (it == j.end()) return Bad(std::string("missing \"") + key + "\"");
  if (!it->is_number_integer()) return Bad(std::string("\"") + key + "\" is not an integer");
  *out = it->get<int64_t>();
  return Status::Ok();
}

Status GetString(const json& j, const char* key, std::string* out) {
  auto it = j.find(key);
  if (it == j.end()) return Bad(std::string("missing \"") + key + "\"");
  if (!it->is_string()) return Bad(std::string("\"") + key + "\" is not a string");
  *out = it->get<std::string>();
  return Status::Ok();
}

Result<Model> DecodeModelJson(const json& j) {
  if (!j.is_object()) return Bad("not a JSON object");
  std::string format;
  RIFT_RETURN_IF_ERROR(GetString(j, "format", &format));
  if (format != kModelFormat) {
    return Bad("format is \"" + format + "\", expected \"" + kModelFormat + "\"");
  }
  int64_t version = 0;
  RIFT_RETURN_IF_ERROR(GetInt(j, "version", &version));
  if (version != kModelVersion) {
    return Bad("version " + std::to_string(version) + " is not supported (this program reads " +
               std::to_string(kModelVersion) + ")");
  }
  std::string board_name, features;
  RIFT_RETURN_IF_ERROR(GetString(j, "board", &board_name));
  RIFT_ASSIGN_OR_RETURN(BoardSize board, ParseBoardSize(board_name));
  RIFT_RETURN_IF_ERROR(GetString(j, "features", &features));
  if (features != kFeatureSetName) {
    return Bad("features \"" + features + "\" unknown (expected \"" + kFeatureSetName + "\")");
  }
  Model m = Model::Zero(board);
  auto it = j.find("weights");
  if (it == j.end() || !it->is_array()) return Bad("\"weights\" missing or not an array");
  if (it->size() != m.weights.size()) {
    return Bad("weights has " + std::to_string(it->size()) + " entries, expected " +
               std::to_string(m.weights.size()) + " for board " + board.Name());
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const json& w = (*it)[i];
    if (!w.is_number() || !std::isfinite(w.get<double>())) {
      return Bad("weights[" + std::to_string(i) + "] is not a finite number");
    }
    m.weights[i] = w.get<double>();
  }
  RIFT_RETURN_IF_ERROR(GetInt(j, "games", &m.games));
  RIFT_RETURN_IF_ERROR(GetInt(j, "positions", &m.positions));
  if (auto l = j.find("loss"); l != j.end() && l->is_number()) m.loss = l->get<double>();
  if (auto s = j.find("method"); s != j.end() && s->is_string()) m.method = s->get<std::string>();
  if (auto s = j.find("parent"); s != j.end() && s->is_string()) m.parent = s->get<std::string>();
  return m;
}

Result<GameRecord> DecodeRecordJson(const json& j) {
  if (!j.is_object()) return Bad("not a JSON object");
  GameRecord r;
  int64_t v = 0;
  RIFT_RETURN_IF_ERROR(GetInt(j, "v", &v));
  if (v != kRecordVersion) return Bad("record version " + std::to_string(v) + " unsupported");
  std::string board;
  RIFT_RETURN_IF_ERROR(GetString(j, "board", &board));
  RIFT_ASSIGN_OR_RETURN(r.board, ParseBoardSize(board));
  auto moves = j.find("moves");
  if (moves == j.end() || !moves->is_array()) return Bad("\"moves\" missing or not an array");
  if (moves->size() > static_cast<size_t>(r.board.rows * r.board.cols)) {
    return Bad("more moves than cells");
  }
  for (const json& m : *moves) {
    if (!m.is_number_integer()) return Bad("a move is not an integer");
    const int64_t col = m.get<int64_t>();
    if (col < 0 || col >= r.board.cols) {
      return Bad("move " + std::to_string(r.moves.size() + 1) + ": column " + std::to_string(col) +
                 " is outside 0.." + std::to_string(r.board.cols - 1));
    }
    r.moves.push_back(static_cast<int>(col));
  }
  int64_t winner = 0;
  RIFT_RETURN_IF_ERROR(GetInt(j, "winner", &winner));
  if (winner < 0 || winner > 2) return Bad("winner must be 0, 1 or 2");
  r.winner = static_cast<int>(winner);
  RIFT_RETURN_IF_ERROR(GetString(j, "model", &r.model));
  if (auto s = j.find("seed"); s != j.end() && s->is_number_unsigned()) {
    r.seed = s->get<uint64_t>();
  }
  if (auto g = j.find("game"); g != j.end() && g->is_number_integer()) r.game = g->get<int64_t>();
  RIFT_ASSIGN_OR_RETURN(GameEnd end, ReplayGame(r.board, r.moves));
  if (!end.finished) return Bad("the moves do not finish the game");
  if (end.winner != r.winner) {
    return Bad("winner is " + std::to_string(r.winner) + " but the moves give " +
               std::to_string(end.winner));
  }
  return r;
}

}  // namespace

std::string EncodeModel(const Model& m) {
  json j = {{"format", kModelFormat},
            {"version", kModelVersion},
            {"board", m.board().Name()},
            {"features", kFeatureSetName},
            {"games", m.games},
            {"positions", m.positions},
            {"loss", std::isfinite(m.loss) ? m.loss : 0.0},
            {"method", m.method},
            {"parent", m.parent},
            {"weights", m.weights}};
  return j.dump() + "\n";
}

Result<Model> DecodeModel(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Bad("not valid JSON (truncated or corrupt?)");
  return DecodeModelJson(j);
}

Result<Model> LoadModel(const std::string& path) {
  auto text = ReadWholeFile(path);
  if (!text.ok())
    return Status(text.status().code(), "model file " + path + ": " + text.status().message());
  auto m = DecodeModel(*text);
  if (!m.ok()) return InvalidArgument("model file " + path + ": " + m.status().message());
  return m;
}

Status SaveModel(const Model& model, const std::string& path) {
  return WriteFileAtomic(path, EncodeModel(model));
}

std::string EncodeRecord(const GameRecord& r) {
  std::string out = "{\"v\":1,\"board\":\"" + r.board.Name() + "\",\"moves\":[";
  for (size_t i = 0; i < r.moves.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(r.moves[i]);
  }
  out += "],\"winner\":" + std::to_string(r.winner) + ",\"model\":" + json(r.model).dump() +
         ",\"seed\":" + std::to_string(r.seed) + ",\"game\":" + std::to_string(r.game) + "}";
  return out;
}

Result<GameRecord> DecodeRecord(std::string_view line) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Bad("not valid JSON");
  return DecodeRecordJson(j);
}

Result<GameSet> LoadGames(const std::vector<std::string>& dirs, BoardSize board, DataStats* stats) {
  std::vector<std::string> files;
  for (const std::string& dir : dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      return NotFound("data directory " + dir + " does not exist or is not a directory");
    }
    fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec) && it->path().extension() == ".jsonl") {
        files.push_back(it->path().string());
      }
    }
    if (ec) return Internal("cannot list " + dir + ": " + ec.message());
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());

  GameSet games;
  for (const std::string& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return Internal("cannot read " + file);
    ++stats->files;
    std::string line;
    int64_t line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      auto rec = DecodeRecord(line);
      if (!rec.ok()) {
        if (stats->corrupt++ == 0) {
          stats->first_error = file + ":" + std::to_string(line_no) + ": " + rec.status().message();
        }
        continue;
      }
      if (!(rec->board == board)) {
        ++stats->other_board;
        continue;
      }
      ++stats->games;
      stats->positions += static_cast<int64_t>(rec->moves.size());
      games.Add(rec->moves, rec->winner);
    }
  }
  return games;
}

}  // namespace rift::c4
