#pragma once
// What every riftctl command shares: exit codes, global options, the environment, the API client
// built from them, and error reporting. Commands are plain functions over a Context so tests run
// them in-process with injected arguments, environment and streams.
#include <functional>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "orchestrator/base/status.h"
#include "orchestrator/net/api_client.h"

namespace CLI {
class App;
}  // namespace CLI

namespace rift::cli {

enum ExitCode : int {
  kExitOk = 0,
  kExitRemote = 1,       // the cluster answered with an error, or the operation failed
  kExitUsage = 2,        // bad command line or local configuration (token file, addresses)
  kExitUnreachable = 3,  // no address answered
};

using Environment = std::map<std::string, std::string>;
Environment ProcessEnvironment();

inline constexpr char kDefaultAddr[] = "http://127.0.0.1:8770";
inline constexpr char kEnvAddr[] = "RINGRIFT_ADDR";
inline constexpr char kEnvToken[] = "RINGRIFT_CLUSTER_AUTH_TOKEN";
inline constexpr char kEnvTokenFile[] = "RINGRIFT_CLUSTER_AUTH_TOKEN_FILE";

// Global options as parsed (before environment defaults are applied).
struct GlobalFlags {
  std::vector<std::string> addrs;
  std::string token;
  std::string token_file;
  std::string output = "text";
  double timeout_s = 5.0;
};

struct Context {
  std::ostream& out;
  std::ostream& err;
  Environment env;
  GlobalFlags flags;

  bool json() const { return flags.output == "json"; }
  // Value of an environment variable, "" when unset.
  std::string Env(const std::string& key) const;
};

// Reads a token file: refused when group/world-readable (kPermissionDenied), missing or
// unreadable (kNotFound), or empty (kInvalidArgument). Surrounding whitespace is stripped.
Result<std::string> ReadTokenFile(const std::string& path);

// --addr, else RINGRIFT_ADDR (comma-separated), else the local daemon; normalized.
Result<std::vector<std::string>> ResolveAddrs(const Context& ctx);
// --token > --token-file > RINGRIFT_CLUSTER_AUTH_TOKEN > RINGRIFT_CLUSTER_AUTH_TOKEN_FILE;
// "" = none.
Result<std::string> ResolveToken(const Context& ctx);

// The outcome of one API call: `exit_code` kExitOk with a 2xx `response`, or the code of a
// failure that has already been reported on ctx.err.
struct Reply {
  int exit_code = kExitOk;
  net::ApiResponse response;
  bool ok() const { return exit_code == kExitOk; }
};
enum class Target { kAny, kLeader };  // kLeader follows a 421 to the leader once
Reply CallGet(Context& ctx, const std::string& path, Target target = Target::kAny);
Reply CallPost(Context& ctx, const std::string& path, const std::string& body,
               Target target = Target::kAny);

// Prints "riftctl: <message>" for a local failure and returns the matching exit code
// (kUnavailable -> 3, usage/config problems -> 2, else 1).
int ReportStatus(Context& ctx, const Status& status);

// Registry from CLI11 subcommands to the functions that run them.
using Handler = std::function<int(Context&)>;
class Commands {
 public:
  void Add(CLI::App* subcommand, Handler handler);
  // The handler of the deepest subcommand the command line selected, or nullptr.
  const Handler* Selected() const;

 private:
  struct Entry {
    CLI::App* app;
    int depth;
    Handler handler;
  };
  std::vector<Entry> entries_;
};

}  // namespace rift::cli
