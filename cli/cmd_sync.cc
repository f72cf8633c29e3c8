// riftctl sync start | training | status [--watch]: the leader's sync rounds and this node's
// transfers (GET /sync/status), with a progress bar when stdout is a terminal.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/common.h"
#include "cli/output.h"
#include "cli/riftctl.h"

namespace rift::cli {
namespace {

using json = nlohmann::json;

std::string Bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

std::string Bar(double done, double total) {
  int filled = total > 0 ? static_cast<int>(20 * std::min(1.0, done / total)) : 0;
  return "[" + std::string(filled, '#') + std::string(20 - filled, '-') + "]";
}

json Parse(const Reply& reply) {
  json j = json::parse(reply.response.body, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : json::object();
}

int RunRound(Context& ctx, const std::string& path) {
  Reply reply = CallPost(ctx, path, "{}", Target::kLeader);
  if (!reply.ok()) return reply.exit_code;
  json j = Parse(reply);
  if (ctx.json()) {
    ctx.out << j.dump(2) << '\n';
    return kExitOk;
  }
  std::string pulls;
  const json per_node = j.value("pulls_per_node", json::object());
  const json errors = j.value("errors", json::object());
  for (auto& [node, n] : per_node.items()) {
    pulls += (pulls.empty() ? "" : ", ") + node + ": " + n.dump();
  }
  std::string pushes = std::to_string(j.value("pushes_planned", 0)) + " new";
  if (j.value("pushes_kept", 0) > 0) {
    pushes += ", " + std::to_string(j.value("pushes_kept", 0)) + " still in progress";
  }
  PrintKeyValues(ctx.out,
                 {{"plan", j.value("plan_id", "") + " (" + j.value("kind", "") + ")"},
                  {"pulls", pulls.empty() ? "none needed" : pulls},
                  {"pushes", pushes + " (from outbound-only nodes)"},
                  {"bytes", Bytes(j.value("bytes", 0.0))},
                  {"shortfalls", std::to_string(j.value("shortfalls", json::array()).size())},
                  {"errors", std::to_string(j.value("errors", json::object()).size())}});
  for (const auto& s : j.value("shortfalls", json::array())) {
    ctx.out << "  shortfall: " << s.value("path", "") << ": " << s.value("reason", "") << '\n';
  }
  for (auto& [node, e] : errors.items()) {
    ctx.out << "  error: " << node << ": " << e.get<std::string>() << '\n';
  }
  return kExitOk;
}

void PrintTransfers(std::ostream& out, const json& j, bool bars) {
  std::vector<std::pair<std::string, std::string>> rows = {
      {"node",
       j.value("node_id", "") + (j.value("outbound_only", false) ? " (outbound-only)" : "")},
      {"active", std::to_string(j.value("active", 0)) + " running, " +
                     std::to_string(j.value("queued", 0)) + " queued"},
      {"finished", std::to_string(j.value("done", 0)) + " done, " +
                       std::to_string(j.value("failed", 0)) + " failed"},
      {"received", Bytes(j.value("bytes_received", 0.0)) + " (" +
                       Bytes(j.value("bytes_resumed", 0.0)) + " resumed)"}};
  const json rp = j.value("received_pushes", json::object());
  if (rp.value("files", 0) + rp.value("failed", 0) > 0 ||
      !rp.value("active", json::array()).empty()) {
    rows.push_back({"pushed here", std::to_string(rp.value("files", 0)) + " files, " +
                                       Bytes(rp.value("bytes", 0.0)) + ", " +
                                       std::to_string(rp.value("failed", 0)) + " refused, " +
                                       std::to_string(rp.value("active", json::array()).size()) +
                                       " in progress"});
  }
  if (j.value("outbound_only", false)) {
    rows.push_back({"pushed", std::to_string(j.value("pushes_done", 0)) + " done, " +
                                  std::to_string(j.value("pushes_failed", 0)) + " failed, " +
                                  Bytes(j.value("bytes_sent", 0.0)) + " sent"});
  }
  const json lp = j.value("pushes", json::object());
  if (lp.value("planned", 0) + lp.value("active", 0) + lp.value("done", 0) + lp.value("failed", 0) >
      0) {
    rows.push_back({"leader pushes", std::to_string(lp.value("planned", 0)) + " planned, " +
                                         std::to_string(lp.value("active", 0)) + " active, " +
                                         std::to_string(lp.value("done", 0)) + " done, " +
                                         std::to_string(lp.value("failed", 0)) + " failed"});
  }
  PrintKeyValues(out, rows);
  Table table({"ID", "PATH", "FILES", "STATE", "PROGRESS", "RATE", "SOURCE", "ERROR"});
  table.SetAlign(2, Table::Align::kRight);
  for (const auto& t : j.value("transfers", json::array())) {
    double done = t.value("bytes_done", 0.0), total = t.value("bytes_total", 0.0);
    std::string progress = Bytes(done) + "/" + Bytes(total);
    if (bars && t.value("state", "") == "running") progress = Bar(done, total) + " " + progress;
    std::string peer = t.value("direction", "pull") == "push" ? "push to " + t.value("target", "")
                                                              : t.value("source", "");
    table.AddRow({t.value("id", ""), t.value("path", ""), std::to_string(t.value("files", 1)),
                  t.value("state", ""), progress, Bytes(t.value("rate_bytes_per_sec", 0.0)) + "/s",
                  peer, t.value("error", "")});
  }
  out << '\n';
  table.Print(out);
}

int RunStatus(Context& ctx, bool watch, double interval_s) {
  bool tty = &ctx.out == &std::cout && isatty(STDOUT_FILENO);
  for (int round = 0;; ++round) {
    Reply reply = CallGet(ctx, "/sync/status");
    if (!reply.ok()) return reply.exit_code;
    json j = Parse(reply);
    if (ctx.json()) {
      ctx.out << j.dump(2) << '\n';
    } else {
      if (watch && tty && round > 0) ctx.out << "\033[H\033[2J";  // redraw in place
      PrintTransfers(ctx.out, j, tty);
    }
    ctx.out.flush();
    if (!watch || j.value("active", 0) + j.value("queued", 0) == 0) return kExitOk;
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(interval_s * 1000)));
  }
}

}  // namespace

void RegisterSyncCommands(CLI::App& app, Commands& commands) {
  CLI::App* sync = app.add_subcommand("sync", "Data sync (leader rounds, transfers)");
  sync->require_subcommand(1);
  commands.Add(sync->add_subcommand("start",
                                    "Bring every file class to its replication target "
                                    "(leader; follows a redirect)"),
               [](Context& ctx) { return RunRound(ctx, "/sync/start"); });
  commands.Add(sync->add_subcommand("training",
                                    "Bring every sealed selfplay file to the training "
                                    "nodes (leader; follows a redirect)"),
               [](Context& ctx) { return RunRound(ctx, "/sync/training"); });
  auto watch = std::make_shared<bool>(false);
  auto interval = std::make_shared<double>(1.0);
  CLI::App* status = sync->add_subcommand("status", "Transfers of the node asked");
  status->add_flag("--watch", *watch, "Refresh until no transfer is active");
  status->add_option("--interval", *interval, "Refresh interval in seconds (--watch)")
      ->check(CLI::PositiveNumber);
  commands.Add(status,
               [watch, interval](Context& ctx) { return RunStatus(ctx, *watch, *interval); });
}

}  // namespace rift::cli
