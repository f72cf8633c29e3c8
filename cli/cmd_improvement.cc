// riftctl improvement start | status [--watch] | stop: the leader's improvement loop
// (POST /improvement/start, GET /improvement/status, POST /improvement/stop; leader only, a
// follower's 421 is followed once).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "cli/common.h"
#include "cli/output.h"
#include "cli/riftctl.h"

namespace rift::cli {
namespace {

using json = nlohmann::json;

json Parse(const Reply& reply) {
  json j = json::parse(reply.response.body, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : json::object();
}

std::string Rate(const json& v) {
  if (!v.is_number()) return "-";
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * v.get<double>());
  return buf;
}

std::string Fixed(const json& v, int digits) {
  if (!v.is_number()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v.get<double>());
  return buf;
}

std::string Seconds(int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000.0);
  return buf;
}

int64_t TotalMs(const json& it) {
  int64_t total = 0;
  const json stages = it.value("stage_ms", json::object());
  for (const auto& [stage, ms] : stages.items()) {
    if (ms.is_number()) total += ms.get<int64_t>();
  }
  return total;
}

// One row per finished iteration.
void PrintIterations(std::ostream& out, const json& loop) {
  Table t({"ITER", "MODEL", "GAMES", "POSITIONS", "LOSS", "WIN VS CURRENT", "WIN VS RANDOM",
           "PROMOTED", "TIME"});
  for (size_t c : {0, 1, 2, 3, 4, 5, 6, 8}) t.SetAlign(c, Table::Align::kRight);
  for (const auto& it : loop.value("history", json::array())) {
    t.AddRow({std::to_string(it.value("iteration", 0)),
              "gen " + std::to_string(it.value("model_generation", 0)),
              std::to_string(it.value("games", 0)), std::to_string(it.value("positions", 0)),
              Fixed(it.value("loss", json()), 4), Rate(it.value("win_rate_vs_current", json())),
              Rate(it.value("win_rate_vs_random", json())), YesNo(it.value("promoted", false)),
              Seconds(TotalMs(it))});
  }
  if (t.rows() > 0) t.Print(out);
}

void PrintStatus(std::ostream& out, const json& j, int64_t now_ms) {
  const json loop = j.value("loop", json());
  if (!loop.is_object()) {
    out << "no improvement loop has run (riftctl improvement start)\n";
  } else {
    const json cfg = loop.value("config", json::object());
    const json model = loop.value("model", json::object());
    std::string status = loop.value("status", "");
    std::vector<std::pair<std::string, std::string>> rows = {
        {"loop", loop.value("loop_id", "") + " (" + status + ")"},
        {"leader", j.value("node_id", "") + ", term " + std::to_string(j.value("term", 0))},
        {"trainer", loop.value("training_node", "")},
        {"iteration", std::to_string(loop.value("iteration", 0)) + " of " +
                          std::to_string(cfg.value("iterations", 0))},
        {"model", model.value("path", "").empty()
                      ? std::string("none yet (random play)")
                      : model.value("path", "") + " generation " +
                            std::to_string(model.value("generation", 0)) + " (" +
                            model.value("sha256", "").substr(0, 12) + ")"},
        {"promotions", std::to_string(model.value("generation", 0))}};
    if (status == "running") {
      rows.push_back({"stage", loop.value("stage", "") + " since " +
                                   FormatAge(now_ms - loop.value("stage_started_ms", now_ms))});
    }
    rows.push_back({"note", loop.value("note", "")});
    if (!loop.value("error", "").empty()) rows.push_back({"error", loop.value("error", "")});
    PrintKeyValues(out, rows);
    const json jobs = j.value("jobs", json::object());
    if (status == "running" && !loop.value("jobs", json::array()).empty()) {
      out << '\n';
      Table t({"ROLE", "NODE", "KEY", "STATE"});
      for (const auto& job : loop.value("jobs", json::array())) {
        std::string key = job.value("key", "");
        t.AddRow({job.value("role", ""), job.value("node", ""), key, jobs.value(key, "?")});
      }
      t.Print(out);
    }
    if (!loop.value("history", json::array()).empty()) {
      out << '\n';
      PrintIterations(out, loop);
    }
  }
  const json sched = j.value("scheduler", json::object());
  out << "\nscheduler (background selfplay "
      << (sched.value("background_selfplay", false) ? "on" : "off") << ")\n";
  Table t({"NODE", "KIND", "TARGET", "RUNNING", "NOTE"});
  t.SetAlign(2, Table::Align::kRight);
  t.SetAlign(3, Table::Align::kRight);
  for (const auto& n : sched.value("targets", json::array())) {
    t.AddRow({n.value("node_id", ""), n.value("kind", ""), std::to_string(n.value("target", 0)),
              std::to_string(n.value("running", 0)), n.value("why", "")});
  }
  t.Print(out);
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Event lines for a log (--watch without a terminal): a line per stage change, a figures line
// per finished iteration.
void PrintChanges(std::ostream& out, const json& prev, const json& loop) {
  auto id = [](const json& l) {
    return l.is_object() ? l.value("loop_id", "") + "/" + std::to_string(l.value("iteration", 0)) +
                               "/" + l.value("stage", "") + "/" + l.value("status", "")
                         : std::string();
  };
  if (!loop.is_object() || id(prev) == id(loop)) return;
  size_t seen = prev.is_object() && prev.value("loop_id", "") == loop.value("loop_id", "")
                    ? prev.value("history", json::array()).size()
                    : 0;
  const json history = loop.value("history", json::array());
  for (size_t i = seen; i < history.size(); ++i) {
    const json& it = history[i];
    out << "iteration " << it.value("iteration", 0) << " done: " << it.value("games", 0)
        << " games, " << it.value("positions", 0) << " positions, loss "
        << Fixed(it.value("loss", json()), 4) << ", win rate vs current "
        << Rate(it.value("win_rate_vs_current", json())) << ", vs random "
        << Rate(it.value("win_rate_vs_random", json())) << ", "
        << (it.value("promoted", false) ? "promoted" : "not promoted") << " ("
        << Seconds(TotalMs(it)) << ")\n";
  }
  std::string status = loop.value("status", "");
  if (status == "running") {
    out << "iteration " << loop.value("iteration", 0) << " " << loop.value("stage", "") << ": "
        << loop.value("note", "") << '\n';
  } else {
    out << "loop " << loop.value("loop_id", "") << " " << status << ": " << loop.value("note", "")
        << '\n';
    if (!loop.value("error", "").empty()) out << "error: " << loop.value("error", "") << '\n';
  }
}

int RunStatus(Context& ctx, bool watch, double interval_s) {
  bool tty = &ctx.out == &std::cout && isatty(STDOUT_FILENO);
  json prev;
  auto deadline_unreachable = std::chrono::seconds(60);
  auto last_ok = std::chrono::steady_clock::now();
  for (int round = 0;; ++round) {
    Reply reply = CallGet(ctx, "/improvement/status", Target::kLeader);
    if (!reply.ok()) {
      // While watching, ride out a leader change: retry for a while before giving up.
      if (!watch || std::chrono::steady_clock::now() - last_ok > deadline_unreachable) {
        return reply.exit_code;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(interval_s * 1000)));
      continue;
    }
    last_ok = std::chrono::steady_clock::now();
    json j = Parse(reply);
    const json loop = j.value("loop", json());
    if (ctx.json()) {
      ctx.out << (watch ? j.dump() : j.dump(2)) << '\n';
    } else if (!watch || tty) {
      if (watch && round > 0) ctx.out << "\033[H\033[2J";  // redraw in place
      PrintStatus(ctx.out, j, NowMs());
    } else {
      PrintChanges(ctx.out, prev, loop);
    }
    ctx.out.flush();
    prev = loop;
    bool running = loop.is_object() && loop.value("status", "") == "running";
    if (!watch || !running) {
      if (watch && !ctx.json() && !tty && loop.is_object()) {
        ctx.out << '\n';
        PrintIterations(ctx.out, loop);
      }
      return loop.is_object() && loop.value("status", "") == "failed" ? kExitRemote : kExitOk;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(interval_s * 1000)));
  }
}

