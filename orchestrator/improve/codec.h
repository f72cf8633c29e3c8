#pragma once
// JSON form of the loop state (what is stored in SQLite, replicated to the voters and shown by
// GET /improvement/status). nlohmann stays in codec.cc.
#include <string>

#include "orchestrator/base/status.h"
#include "orchestrator/improve/loop.h"

namespace rift::improve {

std::string EncodeState(const LoopState& state);
// kInvalidArgument naming the field that is missing or of the wrong type.
Result<LoopState> DecodeState(const std::string& json);

}  // namespace rift::improve
