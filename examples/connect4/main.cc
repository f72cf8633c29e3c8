// rift-c4: the bundled example workload (Connect Four). Everything but signals and argv lives
// in RunC4 (examples/connect4/cli.h).
#include <csignal>
#include <iostream>
#include <string>
#include <vector>

#include "examples/connect4/cli.h"

namespace {
std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);
extern "C" void OnStop(int) { g_stop.store(true); }
}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // Only selfplay turns SIGTERM/SIGINT into "finish this game, keep the file, exit 0"; the other
  // commands write their output atomically at the end, so dying mid-way loses nothing.
  if (!args.empty() && args[0] == "selfplay") {
    struct sigaction sa {};
    sa.sa_handler = OnStop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
  }
  return rift::c4::RunC4(std::move(args), std::cout, std::cerr, &g_stop);
}
