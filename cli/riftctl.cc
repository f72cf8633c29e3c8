#include "cli/riftctl.h"

#include <CLI/CLI.hpp>
#include <algorithm>

namespace rift::cli {

int RunRiftctl(std::vector<std::string> args, std::ostream& out, std::ostream& err,
               Environment env) {
  Context ctx{out, err, std::move(env), {}};
  CLI::App app{"riftctl: operate a ringrift cluster", "riftctl"};
  app.require_subcommand(1);
  app.fallthrough();  // global options are accepted after the subcommand too (inherited)
  app.footer(
      "Exit codes: 0 ok, 1 remote or operation error, 2 usage, 3 unreachable.\n"
      "Environment: RINGRIFT_ADDR (comma-separated), RINGRIFT_CLUSTER_AUTH_TOKEN, "
      "RINGRIFT_CLUSTER_AUTH_TOKEN_FILE.\n");

  GlobalFlags& f = ctx.flags;
  app.add_option("--addr", f.addrs,
                 "Daemon address (http://host:port or host[:port]); repeatable or comma-"
                 "separated, tried in order. Default: $RINGRIFT_ADDR, else " +
                     std::string(kDefaultAddr))
      ->delimiter(',')
      ->allow_extra_args(false);
  auto* token = app.add_option("--token", f.token, "Cluster auth token (prefer --token-file)");
  app.add_option("--token-file", f.token_file, "File holding the cluster token (mode 0600)")
      ->excludes(token);
  app.add_option("-o,--output", f.output, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--timeout", f.timeout_s, "Per-request read timeout in seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  Commands commands;
  RegisterStatusCommands(app, commands);
  RegisterSyncCommands(app, commands);
  RegisterCleanupCommands(app, commands);
  RegisterImprovementCommands(app, commands);
  RegisterJobsCommands(app, commands);
#ifdef RIFT_CLI_HAVE_SETTINGS
  RegisterConfigCommands(app, commands);
#endif
#ifdef RIFT_CLI_HAVE_PIPELINE
  RegisterPipelineCommands(app, commands);
  RegisterSshCommands(app, commands);
#endif

  std::reverse(args.begin(), args.end());  // CLI11 consumes the vector from the back
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e, out, err);
    return code == 0 ? kExitOk : kExitUsage;
  }
  const Handler* handler = commands.Selected();
  if (handler == nullptr) {
    err << "riftctl: missing command\n" << app.help();
    return kExitUsage;
  }
  return (*handler)(ctx);
}

}  // namespace rift::cli
