#pragma once
// Shared by process.cc (the launcher side) and shim.cc (the supervisor). Not a public header.
#include <nlohmann/json.hpp>
#include <string>

#include "orchestrator/base/status.h"
#include "orchestrator/jobs/process.h"

namespace rift::jobs::internal {

using nlohmann::json;

inline constexpr char kShimFlag[] = "--job-shim";
inline constexpr int kReportFd = 3;  // the shim's report pipe to its launcher

std::string SpecPath(const std::string& job_dir);     // spec.json: what to run (launcher)
std::string StartedPath(const std::string& job_dir);  // started.json: identities (shim)
std::string StatusPath(const std::string& job_dir);   // status.json: how it ended (shim)

// Writes `text` to `path` through a temp file and rename; with `durable`, fsyncs the file and
// its directory (the exit record must survive a crash of the machine right after).
Status WriteFileAtomic(const std::string& path, const std::string& text, bool durable);
Result<std::string> ReadWholeFile(const std::string& path);

json IdentityJson(const ProcessIdentity& id);
ProcessIdentity IdentityFromJson(const json& j);
json ExitJson(const ExitRecord& e);
json LaunchedJson(const Launched& l);

int64_t WallMillis();
const std::string& BootId();
// State letter and start time of `pid`, zombies included (false when there is no such process).
bool ReadProcStat(int pid, char* state, uint64_t* start_time);
// Closes every descriptor >= `lowest` (close_range where the kernel has it). Async-signal-safe.
void CloseFrom(int lowest, int max_fd);

}  // namespace rift::jobs::internal