struct StartFlags {
  std::optional<int> iterations, games, eval_games;
  std::optional<double> win_rate;
  std::optional<std::string> board;
};

int RunStart(Context& ctx, const StartFlags& f) {
  json body = json::object();
  if (f.iterations) body["iterations"] = *f.iterations;
  if (f.games) body["games_per_iteration"] = *f.games;
  if (f.eval_games) body["eval_games"] = *f.eval_games;
  if (f.win_rate) body["promote_win_rate"] = *f.win_rate;
  if (f.board) body["board"] = *f.board;
  Reply reply = CallPost(ctx, "/improvement/start", body.dump(), Target::kLeader);
  if (!reply.ok()) return reply.exit_code;
  json j = Parse(reply);
  if (ctx.json()) {
    ctx.out << j.dump(2) << '\n';
    return kExitOk;
  }
  const json loop = j.value("status", json::object()).value("loop", json::object());
  const json cfg = loop.value("config", json::object());
  PrintKeyValues(
      ctx.out,
      {{"loop", j.value("loop_id", "") + " started"},
       {"trainer", loop.value("training_node", "")},
       {"plan", std::to_string(cfg.value("iterations", 0)) + " iteration(s) of " +
                    std::to_string(cfg.value("games_per_iteration", 0)) + " games, " +
                    std::to_string(cfg.value("eval_games", 0)) + " eval games, promote at " +
                    Rate(cfg.value("promote_win_rate", json())) + " on " + cfg.value("board", "")},
       {"follow", "riftctl improvement status --watch"}});
  return kExitOk;
}

