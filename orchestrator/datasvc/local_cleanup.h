#pragma once
// Cleanup on this node (POST /cleanup, POST /cleanup/files): measure the data volume (statvfs
// of the data root), take the sealed local files with their recorded holders, re-verify each
// holder a deletion would rely on (a `Range: bytes=0-0` GET of /sync/file on the holder whose
// ETag / X-RingRift-Sha256 must equal our sha256), plan with cleanup::PlanCleanup / PlanFiles
// using only verified holders, then (unless dry_run) unlink each file beneath the data root
// (no symlink followed), record it deleted and log it with its reason and justifying holders.
//
// Blocking (network and disk I/O): call from an HTTP worker or a service thread, never with a
// lock held.
#include <functional>
#include <string>
#include <vector>

#include "orchestrator/base/status.h"
#include "orchestrator/cleanup/planner.h"
#include "orchestrator/datasvc/data_service.h"

namespace rift::datasvc {

struct CleanupRequest {
  bool dry_run = false;
  bool explicit_files = false;     // POST /cleanup/files
  std::vector<std::string> files;  // relative paths (explicit_files)
  std::string reason;              // explicit_files: logged with each deletion
  bool force = false;              // explicit_files: waives the replication rule only
  cleanup::Watermarks marks;
};

struct CleanupOutcome {
  cleanup::Volume volume;
  cleanup::CleanupPlan plan;
  std::vector<std::string> deleted;
  std::vector<cleanup::Refusal> failed;  // planned but the unlink failed
  size_t holders_checked = 0, holders_verified = 0;
};

// node id -> base URL of that node ("" if unknown: its claims cannot be verified).
using UrlOf = std::function<std::string(const std::string& node_id)>;

Result<CleanupOutcome> RunLocalCleanup(DataService* data, const CleanupRequest& request,
                                       const UrlOf& url_of);

// statvfs of `dir`.
Result<cleanup::Volume> MeasureVolume(const std::string& dir);

// Unlinks `rel` beneath `root` without following symlinks (a symlinked directory on the way
// is refused: kPermissionDenied); only regular files.
Status UnlinkBeneath(const std::string& root, const std::string& rel);

}  // namespace rift::datasvc
