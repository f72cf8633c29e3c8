#pragma once
// The subcommands behind RunC4 (cli.cc parses flags into these structs). Internal.
#include <atomic>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "examples/connect4/play.h"

namespace rift::c4 {

struct SelfplayArgs {
  int64_t games = 0;
  std::string out_dir;
  std::string model;
  std::optional<uint64_t> seed;
  std::string board;  // empty: the model's board, else 6x7
  int players = 2;
  double temperature = kSelfplayTemperature;
  double epsilon = kSelfplayEpsilon;
  std::string prefix = "c4";
  bool optional_models = false;
};

struct TrainArgs {
  std::vector<std::string> data;
  std::string out;
  std::string init;
  int epochs = 0;  // 0: the method's default
  uint64_t seed = 1;
  std::string board;
  std::string method = "sgd";
  double learning_rate = 0.05;
  double l2 = 1e-6;
  int es_pairs = 6;
  int es_games = 60;
  double es_sigma = 0.1;
  bool optional_models = false;
};

struct EvalArgs {
  std::string candidate;
  std::string current;
  std::string baseline;
  int64_t games = 0;
  uint64_t seed = 1;
  int opening_plies = 4;
  bool optional_models = false;
};

struct PromoteArgs {
  std::string candidate;
  std::string models_dir;
};

struct InitArgs {
  std::string out;
  std::string board;
};

int RunSelfplay(const SelfplayArgs& a, std::ostream& out, std::ostream& err,
                const std::atomic<bool>* stop);
int RunTrain(const TrainArgs& a, std::ostream& out, std::ostream& err);
int RunEval(const EvalArgs& a, std::ostream& out, std::ostream& err);
int RunPromote(const PromoteArgs& a, std::ostream& out, std::ostream& err);
int RunInit(const InitArgs& a, std::ostream& out, std::ostream& err);

}  // namespace rift::c4
