#include "examples/connect4/commands.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "examples/connect4/cli.h"
#include "examples/connect4/codec.h"
#include "examples/connect4/files.h"
#include "examples/connect4/play.h"
#include "examples/connect4/train.h"
#include "orchestrator/base/random.h"
#include "orchestrator/base/time.h"

namespace rift::c4 {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

int Fail(std::ostream& err, const std::string& what) {
  err << "rift-c4: " << what << "\n";
  return kExitError;
}
int Usage(std::ostream& err, const std::string& what) {
  err << "rift-c4: " << what << "\n";
  return kExitUsage;
}

// A model file and the short hash that game records and eval results name it by.
struct LoadedModel {
  Model model;
  std::string sha256;
  std::string ShortSha() const { return sha256.substr(0, 16); }
};

Result<LoadedModel> Load(const std::string& path) {
  auto bytes = ReadWholeFile(path);
  if (!bytes.ok()) {
    return Status(bytes.status().code(), "model file " + path + ": " + bytes.status().message());
  }
  auto model = DecodeModel(*bytes);
  if (!model.ok()) return InvalidArgument("model file " + path + ": " + model.status().message());
  return LoadedModel{std::move(*model), Sha256Hex(*bytes)};
}

// An optional model: none when `path` is empty, or when `optional` and the file does not
// exist (the first iteration of a loop has no current model yet).
Result<std::optional<LoadedModel>> LoadIfGiven(const std::string& path, bool optional) {
  std::error_code ec;
  if (path.empty() || (optional && !fs::exists(path, ec) && !ec)) {
    return std::optional<LoadedModel>();
  }
  RIFT_ASSIGN_OR_RETURN(LoadedModel m, Load(path));
  return std::optional<LoadedModel>(std::move(m));
}

// The board a command works on: --board if given (must agree with the model), else the
// model's, else 6x7. A usage error comes back as kInvalidArgument.
Result<BoardSize> ChooseBoard(const std::string& flag, const Model* model) {
  if (flag.empty()) return model != nullptr ? model->board() : BoardSize{};
  RIFT_ASSIGN_OR_RETURN(BoardSize size, ParseBoardSize(flag));
  if (model != nullptr && !(model->board() == size)) {
    return InvalidArgument("--board " + size.Name() + " does not match the model's board " +
                           model->board().Name());
  }
  return size;
}

Status EnsureParentDir(const std::string& file) {
  const std::string dir = fs::path(file).parent_path().string();
  return dir.empty() ? Status::Ok() : EnsureDir(dir);
}

double Seconds(TimePoint start) {
  return std::chrono::duration<double>(RealTime().Now() - start).count();
}

}  // namespace

