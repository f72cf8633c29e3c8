#pragma once
// Internal to improve/: the HTTP calls the service makes to nodes, and the parsing of their
// answers. Not a public header (nlohmann stays in the .cc files).
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/improve/loop.h"
#include "orchestrator/improve/scheduler.h"
#include "orchestrator/improve/service.h"

namespace rift::improve::internal {

struct Reply {
  int status = 0;  // 0 = transport error (see error)
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names (only when asked for)
  std::string error;
};

// One request. `term` > 0 is sent as X-RingRift-Term. `want_headers` streams the answer so that
// its headers come back.
Reply Call(const std::string& url, const std::string& token, const std::string& method,
           const std::string& path, const std::string& body = "", uint64_t term = 0,
           std::chrono::milliseconds timeout = std::chrono::milliseconds(3000),
           const std::vector<std::pair<std::string, std::string>>& extra = {},
           bool want_headers = false);

// Runs fn(i) for i in [0, n) on at most `threads` threads.
void ForEachParallel(size_t n, size_t threads, const std::function<void(size_t)>& fn);

// A node's GET /jobs answer: the scheduler's view and, by idempotency key, the loop's.
struct JobsListing {
  std::vector<JobView> views;
  std::map<std::string, JobStatus> by_key;
};
// kInvalidArgument for a body that is not {jobs:[...]} (or a bare array). `data_dir` (the node's
// absolute data root, "" if unknown) turns result paths into data-root-relative ones.
Result<JobsListing> ParseJobs(const std::string& body, const std::string& data_dir = "");

// Sealed version of `rel` served by the node at `url` (GET /sync/file with Range 0-0: ETag and
// Content-Range), or nullopt when it does not serve one (absent, not sealed yet, unreachable).
std::optional<FileVersion> Probe(const std::string& url, const std::string& token,
                                 const std::string& rel);

std::string CapacityJson(const Capacity& c);
Result<Capacity> ParseCapacity(const std::string& json);

// {kind, params, idempotency_key, term} for POST /start_job.
std::string StartJobBody(const std::string& kind, const std::map<std::string, std::string>& params,
                         const std::string& key, uint64_t term);
// {files:[{path, sha256, size, sources:[url]}], term} for POST /sync/pull.
std::string PullBody(const std::string& path, const FileVersion& v, const std::string& source_url,
                     uint64_t term);

}  // namespace rift::improve::internal
