#pragma once
// The shell side of remote steps, as pure functions: scripts to start a command detached, probe
// it, stop it, read its output, hash and verify files; and parsers for what they print. The
// scripts are POSIX sh and work with GNU or BSD userlands (sha256sum or shasum; setsid when
// present).
//
// A detached step owns a directory on its host:
//   launched  created atomically (noclobber) by the one launch that wins; later launches attach
//   run.sh    the command, run from the host's ringrift_path
//   pid       the detached shell's pid (a session/process-group leader when setsid exists)
//   out, err  the command's stdout and stderr
//   exit      its exit status, written (temp + rename) when it ends
// Because the process is detached (setsid + nohup, stdin from /dev/null), a dropped SSH session
// or a killed coordinator does not stop it, and a resumed pipeline attaches to the same run.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "orchestrator/base/status.h"

namespace rift::pipeline {

// Starts `command` (already expanded) in `workdir` unless `step_dir` was launched before.
// Prints "launched <pid>" or "attached <pid>".
std::string LaunchScript(const std::string& step_dir, const std::string& workdir,
                         const std::string& command);

struct LaunchReply {
  bool fresh = false;  // this call started it
  int64_t pid = 0;     // 0 when unknown (an earlier launch died before writing it)
};
Result<LaunchReply> ParseLaunch(std::string_view out);

// The last line of a command's output, surrounding whitespace trimmed (a view into `out`).
std::string_view LastLine(std::string_view out);

// Prints one line "launched=0|1 alive=0|1 exit=<n or empty> games=<n or empty>"; games counts
// the lines of the *.jsonl files under `games_dir` when it is not empty.
std::string ProbeScript(const std::string& step_dir, const std::string& games_dir);

struct Probe {
  bool launched = false;
  bool alive = false;
  std::optional<int> exit_code;  // set once the step ended
  std::optional<int64_t> games;
  // Launched, not running and no exit status: the host rebooted or someone killed it.
  bool lost() const { return launched && !alive && !exit_code; }
};
Result<Probe> ParseProbe(std::string_view out);

// Stops the step's process group (TERM, then KILL after `grace_s`).
std::string KillScript(const std::string& step_dir, int grace_s);

// Prints the last `lines` lines of stdout, a marker line, then the last `bytes` of stderr.
std::string OutputScript(const std::string& step_dir, int lines, int bytes);
struct StepOutput {
  std::string out_tail;
  std::string err_tail;
};
StepOutput ParseOutput(std::string_view out);

// The last line of `text` that starts with '{' (the workload's result line), or "".
std::string LastJsonLine(std::string_view text);

// Prints "<sha256>  <path>" per file (files that do not exist are skipped).
std::string Sha256Script(const std::vector<std::string>& paths);
// path -> lower-case hex. Malformed lines are kInternal.
Result<std::map<std::string, std::string>> ParseSha256(std::string_view out);

// Renames `part` to `final_path` when its SHA-256 is `sha256` (parents of final created), else
// deletes it. Prints "ok" or "mismatch <actual>".
std::string VerifyRenameScript(const std::string& part, const std::string& final_path,
                               const std::string& sha256);

}  // namespace rift::pipeline