int RunSelfplay(const SelfplayArgs& a, std::ostream& out, std::ostream& err,
                const std::atomic<bool>* stop) {
  if (a.players != 2) return Usage(err, "--players: only 2 players are supported");
  if (a.prefix.empty() || a.prefix.find('/') != std::string::npos) {
    return Usage(err, "--prefix must be a non-empty file name without '/'");
  }
  auto model = LoadIfGiven(a.model, a.optional_models);
  if (!model.ok()) return Fail(err, model.status().message());
  const std::optional<LoadedModel>& loaded = *model;
  auto board = ChooseBoard(a.board, loaded ? &loaded->model : nullptr);
  if (!board.ok()) return Usage(err, board.status().message());
  if (Status st = EnsureDir(a.out_dir); !st.ok()) return Fail(err, "--out-dir: " + st.message());

  const uint64_t seed = a.seed ? *a.seed : (OsSeed() & ((1ULL << 48) - 1));
  const std::string path =
      (fs::path(a.out_dir) / (a.prefix + "-" + std::to_string(::getpid()) + "-" +
                              std::to_string(RealTime().WallMillis()) + ".jsonl"))
          .string();
  PartFile file;
  if (Status st = file.Open(path); !st.ok()) return Fail(err, st.message());

  const Player player =
      loaded ? Player{&loaded->model, a.temperature, a.epsilon} : Player::Random();
  GameRecord rec;
  rec.board = *board;
  rec.model = loaded ? loaded->ShortSha() : "random";
  rec.seed = seed;
  int64_t played = 0, positions = 0, wins[3] = {0, 0, 0};
  bool interrupted = false;
  const auto start = RealTime().Now();
  for (int64_t i = 0; i < a.games; ++i) {
    if (stop != nullptr && stop->load()) {
      interrupted = true;
      break;
    }
    Rng rng(MixSeed(seed, static_cast<uint64_t>(i)));
    Game g = PlayGame(*board, player, player, rng);
    rec.moves = std::move(g.moves);
    rec.winner = g.winner;
    rec.game = i;
    if (Status st = file.Append(EncodeRecord(rec)); !st.ok()) return Fail(err, st.message());
    ++played;
    positions += static_cast<int64_t>(rec.moves.size());
    ++wins[g.winner];
  }
  std::string written;
  if (played > 0) {
    if (Status st = file.Commit(); !st.ok()) return Fail(err, st.message());
    written = path;
  } else {
    file.Discard();  // no games: leave no empty file behind
  }
  const double secs = Seconds(start);
  out << json{{"games", played},    {"positions", positions},
              {"file", written},    {"board", board->Name()},
              {"model", rec.model}, {"seed", seed},
              {"p1_wins", wins[1]}, {"p2_wins", wins[2]},
              {"draws", wins[0]},   {"interrupted", interrupted},
              {"seconds", secs}}
             .dump()
      << "\n";
  return kExitOk;
}

int RunTrain(const TrainArgs& a, std::ostream& out, std::ostream& err) {
  auto init_model = LoadIfGiven(a.init, a.optional_models);
  if (!init_model.ok()) return Fail(err, init_model.status().message());
  const std::optional<LoadedModel>& init = *init_model;
  auto board = ChooseBoard(a.board, init ? &init->model : nullptr);
  if (!board.ok()) return Usage(err, board.status().message());

  DataStats data;
  auto games = LoadGames(a.data, *board, &data);
  if (!games.ok()) return Fail(err, games.status().message());
  if (data.corrupt > 0) {
    err << "rift-c4: skipped " << data.corrupt
        << " corrupt record line(s); first: " << data.first_error << "\n";
  }
  if (data.other_board > 0) {
    err << "rift-c4: skipped " << data.other_board << " record(s) of other board sizes\n";
  }
  if (games->empty()) {
    return Fail(err, "no " + board->Name() + " game records found in " +
                         std::to_string(data.files) + " .jsonl file(s) under the --data dirs");
  }

  Model model = init ? init->model : Model::Zero(*board);
  model.parent = init ? init->sha256 : "";
  const auto start = RealTime().Now();
  SgdOptions sgd;
  sgd.epochs = a.epochs > 0 ? a.epochs : 4;
  sgd.seed = a.seed;
  sgd.learning_rate = a.learning_rate;
  sgd.l2 = a.l2;
  json extra = json::object();
  TrainStats stats;
  if (a.method == "sgd") {
    stats = TrainSgd(model, *games, sgd);
  } else {
    // ES starts from --init, or from an SGD fit of the records, and plays against --init (or
    // the random player when there is none).
    if (!init) {
      sgd.epochs = 4;
      TrainSgd(model, *games, sgd);
    }
    const Player opponent = init ? Player::Greedy(&init->model) : Player::Random();
    EsOptions es;
    es.generations = a.epochs > 0 ? a.epochs : 6;
    es.pairs = a.es_pairs;
    es.games_per_eval = a.es_games;
    es.sigma = a.es_sigma;
    es.seed = a.seed;
    const EsStats es_stats = TrainEs(model, opponent, es);
    stats.games = static_cast<int64_t>(games->size());
    stats.positions = data.positions;
    stats.loss = MeanLoss(model, *games);
    extra = {{"es_generations", es_stats.generations},
             {"es_accepted", es_stats.accepted},
             {"es_games_played", es_stats.games_played},
             {"win_rate", es_stats.win_rate},
             {"opponent", init ? init->ShortSha() : "random"}};
  }
  model.games += stats.games;
  model.positions += stats.positions;
  model.loss = stats.loss;
  model.method = a.method;
  const std::string text = EncodeModel(model);
  if (Status st = EnsureParentDir(a.out); !st.ok()) return Fail(err, "--out: " + st.message());
  if (Status st = WriteFileAtomic(a.out, text); !st.ok()) return Fail(err, st.message());

  json result = {{"games", stats.games},      {"positions", stats.positions},
                 {"loss", stats.loss},        {"model", a.out},
                 {"sha256", Sha256Hex(text)}, {"board", board->Name()},
                 {"method", a.method},        {"files", data.files},
                 {"skipped", data.corrupt},   {"seconds", Seconds(start)}};
  result.update(extra);
  out << result.dump() << "\n";
  return kExitOk;
}

