#pragma once
// Cleanup planning, pure: which local files may be deleted to bring the data volume from above
// its high watermark down to its low watermark (hysteresis: start above high, stop at low).
//
// Rules (never broken, whatever the request says, except `force` for the last one only):
//  1. Never a file of a protected class (current and candidate models) — not even with force.
//  2. Never a file that is not sealed (it may still be written).
//  3. Never a file below its replication target: a file may go only if at least `replication`
//     *other* nodes hold a verified copy of the same sha256 (the holders that justify it are
//     returned with the decision). Classes with replication 1 (tmp, logs) need no copies.
//     `force` (explicit, for POST /cleanup/files) waives this rule only.
//  Order: lowest cleanup_rank first (tmp, then logs, then replicated data), oldest mtime first
//  within a rank, then path (deterministic).
#include <cstdint>
#include <string>
#include <vector>

#include "orchestrator/inventory/types.h"

namespace rift::cleanup {

struct Volume {
  uint64_t total = 0;  // bytes (statvfs of the data root)
  uint64_t free = 0;
};

struct Watermarks {
  double high = 0.80;  // start when used fraction is above this
  double low = 0.70;   // stop when at or below this
};

struct Candidate {
  inventory::FileRecord record;
  std::vector<inventory::Holder> holders;  // verified copies on other nodes
};

struct Deletion {
  std::string path;
  uint64_t size = 0;
  std::string reason;                     // e.g. "above high watermark: logs, 3 days old"
  std::vector<std::string> justified_by;  // holder node ids (empty for replication-1 classes)
};

struct Refusal {
  std::string path;
  std::string reason;  // "protected class models", "not sealed", "only 1 of 2 copies verified"
};

struct CleanupPlan {
  bool needed = false;  // used fraction above high watermark
  uint64_t bytes_to_free = 0;
  std::vector<Deletion> deletions;
  std::vector<Refusal> refusals;  // files considered and kept, with why
  uint64_t bytes_freed = 0;       // sum of deletions
  bool reaches_low_watermark = false;
};

// Policy-driven cleanup (POST /cleanup): nothing if used <= high watermark.
CleanupPlan PlanCleanup(const Volume& volume, const Watermarks& marks,
                        const std::vector<Candidate>& candidates,
                        const std::vector<inventory::FileClass>& classes);

// Explicit deletion (POST /cleanup/files): every listed file is either deleted or refused with
// the reason; `force` waives only the replication rule.
CleanupPlan PlanFiles(const std::vector<Candidate>& requested,
                      const std::vector<inventory::FileClass>& classes, bool force);

}  // namespace rift::cleanup
