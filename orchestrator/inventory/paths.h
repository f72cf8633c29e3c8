#pragma once
// Confinement of request paths to the data root. Every path that comes from a request (file
// serving, pulls, deletions) goes through here.
#include <string>

#include "orchestrator/base/status.h"

namespace rift::inventory {

// Normalises a relative path from a request and checks it stays inside the data root:
// refuses (kInvalidArgument, naming the problem) empty paths, absolute paths, '..' components,
// backslashes, NUL and control characters, '%' (a second, encoded layer such as %2e%2e),
// and (kPermissionDenied) any existing component that is a symlink resolving outside the root.
// Returns the normalised relative path ("a/b.jsonl"). Symlinks that stay inside the root are
// accepted here (OpenBeneath still refuses them). kFailedPrecondition if the root is missing.
Result<std::string> ConfinePath(const std::string& data_root, const std::string& requested);

// Opens `rel` (already confined) for reading without following symlinks out of the root
// (openat2 RESOLVE_BENEATH where available, else a component-wise O_NOFOLLOW walk).
// Returns an fd the caller closes; kNotFound if absent. Every symlink on the way is refused
// (kPermissionDenied), even one that stays inside: the inventory never indexes symlinks, so no
// served file needs one. Only regular files open (kInvalidArgument otherwise; a FIFO never
// blocks).
Result<int> OpenBeneath(const std::string& data_root, const std::string& rel);

}  // namespace rift::inventory
