#pragma once
// rift-c4 as a function, so tests run it in-process. `args` excludes the program name. Output
// (the final JSON line of each command) goes to `out`, diagnostics to `err`. `stop`, when set,
// asks selfplay to finish the current game, keep what was played and return 0 (SIGTERM).
// Exit codes: 0 ok, 1 error (missing input, corrupt model, I/O), 2 usage.
#include <atomic>
#include <ostream>
#include <string>
#include <vector>

namespace rift::c4 {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;

int RunC4(std::vector<std::string> args, std::ostream& out, std::ostream& err,
          const std::atomic<bool>* stop = nullptr);

}  // namespace rift::c4
