// riftctl config check: validate node.conf, distributed_hosts.yaml and the environment locally,
// printing every problem as `file:line: key: message` (the same checks as
// `ringrift-p2p --check-config`).
#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/output.h"
#include "cli/riftctl.h"
#include "orchestrator/settings/settings.h"

namespace rift::cli {
namespace {

using json = nlohmann::json;

struct ConfigCheckOptions {
  std::string node_conf;
  std::string hosts_yaml;
};

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

int RunConfigCheck(Context& ctx, const ConfigCheckOptions& opts) {
  settings::Sources sources;
  sources.env = ctx.env;  // Load only looks at the keys it knows
  if (!opts.node_conf.empty()) sources.node_conf_path = opts.node_conf;
  if (!opts.hosts_yaml.empty()) sources.hosts_yaml_path = opts.hosts_yaml;

  std::vector<settings::Problem> problems;
  Result<settings::Settings> loaded = settings::Load(sources, &problems);
  if (loaded.ok()) settings::CheckDeployment(*loaded, &problems);

  int errors = 0, warnings = 0;
  for (const auto& p : problems) {
    (p.severity == settings::Problem::Severity::kError ? errors : warnings)++;
  }
  bool ok = loaded.ok() && errors == 0;

  if (ctx.json()) {
    json doc = {
        {"ok", ok}, {"errors", errors}, {"warnings", warnings}, {"problems", json::array()}};
    for (const auto& p : problems) {
      doc["problems"].push_back(
          {{"severity", p.severity == settings::Problem::Severity::kError ? "error" : "warning"},
           {"file", p.file},
           {"line", p.line},
           {"key", p.key},
           {"message", p.message}});
    }
    if (loaded.ok()) {
      doc["settings"] = {{"node_id", loaded->node_id},
                         {"port", loaded->port},
                         {"advertise_url", loaded->advertise_url},
                         {"voters", loaded->voters},
                         {"hosts", loaded->hosts.size()},
                         {"hosts_file", loaded->hosts_file}};
    }
    ctx.out << doc.dump(2) << '\n';
  } else {
    for (const auto& p : problems) ctx.out << p.ToString() << '\n';
    if (ok) {
      const settings::Settings& s = *loaded;
      PrintKeyValues(ctx.out,
                     {{"config", warnings == 0 ? "OK" : "OK with warnings"},
                      {"node", s.node_id.empty() ? "(unset)" : s.node_id},
                      {"port", std::to_string(s.port)},
                      {"voters", s.voters.empty() ? "(none)" : Join(s.voters)},
                      {"hosts", std::to_string(s.hosts.size()) +
                                    (s.hosts_file.empty() ? "" : " from " + s.hosts_file)}});
    } else {
      ctx.err << "riftctl: config check failed: " << errors << " error(s), " << warnings
              << " warning(s)\n";
    }
  }
  return ok ? kExitOk : kExitRemote;
}

}  // namespace

void RegisterConfigCommands(CLI::App& app, Commands& commands) {
  CLI::App* config = app.add_subcommand("config", "Node configuration");
  config->require_subcommand(1);
  auto opts = std::make_shared<ConfigCheckOptions>();
  CLI::App* check = config->add_subcommand(
      "check", "Check node.conf, distributed_hosts.yaml and the environment; report every problem");
  check->add_option("--config", opts->node_conf,
                    "node.conf to check (default: /etc/ringrift/node.conf when present)");
  check->add_option(
      "--hosts", opts->hosts_yaml,
      "distributed_hosts.yaml (default: $RINGRIFT_DIR/config/distributed_hosts.yaml)");
  commands.Add(check, [opts](Context& ctx) { return RunConfigCheck(ctx, *opts); });
}

}  // namespace rift::cli
