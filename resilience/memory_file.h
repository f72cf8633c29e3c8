#pragma once
// The policy's memory on disk (<RINGRIFT_DIR>/state/resilience.json): restarts within the budget
// window, backoff, disconnection and fallback state, last cleanup and registration. Written
// atomically (temp file + rename) after every pass.
#include <string>

#include "orchestrator/base/status.h"
#include "resilience/policy.h"

namespace rift::resilience {

// kNotFound when there is no file yet; kInvalidArgument (naming the file) when it is not ours.
Result<PolicyMemory> LoadMemory(const std::string& path);
Status SaveMemory(const std::string& path, const PolicyMemory& memory);

}  // namespace rift::resilience
