#pragma once
// The filesystem half of Inventory::Scan. Internal to orchestrator/inventory.
#include <cstdint>
#include <string>
#include <vector>

#include "orchestrator/base/status.h"

namespace rift::inventory::internal {

struct Observed {
  std::string path;  // relative, normalised
  uint64_t size = 0;
  int64_t mtime_ns = 0;
};

struct WalkResult {
  std::vector<Observed> files;
  // Relative directory prefixes ("a/b/") that could not be read: files recorded under them are
  // not tombstoned, since we do not know that they vanished.
  std::vector<std::string> unreadable;
  uint64_t skipped_names = 0;  // names ConfinePath would refuse (never offered to peers)
};

// Lists regular files under `root`: skips dot-files and dot-directories, `*.part`, symlinks
// (files and directories alike) and names with characters a request could not name. kNotFound
// if `root` itself cannot be opened (an unmounted volume must not read as "everything gone").
Result<WalkResult> WalkTree(const std::string& root);

// True if Scan would index `rel` by name (not a dot-file, not `*.part`, no refused characters).
bool IndexableName(const std::string& rel);

}  // namespace rift::inventory::internal