int RunStop(Context& ctx) {
  Reply reply = CallPost(ctx, "/improvement/stop", "{}", Target::kLeader);
  if (!reply.ok()) return reply.exit_code;
  json j = Parse(reply);
  if (ctx.json()) {
    ctx.out << j.dump(2) << '\n';
  } else if (j.value("stopped", false)) {
    ctx.out << "stopped loop " << j.value("loop_id", "") << " (running jobs finish on their own)\n";
  } else {
    ctx.out << "no loop was running\n";
  }
  return kExitOk;
}

}  // namespace

void RegisterImprovementCommands(CLI::App& app, Commands& commands) {
  CLI::App* im = app.add_subcommand("improvement", "The leader's improvement loop");
  im->require_subcommand(1);
  auto f = std::make_shared<StartFlags>();
  CLI::App* start = im->add_subcommand(
      "start", "Start a loop: selfplay -> sync -> train -> eval -> promote -> distribute");
  start->add_option("--iterations", f->iterations, "Iterations (default: the config's)")
      ->check(CLI::Range(1, 10000));
  start->add_option("--games", f->games, "Selfplay games per iteration, over all nodes")
      ->check(CLI::Range(1, 10'000'000));
  start->add_option("--eval-games", f->eval_games, "Games per evaluation")
      ->check(CLI::Range(1, 1'000'000));
  start->add_option("--promote-win-rate", f->win_rate, "Promote at this win rate (0-1)")
      ->check(CLI::Range(0.0, 1.0));
  start->add_option("--board", f->board, "Board, ROWSxCOLS (e.g. 6x7)");
  commands.Add(start, [f](Context& ctx) { return RunStart(ctx, *f); });
  auto watch = std::make_shared<bool>(false);
  auto interval = std::make_shared<double>(1.0);
  CLI::App* status = im->add_subcommand("status", "The loop: iteration, stage, jobs, figures");
  status->add_flag("--watch", *watch,
                   "Follow the loop until it ends (a live view on a terminal, else a line per "
                   "stage and per iteration)");
  status->add_option("--interval", *interval, "Refresh interval in seconds (--watch)")
      ->check(CLI::PositiveNumber);
  commands.Add(status,
               [watch, interval](Context& ctx) { return RunStatus(ctx, *watch, *interval); });
  commands.Add(im->add_subcommand("stop", "Stop the running loop after its current step"),
               [](Context& ctx) { return RunStop(ctx); });
}

}  // namespace rift::cli
