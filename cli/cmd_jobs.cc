// riftctl jobs list|show|start|stop|logs, selfplay start, train nnue|cmaes: the jobs of one node
// (the node asked, or --node ID resolved through its /status).
#include <CLI/CLI.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "cli/common.h"
#include "cli/output.h"
#include "cli/riftctl.h"

namespace rift::cli {
namespace {

using json = nlohmann::json;

constexpr auto kPollInterval = std::chrono::milliseconds(200);
constexpr uint64_t kDefaultTail = 64 << 10;

struct JobsFlags {
  std::string node, kind, state, id, key;
  std::vector<std::string> params;
  bool follow = false, no_wait = false;
  uint64_t tail = kDefaultTail;
  double wait_s = 60;
  int games = 0;
};

json Parse(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : json::object();
}

bool Finished(const json& job) {
  std::string s = job.value("state", "");
  return s == "exited" || s == "failed" || s == "stopped" || s == "lost";
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Sends every following request to member `id`, whose URL the node asked knows from /status.
int UseNode(Context& ctx, const std::string& id) {
  if (id.empty()) return kExitOk;
  Reply reply = CallGet(ctx, "/status");
  if (!reply.ok()) return reply.exit_code;
  json j = Parse(reply.response.body);
  std::string url = j.value("node_id", "") == id ? reply.response.addr_used : "";
  for (const auto& m : j.value("members", json::array())) {
    if (m.value("node_id", "") == id && m.value("state", "") != "dead") url = m.value("url", "");
  }
  if (url.empty()) {
    ctx.err << "riftctl: no live member '" << id << "' known to " << reply.response.addr_used
            << '\n';
    return kExitRemote;
  }
  ctx.flags.addrs = {url};
  return kExitOk;
}

int ParseParams(Context& ctx, const std::vector<std::string>& kvs, json* out) {
  *out = json::object();
  for (const auto& kv : kvs) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      ctx.err << "riftctl: --param expects KEY=VALUE, got '" << kv << "'\n";
      return kExitUsage;
    }
    (*out)[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return kExitOk;
}

std::string NewKey() {
  std::random_device rd;
  char buf[40];
  std::snprintf(buf, sizeof buf, "riftctl-%08x%08x", rd(), rd());
  return buf;
}

std::string ExitText(const json& j) {
  if (j.contains("exit_code")) return "exit " + std::to_string(j["exit_code"].get<int>());
  if (j.contains("signal")) return "signal " + std::to_string(j["signal"].get<int>());
  return "";
}

std::string Started(const json& j) {
  int64_t ms = j.value("started_ms", int64_t{0});
  return ms > 0 ? FormatAge(NowMs() - ms) : "-";
}

void PrintJob(std::ostream& out, const json& j) {
  std::vector<std::pair<std::string, std::string>> rows = {
      {"id", j.value("id", "")},
      {"kind", j.value("kind", "")},
      {"node", j.value("node", "")},
      {"state", j.value("state", "") + (j.value("stop_requested", false) &&
                                                !Finished(j) ? " (stopping)" : "")},
      {"pid", std::to_string(j.value("pid", 0))},
      {"started", Started(j)},
  };
  if (!ExitText(j).empty()) rows.push_back({"exit", ExitText(j)});
  if (j.contains("error")) rows.push_back({"error", j["error"].get<std::string>()});
  std::string argv;
  for (const auto& a : j.value("argv", json::array())) argv += (argv.empty() ? "" : " ") + a.get<std::string>();
  rows.push_back({"argv", argv});
  rows.push_back({"out_dir", j.value("out_dir", "")});
  rows.push_back({"log", j.value("log_path", "")});
  if (j.contains("gpus") && !j["gpus"].empty()) rows.push_back({"gpus", j["gpus"].dump()});
  if (j.contains("idempotency_key")) rows.push_back({"key", j["idempotency_key"].get<std::string>()});
  if (j.contains("term")) rows.push_back({"term", j["term"].dump()});
  if (j.contains("result")) rows.push_back({"result", j["result"].dump()});
  PrintKeyValues(out, rows);
}

int RunStart(Context& ctx, const std::string& path, const std::string& kind, JobsFlags f) {
  if (int rc = UseNode(ctx, f.node); rc != kExitOk) return rc;
  json params;
  if (int rc = ParseParams(ctx, f.params, &params); rc != kExitOk) return rc;
  if (f.games > 0) params["games"] = std::to_string(f.games);
  // A key makes a retry safe: the node answers it with the job it already started.
  json body = {{"params", params}, {"idempotency_key", f.key.empty() ? NewKey() : f.key}};
  if (!kind.empty()) body["kind"] = kind;
  Reply reply = CallPost(ctx, path, body.dump());
  if (reply.exit_code == kExitUnreachable) {
    ctx.err << "riftctl: retrying once with the same idempotency key\n";
    reply = CallPost(ctx, path, body.dump());
  }
  if (!reply.ok()) return reply.exit_code;
  json job = Parse(reply.response.body).value("job", json::object());
  if (ctx.json()) {
    ctx.out << reply.response.body << '\n';
    return kExitOk;
  }
  ctx.out << (reply.response.status == 201 ? "started " : "already started (same key): ")
          << job.value("id", "") << " (" << job.value("kind", "") << ") on "
          << job.value("node", "") << ", pid " << job.value("pid", 0) << ", state "
          << job.value("state", "") << '\n';
  return kExitOk;
}

int RunList(Context& ctx, const JobsFlags& f) {
  if (int rc = UseNode(ctx, f.node); rc != kExitOk) return rc;
  std::string q;
  if (!f.kind.empty()) q += "kind=" + f.kind;
  if (!f.state.empty()) q += (q.empty() ? "" : "&") + std::string("state=") + f.state;
  Reply reply = CallGet(ctx, "/jobs" + (q.empty() ? "" : "?" + q));
  if (!reply.ok()) return reply.exit_code;
  if (ctx.json()) {
    ctx.out << reply.response.body << '\n';
    return kExitOk;
  }
  Table table({"ID", "KIND", "STATE", "PID", "STARTED", "EXIT", "RESULT"});
  table.SetAlign(3, Table::Align::kRight);
  for (const auto& j : Parse(reply.response.body).value("jobs", json::array())) {
    std::string result = j.contains("result") ? j["result"].dump() : j.value("error", "");
    if (result.size() > 60) result = result.substr(0, 57) + "...";
    table.AddRow({j.value("id", ""), j.value("kind", ""), j.value("state", ""),
                  std::to_string(j.value("pid", 0)), Started(j), ExitText(j), result});
  }
  if (table.rows() == 0) {
    ctx.out << "no jobs\n";
  } else {
    table.Print(ctx.out);
  }
  return kExitOk;
}

int RunShow(Context& ctx, const JobsFlags& f) {
  if (int rc = UseNode(ctx, f.node); rc != kExitOk) return rc;
  Reply reply = CallGet(ctx, "/jobs/" + f.id);
  if (!reply.ok()) return reply.exit_code;
  if (ctx.json()) {
    ctx.out << reply.response.body << '\n';
  } else {
    PrintJob(ctx.out, Parse(reply.response.body).value("job", json::object()));
  }
  return kExitOk;
}

int RunStop(Context& ctx, const JobsFlags& f) {
  if (int rc = UseNode(ctx, f.node); rc != kExitOk) return rc;
  Reply reply = CallPost(ctx, "/stop_job", json{{"job_id", f.id}}.dump());
  if (!reply.ok()) return reply.exit_code;
  json job = Parse(reply.response.body).value("job", json::object());
  auto deadline = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<int64_t>(f.wait_s * 1000));
  while (!f.no_wait && !Finished(job) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(kPollInterval);
    Reply r = CallGet(ctx, "/jobs/" + f.id);
    if (!r.ok()) return r.exit_code;
    job = Parse(r.response.body).value("job", json::object());
  }
  if (ctx.json()) {
    ctx.out << json{{"job", job}}.dump() << '\n';
  } else {
    ctx.out << job.value("id", "") << ": " << job.value("state", "")
            << (ExitText(job).empty() ? "" : " (" + ExitText(job) + ")") << '\n';
  }
  if (!f.no_wait && !Finished(job)) {
    ctx.err << "riftctl: " << f.id << " still runs after " << f.wait_s << " s\n";
    return kExitRemote;
  }
  return kExitOk;
}

int RunLogs(Context& ctx, const JobsFlags& f) {
  if (int rc = UseNode(ctx, f.node); rc != kExitOk) return rc;
  std::string base = "/jobs/" + f.id + "/log?tail=";
  if (!f.follow) {
    Reply reply = CallGet(ctx, base + std::to_string(f.tail));
    if (!reply.ok()) return reply.exit_code;
    ctx.out << reply.response.body;
    return kExitOk;
  }
  Result<std::vector<std::string>> addrs = ResolveAddrs(ctx);
  if (!addrs.ok()) return ReportStatus(ctx, addrs.status());
  Result<std::string> token = ResolveToken(ctx);
  if (!token.ok()) return ReportStatus(ctx, token.status());
  net::ApiClient client(*addrs, *token);
  uint64_t tail = f.tail;
  while (true) {  // the daemon ends a follow after a quiet spell: follow again while it runs
    auto res = client.GetStream(
        base + std::to_string(tail) + "&follow=1",
        [&](std::string_view data) {
          ctx.out.write(data.data(), static_cast<std::streamsize>(data.size()));
          ctx.out.flush();
          return static_cast<bool>(ctx.out);
        },
        std::chrono::minutes(5));
    if (!res.ok()) return ReportStatus(ctx, res.status());
    if (!res->ok()) {
      net::ApiError e = net::ParseApiError(*res);
      ctx.err << "riftctl: " << e.code << ": " << e.message << " (HTTP " << res->status << ")\n";
      return kExitRemote;
    }
    Reply r = CallGet(ctx, "/jobs/" + f.id);
    if (!r.ok()) return r.exit_code;
    if (Finished(Parse(r.response.body).value("job", json::object()))) return kExitOk;
    tail = 0;
  }
}

void AddNode(CLI::App* app, JobsFlags* f) {
  app->add_option("--node", f->node, "Node id (resolved through the node asked; default: it)");
}

void AddStartOptions(CLI::App* app, JobsFlags* f) {
  app->add_option("--param", f->params, "Job parameter KEY=VALUE (repeatable)");
  app->add_option("--key", f->key,
                  "Idempotency key: a retry with the same key returns the same job "
                  "(default: a new random key)");
  AddNode(app, f);
}

}  // namespace

void RegisterJobsCommands(CLI::App& app, Commands& commands) {
  auto f = std::make_shared<JobsFlags>();
  CLI::App* jobs = app.add_subcommand("jobs", "Jobs of a node (list, show, start, stop, logs)");
  jobs->require_subcommand(1);

  CLI::App* list = jobs->add_subcommand("list", "Jobs of the node, newest first");
  list->add_option("--kind", f->kind, "Only this kind");
  list->add_option("--state", f->state, "Only this state (running, exited, failed, ...)");
  AddNode(list, f.get());
  commands.Add(list, [f](Context& ctx) { return RunList(ctx, *f); });

  CLI::App* show = jobs->add_subcommand("show", "One job in full (argv, result, error)");
  show->add_option("ID", f->id, "Job id")->required();
  AddNode(show, f.get());
  commands.Add(show, [f](Context& ctx) { return RunShow(ctx, *f); });

  CLI::App* start = jobs->add_subcommand("start", "Start a job of a catalogue kind");
  start->add_option("KIND", f->kind, "Kind: selfplay, gpu_selfplay, training.nnue, eval, ...")
      ->required();
  AddStartOptions(start, f.get());
  commands.Add(start, [f](Context& ctx) { return RunStart(ctx, "/start_job", f->kind, *f); });

  CLI::App* stop = jobs->add_subcommand("stop", "Stop a job (SIGTERM, SIGKILL after the grace)");
  stop->add_option("ID", f->id, "Job id")->required();
  stop->add_flag("--no-wait", f->no_wait, "Return at once instead of waiting for the end");
  stop->add_option("--wait", f->wait_s, "Seconds to wait for the job to end (default 60)")
      ->check(CLI::PositiveNumber);
  AddNode(stop, f.get());
  commands.Add(stop, [f](Context& ctx) { return RunStop(ctx, *f); });

  CLI::App* logs = jobs->add_subcommand("logs", "A job's log (stdout and stderr)");
  logs->add_option("ID", f->id, "Job id")->required();
  logs->add_flag("-f,--follow", f->follow, "Keep printing until the job ends");
  logs->add_option("--tail", f->tail, "Bytes from the end to start with (default 65536)");
  AddNode(logs, f.get());
  commands.Add(logs, [f](Context& ctx) { return RunLogs(ctx, *f); });

  CLI::App* selfplay = app.add_subcommand("selfplay", "Selfplay jobs");
  selfplay->require_subcommand(1);
  CLI::App* sp_start = selfplay->add_subcommand("start", "Start a selfplay job");
  sp_start->add_option("--games", f->games, "Games to play (default: the kind's)")
      ->check(CLI::PositiveNumber);
  AddStartOptions(sp_start, f.get());
  commands.Add(sp_start, [f](Context& ctx) { return RunStart(ctx, "/start_job", "selfplay", *f); });

  CLI::App* train = app.add_subcommand("train", "Start a training job");
  train->require_subcommand(1);
  for (const char* which : {"nnue", "cmaes"}) {
    CLI::App* t = train->add_subcommand(which, std::string("Start training.") + which);
    AddStartOptions(t, f.get());
    std::string path = std::string("/training/") + which + "/start";
    commands.Add(t, [f, path](Context& ctx) { return RunStart(ctx, path, "", *f); });
  }
}

}  // namespace rift::cli
