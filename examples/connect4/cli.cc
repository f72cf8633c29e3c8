#include "examples/connect4/cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>

#include "examples/connect4/commands.h"

namespace rift::c4 {

int RunC4(std::vector<std::string> args, std::ostream& out, std::ostream& err,
          const std::atomic<bool>* stop) {
  CLI::App app{"rift-c4: Connect Four selfplay, training, evaluation and promotion", "rift-c4"};
  app.require_subcommand(1, 1);
  app.footer("Each command prints one JSON line last. Exit codes: 0 ok, 1 error, 2 usage.");

  SelfplayArgs sp;
  auto* selfplay = app.add_subcommand("selfplay", "Play games and write them as JSONL records");
  selfplay->add_option("--games", sp.games, "Games to play")
      ->required()
      ->check(CLI::NonNegativeNumber);
  selfplay->add_option("--out-dir", sp.out_dir, "Directory for <prefix>-<pid>-<ms>.jsonl")
      ->required();
  selfplay->add_option("--model", sp.model, "Model file (default: random players)");
  selfplay->add_option("--seed", sp.seed, "Seed (default: random; printed)");
  selfplay->add_option("--board", sp.board, "ROWSxCOLUMNS (default: the model's, else 6x7)");
  selfplay->add_option("--players", sp.players, "Players (only 2)")->capture_default_str();
  selfplay->add_option("--temperature", sp.temperature, "Softmax temperature of model players")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  selfplay->add_option("--epsilon", sp.epsilon, "Chance of a random move by model players")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  selfplay->add_option("--prefix", sp.prefix, "Output file name prefix")->capture_default_str();

  const char* kOptionalHelp =
      "A model path that does not exist means no model (random player, untrained start, random "
      "baseline) instead of an error";
  selfplay->add_flag("--optional-models", sp.optional_models, kOptionalHelp);

  TrainArgs tr;
  auto* train = app.add_subcommand("train", "Fit a model to the game records under --data");
  train->add_option("--data", tr.data, "Directory of *.jsonl records (repeatable; recursive)")
      ->required();
  train->add_option("--out", tr.out, "Model file to write (atomically)")->required();
  train->add_option("--init", tr.init, "Start from this model (its board is used)");
  train->add_option("--epochs", tr.epochs, "SGD epochs (default 4) or ES generations (6)")
      ->check(CLI::PositiveNumber);
  train->add_option("--seed", tr.seed, "Seed")->capture_default_str();
  train->add_option("--board", tr.board, "ROWSxCOLUMNS (default: the --init model's, else 6x7)");
  train->add_option("--method", tr.method, "sgd (fit the records) or es (evolution strategy)")
      ->check(CLI::IsMember({"sgd", "es"}))
      ->capture_default_str();
  train->add_option("--lr", tr.learning_rate, "SGD (AdaGrad) learning rate")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  train->add_option("--l2", tr.l2, "SGD L2 penalty")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  train->add_option("--es-pairs", tr.es_pairs, "ES perturbation pairs per generation")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  train->add_option("--es-games", tr.es_games, "ES games per fitness evaluation")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  train
      ->add_option("--es-sigma", tr.es_sigma, "ES perturbation scale, relative to the weights' RMS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  train->add_flag("--optional-models", tr.optional_models, kOptionalHelp);

  EvalArgs ev;
  auto* eval = app.add_subcommand("eval", "Play a candidate against the current model or random");
  eval->add_option("--candidate", ev.candidate, "Candidate model file")->required();
  auto* current = eval->add_option("--current", ev.current, "Opponent model file");
  eval->add_option("--baseline", ev.baseline, "Opponent baseline (default when no --current)")
      ->check(CLI::IsMember({"random"}))
      ->excludes(current);
  eval->add_option("--games", ev.games, "Games (colours alternate)")
      ->required()
      ->check(CLI::Range(int64_t{1}, int64_t{1'000'000'000}));
  eval->add_option("--seed", ev.seed, "Seed")->capture_default_str();
  eval->add_option("--opening-plies", ev.opening_plies,
                   "Random opening moves shared by each pair of games")
      ->check(CLI::Range(0, 16))
      ->capture_default_str();

  eval->add_flag("--optional-models", ev.optional_models, kOptionalHelp);

  PromoteArgs pr;
  auto* promote = app.add_subcommand("promote", "Install a candidate as DIR/current.model");
  promote->add_option("--candidate", pr.candidate, "Candidate model file")->required();
  promote->add_option("--models-dir", pr.models_dir, "Models directory (created if missing)")
      ->required();

  InitArgs in;
  auto* init = app.add_subcommand("init", "Write an untrained (all-zero) model");
  init->add_option("--out", in.out, "Model file to write")->required();
  init->add_option("--board", in.board, "ROWSxCOLUMNS")->capture_default_str();

  std::reverse(args.begin(), args.end());  // CLI11 consumes the vector from the back
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e, out, err);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (selfplay->parsed()) return RunSelfplay(sp, out, err, stop);
  if (train->parsed()) return RunTrain(tr, out, err);
  if (eval->parsed()) return RunEval(ev, out, err);
  if (promote->parsed()) return RunPromote(pr, out, err);
  if (init->parsed()) return RunInit(in, out, err);
  err << app.help();
  return kExitUsage;
}

}  // namespace rift::c4
