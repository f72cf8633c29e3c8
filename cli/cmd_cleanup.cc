// riftctl cleanup [--node ID | --all] [--dry-run] [--files F... --reason R [--force]]: asks a
// node (or, with --all, the leader for the whole cluster) to free space by policy, or to delete
// the listed files under the same rules.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/output.h"
#include "cli/riftctl.h"

namespace rift::cli {
namespace {

using json = nlohmann::json;

struct CleanupFlags {
  std::string node;
  bool all = false, dry_run = false, force = false;
  std::vector<std::string> files;
  std::string reason;
};

// The URL of member `id` as the node asked sees it (itself included); an exit code on failure
// (already reported).
int NodeUrl(Context& ctx, const std::string& id, std::string* url) {
  Reply reply = CallGet(ctx, "/status");
  if (!reply.ok()) return reply.exit_code;
  json j = json::parse(reply.response.body, nullptr, false);
  if (!j.is_object()) return ReportStatus(ctx, Internal("invalid /status answer"));
  *url = j.value("node_id", "") == id ? reply.response.addr_used : "";
  for (const auto& m : j.value("members", json::array())) {
    if (m.value("node_id", "") == id) *url = m.value("url", "");
  }
  if (url->empty()) {
    ctx.err << "riftctl: no member '" << id << "' known to " << reply.response.addr_used << '\n';
    return kExitRemote;
  }
  return kExitOk;
}

void PrintResult(std::ostream& out, const json& r) {
  std::string node = r.value("node_id", "?");
  const json vol = r.value("volume", json::object());
  out << node << ": " << (r.value("dry_run", false) ? "would delete " : "deleted ")
      << r.value("deletions", json::array()).size() << " files, "
      << r.value("bytes_freed", uint64_t{0}) << " bytes (volume "
      << static_cast<int>(100 * vol.value("used_fraction", 0.0)) << "% used)\n";
  for (const auto& d : r.value("deletions", json::array())) {
    out << "  - " << d.value("path", "") << ": " << d.value("reason", "") << '\n';
  }
  for (const auto& d : r.value("refused", json::array())) {
    out << "  kept " << d.value("path", "") << ": " << d.value("reason", "") << '\n';
  }
  for (const auto& d : r.value("failed", json::array())) {
    out << "  FAILED " << d.value("path", "") << ": " << d.value("reason", "") << '\n';
  }
}

int RunCleanup(Context& ctx, const CleanupFlags& f) {
  if (!f.files.empty() && f.reason.empty()) {
    ctx.err << "riftctl: --files needs --reason\n";
    return kExitUsage;
  }
  if (f.all && !f.files.empty()) {
    ctx.err << "riftctl: --all applies to policy cleanup only (not --files)\n";
    return kExitUsage;
  }
  if (!f.node.empty()) {
    std::string url;
    if (int rc = NodeUrl(ctx, f.node, &url); rc != kExitOk) return rc;
    ctx.flags.addrs = {url};
  }
  json body = {{"dry_run", f.dry_run}};
  std::string path = "/cleanup";
  if (!f.files.empty()) {
    path = "/cleanup/files";
    body["files"] = f.files;
    body["reason"] = f.reason;
    body["force"] = f.force;
  }
  if (f.all) body["scope"] = "cluster";
  Reply reply = CallPost(ctx, path, body.dump(), f.all ? Target::kLeader : Target::kAny);
  if (!reply.ok()) return reply.exit_code;
  json j = json::parse(reply.response.body, nullptr, false);
  if (ctx.json() || !j.is_object()) {
    ctx.out << (j.is_discarded() ? reply.response.body : j.dump(2)) << '\n';
    return kExitOk;
  }
  if (!f.all) {
    PrintResult(ctx.out, j);
    return kExitOk;
  }
  int rc = kExitOk;
  const json nodes = j.value("nodes", json::object());
  for (auto& [node, r] : nodes.items()) {
    if (r.value("status", 0) != 200) {
      ctx.out << node << ": failed: " << r.value("error", "") << ' ' << r["result"].dump() << '\n';
      rc = kExitRemote;
    } else {
      PrintResult(ctx.out, r["result"]);
    }
  }
  return rc;
}

}  // namespace

void RegisterCleanupCommands(CLI::App& app, Commands& commands) {
  auto f = std::make_shared<CleanupFlags>();
  CLI::App* c = app.add_subcommand("cleanup", "Free space on a node by policy, or delete files");
  auto* node = c->add_option("--node", f->node, "Node id to clean (default: the node asked)");
  c->add_flag("--all", f->all, "Every alive node (through the leader)")->excludes(node);
  c->add_flag("--dry-run", f->dry_run, "Show the plan, delete nothing");
  c->add_option("--files", f->files, "Delete these files (relative to the data tree)");
  c->add_flag("--force", f->force, "With --files: waive the replication rule (never protection)");
  c->add_option("--reason", f->reason, "With --files: why (logged with each deletion)");
  commands.Add(c, [f](Context& ctx) { return RunCleanup(ctx, *f); });
}

}  // namespace rift::cli
