// riftctl status | nodes list | leader: views of the daemon's GET /status.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/output.h"
#include "cli/riftctl.h"
#include "orchestrator/base/time.h"

namespace rift::cli {
namespace {

using json = nlohmann::json;

// Epoch milliseconds are above this; smaller `last_seen_ms` values are ages.
constexpr int64_t kEpochMillisFloor = 1'000'000'000'000;

std::string Str(const json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return "";
  const json& v = j[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

bool Bool(const json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_boolean() && j[key].get<bool>();
}

std::string LastSeen(const json& member) {
  if (!member.contains("last_seen_ms") || !member["last_seen_ms"].is_number()) return "-";
  auto v = member["last_seen_ms"].get<int64_t>();
  int64_t age = v >= kEpochMillisFloor ? RealTime().WallMillis() - v : v;
  return FormatAge(age);
}

// GET /status and parse it; on failure the problem is reported and the exit code returned.
int FetchStatus(Context& ctx, json* doc, std::string* addr_used) {
  Reply reply = CallGet(ctx, "/status");
  if (!reply.ok()) return reply.exit_code;
  *doc = json::parse(reply.response.body, nullptr, /*allow_exceptions=*/false);
  if (!doc->is_object()) {
    ctx.err << "riftctl: " << reply.response.addr_used << " answered /status with invalid JSON\n";
    return kExitRemote;
  }
  *addr_used = reply.response.addr_used;
  return kExitOk;
}

// The members, sorted by id, with this node added when the daemon leaves itself out.
json MembersWithSelf(const json& status, const std::string& addr_used) {
  json members = status.contains("members") && status["members"].is_array() ? status["members"]
                                                                            : json::array();
  std::string self = Str(status, "node_id");
  bool has_self = std::any_of(members.begin(), members.end(),
                              [&](const json& m) { return Str(m, "node_id") == self; });
  if (!has_self && !self.empty()) {
    members.push_back({{"node_id", self},
                       {"url", addr_used},
                       {"state", "alive"},
                       {"incarnation", status.value("incarnation", json())},
                       {"voter", Bool(status, "voter")},
                       {"last_seen_ms", 0}});
  }
  std::sort(members.begin(), members.end(),
            [](const json& a, const json& b) { return Str(a, "node_id") < Str(b, "node_id"); });
  return members;
}

void PrintMembers(std::ostream& out, const json& members, const std::string& leader_id) {
  Table table({"NODE", "URL", "STATE", "INCARNATION", "VOTER", "LAST SEEN"});
  table.SetAlign(3, Table::Align::kRight);
  for (const json& m : members) {
    std::string id = Str(m, "node_id");
    if (!leader_id.empty() && id == leader_id) id += " (leader)";
    std::string inc = Str(m, "incarnation");
    table.AddRow({id, Str(m, "url"), Str(m, "state"), inc.empty() ? "-" : inc,
                  YesNo(Bool(m, "voter")), LastSeen(m)});
  }
  table.Print(out);
}

std::string MemberSummary(const json& members) {
  int alive = 0, suspect = 0, dead = 0;
  for (const json& m : members) {
    std::string s = Str(m, "state");
    alive += s == "alive";
    suspect += s == "suspect";
    dead += s == "dead";
  }
  return std::to_string(members.size()) + " (" + std::to_string(alive) + " alive, " +
         std::to_string(suspect) + " suspect, " + std::to_string(dead) + " dead)";
}

int RunStatus(Context& ctx) {
  json doc;
  std::string addr;
  if (int rc = FetchStatus(ctx, &doc, &addr); rc != kExitOk) return rc;
  if (ctx.json()) {
    ctx.out << doc.dump(2) << '\n';
    return kExitOk;
  }
  std::string leader = Str(doc, "leader_id");
  std::string leader_url = Str(doc, "leader_url");
  json members = MembersWithSelf(doc, addr);
  std::string role = Str(doc, "role");
  if (Bool(doc, "voter")) role += ", voter";
  PrintKeyValues(
      ctx.out, {{"node", Str(doc, "node_id") + " (" + role + ") via " + addr},
                {"term", Str(doc, "term")},
                {"leader", leader.empty() ? "none known"
                                          : leader + (leader_url.empty() ? "" : "  " + leader_url)},
                {"quorum", YesNo(Bool(doc, "quorum"))},
                {"members", MemberSummary(members)}});
  ctx.out << '\n';
  PrintMembers(ctx.out, members, leader);
  if (doc.contains("conflicts") && doc["conflicts"].is_array() && !doc["conflicts"].empty()) {
    ctx.out << "\nCONFLICTS (one node id claimed by several processes):\n";
    for (const json& c : doc["conflicts"])
      ctx.out << "  " << (c.is_string() ? c.get<std::string>() : c.dump()) << '\n';
  }
  return kExitOk;
}

int RunNodesList(Context& ctx) {
  json doc;
  std::string addr;
  if (int rc = FetchStatus(ctx, &doc, &addr); rc != kExitOk) return rc;
  json members = MembersWithSelf(doc, addr);
  if (ctx.json()) {
    ctx.out << members.dump(2) << '\n';
  } else {
    PrintMembers(ctx.out, members, Str(doc, "leader_id"));
  }
  return kExitOk;
}

int RunLeader(Context& ctx) {
  json doc;
  std::string addr;
  if (int rc = FetchStatus(ctx, &doc, &addr); rc != kExitOk) return rc;
  std::string leader = Str(doc, "leader_id");
  if (ctx.json()) {
    ctx.out << json{{"leader_id", doc.value("leader_id", json())},
                    {"leader_url", doc.value("leader_url", json())},
                    {"term", doc.value("term", json())}}
                   .dump(2)
            << '\n';
  } else if (!leader.empty()) {
    PrintKeyValues(
        ctx.out, {{"leader", leader}, {"url", Str(doc, "leader_url")}, {"term", Str(doc, "term")}});
  }
  if (leader.empty()) {
    ctx.err << "riftctl: no leader known to " << Str(doc, "node_id") << " at " << addr << " (term "
            << Str(doc, "term") << ", quorum " << YesNo(Bool(doc, "quorum")) << ")\n";
    return kExitRemote;
  }
  return kExitOk;
}

}  // namespace

void RegisterStatusCommands(CLI::App& app, Commands& commands) {
  commands.Add(app.add_subcommand("status", "Cluster status as this node sees it"), RunStatus);
  CLI::App* nodes = app.add_subcommand("nodes", "Cluster members");
  nodes->require_subcommand(1);
  commands.Add(nodes->add_subcommand("list", "List members (including the node asked)"),
               RunNodesList);
  commands.Add(app.add_subcommand("leader", "Current leader (exit 1 when none is known)"),
               RunLeader);
}

}  // namespace rift::cli
