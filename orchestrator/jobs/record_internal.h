#pragma once
// JSON of a job record (API shape, and the stored shape with the bookkeeping). Not public.
#include <nlohmann/json.hpp>

#include "orchestrator/jobs/manager.h"

namespace rift::jobs::internal {

// The API's job object; with `stored`, also job_dir, identities and the timeout.
nlohmann::json RecordJson(const JobRecord& r, bool stored = false);
JobRecord RecordFromJson(const nlohmann::json& j);

}  // namespace rift::jobs::internal
