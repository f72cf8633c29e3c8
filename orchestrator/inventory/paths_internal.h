#pragma once
// Pieces of paths.cc shared with the inventory and exposed for tests. Not a public contract.
#include <string>

#include "orchestrator/base/status.h"

namespace rift::inventory::internal {

// The lexical half of ConfinePath: no filesystem access. Returns the normalised relative path
// or kInvalidArgument naming the problem.
Result<std::string> NormaliseRelative(const std::string& requested);

// The fallback of OpenBeneath (component-wise openat with O_NOFOLLOW), callable directly so
// tests cover it on kernels that have openat2.
Result<int> OpenBeneathWalk(const std::string& data_root, const std::string& rel);

}  // namespace rift::inventory::internal