int RunEval(const EvalArgs& a, std::ostream& out, std::ostream& err) {
  auto cand = Load(a.candidate);
  if (!cand.ok()) return Fail(err, cand.status().message());
  auto current_model = LoadIfGiven(a.current, a.optional_models);
  if (!current_model.ok()) return Fail(err, current_model.status().message());
  const std::optional<LoadedModel>& current = *current_model;
  if (current && !(current->model.board() == cand->model.board())) {
    return Fail(err, "the candidate plays " + cand->model.board().Name() +
                         " but the current model plays " + current->model.board().Name());
  }
  const Player opponent = current ? Player::Greedy(&current->model) : Player::Random();
  const MatchResult r = PlayMatch(cand->model.board(), Player::Greedy(&cand->model), opponent,
                                  static_cast<int>(a.games), a.seed, a.opening_plies);
  out << json{{"games", r.games},
              {"wins", r.wins},
              {"losses", r.losses},
              {"draws", r.draws},
              {"win_rate", r.WinRate()},
              {"candidate", cand->ShortSha()},
              {"opponent", current ? current->ShortSha() : "random"},
              {"board", cand->model.board().Name()},
              {"seed", a.seed}}
             .dump()
      << "\n";
  return kExitOk;
}

int RunPromote(const PromoteArgs& a, std::ostream& out, std::ostream& err) {
  auto bytes = ReadWholeFile(a.candidate);
  if (!bytes.ok()) return Fail(err, "model file " + a.candidate + ": " + bytes.status().message());
  if (auto m = DecodeModel(*bytes); !m.ok()) {
    return Fail(err,
                "model file " + a.candidate + ": " + m.status().message() + "; nothing promoted");
  }
  const std::string sha = Sha256Hex(*bytes);
  const fs::path dir(a.models_dir);
  const std::string history = (dir / "history" / (sha + ".model")).string();
  const std::string current = (dir / "current.model").string();
  if (Status st = EnsureDir((dir / "history").string()); !st.ok()) {
    return Fail(err, "--models-dir: " + st.message());
  }
  json previous = nullptr;
  if (auto old = ReadWholeFile(current); old.ok()) previous = Sha256Hex(*old);
  std::error_code ec;
  if (!fs::exists(history, ec)) {
    if (Status st = WriteFileAtomic(history, *bytes); !st.ok()) return Fail(err, st.message());
  }
  if (Status st = WriteFileAtomic(current, *bytes); !st.ok()) return Fail(err, st.message());
  out << json{{"promoted", current}, {"sha256", sha}, {"history", history}, {"previous", previous}}
             .dump()
      << "\n";
  return kExitOk;
}

int RunInit(const InitArgs& a, std::ostream& out, std::ostream& err) {
  auto board = ChooseBoard(a.board, nullptr);
  if (!board.ok()) return Usage(err, board.status().message());
  const std::string text = EncodeModel(Model::Zero(*board));
  if (Status st = EnsureParentDir(a.out); !st.ok()) return Fail(err, "--out: " + st.message());
  if (Status st = WriteFileAtomic(a.out, text); !st.ok()) return Fail(err, st.message());
  out << json{{"model", a.out}, {"sha256", Sha256Hex(text)}, {"board", board->Name()}}.dump()
      << "\n";
  return kExitOk;
}

}  // namespace rift::c4
