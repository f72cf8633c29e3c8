#pragma once
// The improvement loop as a sans-IO state machine: Step(state, observation) returns the next
// state and the actions to take. Each iteration runs the stages
//
//   selfplay   -> games_per_iteration games split over the eligible nodes (current model)
//   sync       -> the leader's training round until the training node holds every new file
//   train      -> training.nnue on the training node, initialised from the current model
//   eval       -> candidate vs the current model (when there is one) and vs the random baseline
//   promote    -> if the win rate reaches promote_win_rate (vs current; vs random when there is
//                 no model yet): the promote job installs models/current.model on the trainer
//   distribute -> every alive node pulls the promoted models/current.model
//
// and the next iteration's selfplay uses the promoted model.
//
// Durability contract with the driver: a state whose `changed` is true must be stored (locally
// and on a quorum of voters) before any of the step's actions is taken. Every stage job carries
// an idempotency key derived from (loop id, iteration, stage, node, attempt), so re-taking the
// actions of a stored state (after a restart, or by a new leader) re-attaches to the job already
// started instead of starting another. Entering a stage records its jobs in the state first
// (changed), so what a stage runs, and where, is decided exactly once.
//
// Pure: no clock (now comes in the observation), no I/O, no threads.
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace rift::improve {

enum class Stage { kSelfplay, kSync, kTrain, kEval, kPromote, kDistribute };
enum class LoopStatus { kRunning, kStopped, kDone, kFailed };

const char* StageName(Stage s);
const char* StatusName(LoopStatus s);
std::optional<Stage> ParseStage(const std::string& s);
std::optional<LoopStatus> ParseStatus(const std::string& s);

inline constexpr char kCurrentModel[] = "models/current.model";
// A job param value starting with this is a path relative to the data root of the node that runs
// the job; the driver makes it absolute there (the catalogue takes params literally).
inline constexpr char kDataPrefix[] = "data:";

struct LoopConfig {
  int iterations = 2;
  int games_per_iteration = 2000;
  int eval_games = 200;
  double promote_win_rate = 0.55;
  std::string board = "6x7";
  int max_attempts = 3;                     // per stage job
  int64_t sync_timeout_ms = 600'000;        // then train on what the trainer holds
  int64_t distribute_timeout_ms = 300'000;  // then go on without the nodes still missing it
};

struct ModelRef {
  std::string path;  // relative to the data root; "" = no model yet
  std::string sha256;
  uint64_t size = 0;
  int generation = 0;  // promotions so far
  bool empty() const { return path.empty(); }
};

// One job of the current stage, decided when the stage was entered.
struct StageJob {
  std::string role;  // selfplay | train | eval-current | eval-random | promote
  std::string node;
  std::string kind;  // catalogue kind
  std::map<std::string, std::string> params;
  int attempt = 0;
  std::string key;  // idempotency key
};

struct IterationRecord {
  int iteration = 0;
  int model_generation = 0;  // of the model the selfplay used
  int64_t games = 0;
  int64_t positions = 0;    // in the new selfplay games
  int64_t train_games = 0;  // what the training read (all data on the trainer)
  int64_t train_positions = 0;
  std::optional<double> loss;
  std::optional<double> win_rate_vs_current;
  std::optional<double> win_rate_vs_random;
  bool promoted = false;
  std::string candidate;  // the trained model, relative to the trainer's data root
  std::string decision;   // why promoted or not
  std::map<std::string, int64_t> stage_ms;
  int64_t started_ms = 0;
  int64_t ended_ms = 0;
};

struct LoopState {
  std::string loop_id;
  LoopStatus status = LoopStatus::kRunning;
  LoopConfig config;
  std::string training_node;
  int iteration = 1;
  Stage stage = Stage::kSelfplay;
  int64_t started_ms = 0;
  int64_t stage_started_ms = 0;
  int64_t ended_ms = 0;
  ModelRef model;
  std::vector<StageJob> jobs;               // the current stage's jobs ([] = not planned yet)
  std::vector<std::string> expected_files;  // sync: what the trainer must hold
  std::optional<std::string> promoted_sha;  // distribute: the version being distributed
  uint64_t promoted_size = 0;
  IterationRecord current;
  std::vector<IterationRecord> history;
  std::string error;
  std::string note;  // the last thing worth telling an operator
};

// What a node says about one stage job (looked up by its idempotency key).
struct JobStatus {
  enum class Seen {
    kUnknown,    // its node did not answer (or is not alive)
    kMissing,    // its node answered: no job with this key
    kActive,     // starting | running
    kSucceeded,  // exited with code 0
    kFailed,     // failed | stopped | lost | nonzero exit
  };
  Seen seen = Seen::kUnknown;
  std::map<std::string, double> numbers;  // numeric fields of the job's result line
  std::string file;                       // result "file", relative to the data root
  std::string model;                      // result "model", relative to the data root
  std::string error;
};

struct FileVersion {
  std::string sha256;
  uint64_t size = 0;
};

struct Observation {
  int64_t now_ms = 0;
  std::vector<std::string> eligible;      // alive, healthy, reachable nodes for stage jobs
  std::set<std::string> alive;            // every alive node
  std::set<std::string> outbound;         // alive nodes that cannot be called: they get the model
                                          // through their polls and are not waited for
  std::map<std::string, JobStatus> jobs;  // by idempotency key
  std::set<std::string> held_by_trainer;  // sync: expected files the trainer serves
  std::optional<FileVersion> candidate;   // promote/distribute: the candidate on the trainer
  std::optional<FileVersion> trainer_model;      // distribute: models/current.model there
  std::map<std::string, std::string> model_sha;  // distribute: node -> its current.model sha
  bool stop_requested = false;
};

struct Action {
  enum class Type {
    kEnsureJob,     // POST /start_job with the job's key (returns the existing job if any)
    kSyncTraining,  // one training round of the leader's sync
    kPullModel,     // POST /sync/pull of models/current.model to `node` from `source`
  };
  Type type = Type::kEnsureJob;
  StageJob job;
  std::string node;
  std::string source;
  FileVersion file;
};

struct StepResult {
  LoopState state;
  bool changed = false;  // store and replicate `state` before taking `actions`
  std::vector<Action> actions;
};

// A new running loop (its first step plans the selfplay split).
LoopState NewLoop(std::string loop_id, LoopConfig config, std::string training_node, ModelRef model,
                  int64_t now_ms);

// The idempotency key of a stage job.
std::string JobKey(const std::string& loop_id, int iteration, const std::string& role,
                   const std::string& node, int attempt);

StepResult Step(const LoopState& state, const Observation& observation);

}  // namespace rift::improve
